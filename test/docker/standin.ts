/**
 * Test helpers for the Docker layer: the real test engine (scripts/services/docker.sh), the Open WebUI
 * stand-in images (scripts/services/openwebui-standin.sh) and stand-in containers with a free port and
 * their own named volume. Containers run with --network host: the test engine has no bridge.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { connectDocker, type DockerClient } from '../../src/docker/index.js';
import { service } from '../support/services.js';

/** Settings of the stand-in service (image names, versions, head revisions per tag) plus DOCKER_HOST. */
export interface Standin {
  readonly env: Record<string, string>;
  readonly client: DockerClient;
}

/** Starts the engine and builds the stand-in images (both idempotent), then connects. */
export async function standin(): Promise<Standin> {
  service('docker');
  const env = service('openwebui-standin');
  const client = await connectDocker({ host: env.DOCKER_HOST! });
  return { env, client };
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A running stand-in container. */
export interface StandinContainer {
  readonly id: string;
  readonly name: string;
  readonly port: number;
  readonly volume: string;
  /** Removes the container and the volume it created. */
  remove(): Promise<void>;
}

/** Options for {@link runStandin}. */
export interface RunOptions {
  image?: string;
  env?: Record<string, string>;
  /** Binds instead of a named volume: [hostPath, containerPath]. */
  bind?: [string, string];
  /** An existing named volume to use (and leave in place) instead of a fresh one. */
  volume?: string;
}

/** Creates and starts a stand-in container (host network, a fresh named volume at /app/backend/data). */
export async function runStandin(s: Standin, opts: RunOptions = {}): Promise<StandinContainer> {
  const api = s.client.api;
  const tag = randomBytes(4).toString('hex');
  const name = `owbtest-${tag}`;
  const volume = opts.volume ?? `owbtest-vol-${tag}`;
  const ownVolume = !opts.bind && opts.volume === undefined;
  const port = await freePort();
  const env = { PORT: String(port), ...opts.env };
  const binds = opts.bind ? [`${opts.bind[0]}:${opts.bind[1]}`] : [`${volume}:/app/backend/data`];
  if (ownVolume) await api.createVolume({ Name: volume });
  const c = await api.createContainer({
    name,
    Image: opts.image ?? s.env.STANDIN_IMAGE_LATEST!,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { 'owb.test': '1' },
    HostConfig: { NetworkMode: 'host', Binds: binds },
  });
  await c.start();
  await waitFor(async () => (await stats(port)) !== undefined, 15_000, `stand-in ${name} answering on ${port}`);
  return {
    id: c.id,
    name,
    port,
    volume,
    remove: async () => {
      await api.getContainer(c.id).remove({ force: true, v: true }).catch(() => undefined);
      if (ownVolume) await api.getVolume(volume).remove().catch(() => undefined);
    },
  };
}

/** The stand-in's counters, or undefined when it does not answer. */
export async function stats(port: number): Promise<{ chats: number; files: number } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/standin/stats`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? ((await res.json()) as { chats: number; files: number }) : undefined;
  } catch {
    return undefined;
  }
}

/** Polls `check` until it is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `docker <args>` with the test engine's DOCKER_HOST (an independent path to check our API calls). */
export function dockerCli(s: Standin, args: string[]): string {
  const r = spawnSync('docker', args, { env: { ...process.env, DOCKER_HOST: s.env.DOCKER_HOST }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
