import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { HealthTimeoutError, fetchVersion, findContainer, httpEndpointOf, waitHealthy } from '../../src/docker/index.js';
import { useStandinContainer } from '../support/standin-suite.js';
import { freePort } from './standin.js';

const { s, c } = useStandinContainer();
const servers: Server[] = [];

afterAll(() => {
  for (const srv of servers) srv.close();
});

/** A local HTTP server answering every request with `status` and `body`. */
async function fakeServer(status: number, body: string): Promise<number> {
  const srv = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as { port: number }).port;
}

describe('health', () => {
  it('finds the endpoint from the container (host network, env PORT) and waits until healthy', async () => {
    const info = await findContainer(s.client, c.id);
    const ep = httpEndpointOf(info);
    expect(ep).toEqual({ host: '127.0.0.1', port: c.port });
    // waitHealthy resolves only on a healthy answer (it throws on timeout); the endpoint it found serves the
    // stand-in's version.
    await expect(waitHealthy(ep, { timeoutMs: 60_000 })).resolves.toEqual(expect.any(Number));
    expect(await fetchVersion(ep)).toBe(s.env.STANDIN_VERSION_LATEST);
  });

  it('waits through a restart: healthy again once the stand-in answers', async () => {
    const info = await findContainer(s.client, c.id);
    await s.client.api.getContainer(c.id).restart({ t: 5 });
    await waitHealthy(httpEndpointOf(info), { timeoutMs: 20_000, intervalMs: 50 });
    const res = await fetch(`http://127.0.0.1:${c.port}/health`);
    expect(await res.json()).toEqual({ status: true });
  });

  it('times out on a port where nothing listens, after about the timeout', async () => {
    const port = await freePort();
    const t0 = performance.now();
    const err = await waitHealthy({ host: '127.0.0.1', port }, { timeoutMs: 800, intervalMs: 100 }).catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(HealthTimeoutError);
    expect((err as Error).message).toContain(`http://127.0.0.1:${port}/health`);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(took).toBeGreaterThanOrEqual(750);
    expect(took).toBeLessThan(3_000);
    expect(await fetchVersion({ host: '127.0.0.1', port }, 500)).toBeUndefined();
  });

  it('does not take a 503 or {"status": false} for healthy', async () => {
    const p503 = await fakeServer(503, '{"detail":"starting"}');
    await expect(waitHealthy({ host: '127.0.0.1', port: p503 }, { timeoutMs: 500 })).rejects.toThrow(/HTTP 503/);
    const pFalse = await fakeServer(200, '{"status": false}');
    await expect(waitHealthy({ host: '127.0.0.1', port: pFalse }, { timeoutMs: 500 })).rejects.toBeInstanceOf(HealthTimeoutError);
  });

  it('maps published ports and the PORT override', async () => {
    const info = await findContainer(s.client, c.id);
    const bridged = { ...info, networkMode: 'bridge', ports: [{ containerPort: c.port, hostIp: '0.0.0.0', hostPort: 3000 }] };
    expect(httpEndpointOf(bridged)).toEqual({ host: '127.0.0.1', port: 3000 });
    const noEnv = { ...info, env: {}, networkMode: 'bridge', ports: [], ipAddress: '172.17.0.2' };
    expect(httpEndpointOf(noEnv)).toEqual({ host: '172.17.0.2', port: 8080 });
    expect(httpEndpointOf(info, 9999)).toEqual({ host: '127.0.0.1', port: 9999 });
  });

  it('stops early when aborted', async () => {
    const port = await freePort();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled by test')), 200);
    await expect(waitHealthy({ host: '127.0.0.1', port }, { timeoutMs: 10_000, signal: ac.signal })).rejects.toThrow(
      'cancelled by test',
    );
  });
});
