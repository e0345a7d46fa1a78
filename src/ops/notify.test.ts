/**
 * Notifications against a real HTTP receiver on 127.0.0.1 that plays healthchecks, webhook and ntfy
 * servers, plus misbehaving ones (500 then 200, stalled, down).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpsConfigSchema, type NotifyTarget } from '../config/ops-schema.js';
import { Notifier, type NotifyInfo } from './notify.js';
import { Redactor } from './redact.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

const SECRET = 'Repo-Pa55word-XYZ';
const NTFY_TOKEN = 'tk_ntfy_0123456789abcdef';
const HC_UUID = '5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278';
const RUN_ID = '0b7a9c3e-8d7f-4b61-9f3c-2f1e5d6a7b8c';

let server: Server;
let base: string;
let received: Received[] = [];
const hits = new Map<string, number>();
let tmp: string;
let downPort: number;
/** Sockets of requests the receiver never answers; destroyed after each test. */
const stalled = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      if (path.startsWith('/stall')) return void stalled.add(req.socket); // never answers
      if (path.startsWith('/flaky')) return void res.writeHead(n === 1 ? 500 : 200).end(n === 1 ? 'boom' : 'OK');
      if (path.startsWith('/always500')) return void res.writeHead(500).end(`internal error mentioning ${SECRET}`);
      if (path.startsWith('/gone')) return void res.writeHead(404).end('not found');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: bind, note it, close.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  downPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  tmp = await mkdtemp(join(tmpdir(), 'owb-notify-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  received = [];
  hits.clear();
});
afterEach(() => {
  // Only the stalled sockets: closing idle keep-alive ones would make the next test's first attempt fail.
  for (const s of stalled) s.destroy();
  stalled.clear();
});

/** Targets as the config would produce them (defaults applied by the real schema). */
function targets(raw: unknown[]): NotifyTarget[] {
  return OpsConfigSchema.parse({ notify: raw }).notify;
}

function info(extra: Partial<NotifyInfo> = {}): NotifyInfo {
  return {
    job: 'backup',
    host: 'nas1',
    summary: `backup of openwebui: 12 MiB added (repo s3:https://AKIA:${SECRET}@s3.example/b)`,
    details: { snapshot_id: '1a2b3c4d', bytes_added: 12582912, repo_password: SECRET, note: `pw was ${SECRET}` },
    durationS: 42.5,
    runId: RUN_ID,
    time: new Date('2026-11-26T09:15:02.120Z'),
    ...extra,
  };
}

/** Everything a receiver saw, as one string, for "never appears" checks. */
function everything(): string {
  return JSON.stringify(received);
}

describe('healthchecks', () => {
  it('pings /start, the bare URL and /fail with rid, POSTing the redacted summary', async () => {
    const n = new Notifier(targets([{ type: 'healthchecks', url: `${base}/hc/${HC_UUID}` }]), { redactor: new Redactor([SECRET]) });
    expect(await n.send('start', info({ summary: 'backup starting' }))).toEqual([]);
    expect(await n.send('success', info())).toEqual([]);
    expect(await n.send('failure', info({ summary: 'backup failed', error: new Error(`upload failed: ${SECRET}\nstack…`) }))).toEqual([]);
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual([
      `POST /hc/${HC_UUID}/start?rid=${RUN_ID}`,
      `POST /hc/${HC_UUID}?rid=${RUN_ID}`,
      `POST /hc/${HC_UUID}/fail?rid=${RUN_ID}`,
    ]);
    expect(received.map((r) => r.body)).toEqual([
      'backup starting',
      'backup of openwebui: 12 MiB added (repo s3:https://AKIA:***@s3.example/b)',
      'backup failed\nerror: upload failed: ***',
    ]);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.headers['user-agent']).toMatch(/^owb\//);
    }
    expect(everything()).not.toContain(SECRET);
  });

  it('leaves rid off when the run id is not a UUID, and honours `on`', async () => {
    const n = new Notifier(targets([{ type: 'healthchecks', url: `${base}/hc/${HC_UUID}/`, on: ['failure'] }]), { redactor: new Redactor() });
    expect(n.wants('start')).toBe(false);
    expect(await n.send('start', info())).toEqual([]);
    expect(await n.send('success', info())).toEqual([]);
    expect(await n.send('failure', info({ runId: 'not-a-uuid' }))).toEqual([]);
    expect(received.map((r) => r.url)).toEqual([`/hc/${HC_UUID}/fail`]);
  });
});

describe('webhook', () => {
  it('POSTs the JSON document with custom headers, redacted, on failure only by default', async () => {
    const redactor = new Redactor([SECRET]);
    const n = new Notifier(targets([{ type: 'webhook', url: `${base}/hook`, headers: { 'X-Hook-Token': 'hook-token-777' } }]), { redactor });
    expect(await n.send('start', info())).toEqual([]);
    expect(await n.send('success', info())).toEqual([]);
    expect(received).toEqual([]);
    expect(await n.send('failure', info({ error: new Error(`disk full; AWS_SECRET_ACCESS_KEY=${SECRET}`) }))).toEqual([]);
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/hook');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-hook-token']).toBe('hook-token-777');
    expect(JSON.parse(r.body)).toEqual({
      event: 'failure',
      job: 'backup',
      host: 'nas1',
      summary: 'backup of openwebui: 12 MiB added (repo s3:https://AKIA:***@s3.example/b)',
      details: { snapshot_id: '1a2b3c4d', bytes_added: 12582912, repo_password: '***', note: 'pw was ***' },
      time: '2026-11-26T09:15:02.120Z',
      duration_s: 42.5,
      run_id: RUN_ID,
      error: 'disk full; AWS_SECRET_ACCESS_KEY=***',
    });
    expect(everything()).not.toContain(SECRET);
    // The target's own header value is now a known secret for logs too.
    expect(redactor.redact('header hook-token-777')).toBe('header ***');
  });

  it('sends URL credentials as Basic auth, never in the URL or a warning', async () => {
    const n = new Notifier(targets([{ type: 'webhook', url: `http://owb:${SECRET}@127.0.0.1:${new URL(base).port}/hook`, on: ['success'] }]), {
      redactor: new Redactor(),
    });
    expect(await n.send('success', info({ summary: 'ok', details: {} }))).toEqual([]);
    expect(received[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`owb:${SECRET}`).toString('base64')}`);
    expect(received[0]!.url).toBe('/hook');
    const down = new Notifier(targets([{ type: 'webhook', url: `http://owb:${SECRET}@127.0.0.1:${downPort}/hook` }]), {
      redactor: new Redactor(),
      backoffMs: 10,
    });
    const warnings = await down.send('failure', info({ summary: 'x', details: {} }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain(SECRET);
  });
});

describe('ntfy', () => {
  it('POSTs to <server>/<topic> with Title, Priority, Tags and the bearer token from token_file', async () => {
    const tokenFile = join(tmp, 'ntfy-token');
    await writeFile(tokenFile, `${NTFY_TOKEN}\n`);
    const n = new Notifier(
      targets([{ type: 'ntfy', url: `${base}/`, topic: 'owb-alerts', token_file: tokenFile, priority: 'low', on: ['success', 'failure'] }]),
      { redactor: new Redactor([SECRET]) },
    );
    expect(await n.send('failure', info({ summary: 'backup failed', error: `lock held; password=${SECRET}` }))).toEqual([]);
    expect(await n.send('success', info({ summary: 'backup ok', host: 'nås-1' }))).toEqual([]);
    const [fail, ok] = received;
    expect(fail!.method).toBe('POST');
    expect(fail!.url).toBe('/owb-alerts');
    expect(fail!.headers.title).toBe('owb backup FAILED on nas1');
    expect(fail!.headers.priority).toBe('high');
    expect(fail!.headers.tags).toBe('rotating_light,owb');
    expect(fail!.headers.authorization).toBe(`Bearer ${NTFY_TOKEN}`);
    expect(fail!.body).toBe('backup failed\nerror: lock held; password=***');
    expect(ok!.headers.priority).toBe('low');
    expect(ok!.headers.tags).toBe('white_check_mark,owb');
    // Non-ASCII titles travel RFC 2047-encoded (HTTP headers are Latin-1 only); ntfy decodes them.
    const m = /^=\?UTF-8\?B\?(.+)\?=$/.exec(String(ok!.headers.title));
    expect(Buffer.from(m![1]!, 'base64').toString('utf8')).toBe('owb backup succeeded on nås-1');
    expect(everything()).not.toContain(SECRET);
  });

  it('escalates a configured "urgent" for failures and never lowers it', async () => {
    const n = new Notifier(targets([{ type: 'ntfy', url: base, topic: 't1', priority: 5 }]), { redactor: new Redactor() });
    expect(await n.send('failure', info())).toEqual([]);
    expect(received[0]!.headers.priority).toBe('urgent');
    expect(received[0]!.headers.authorization).toBeUndefined();
  });

  it('warns about an unreadable token_file without sending or throwing', async () => {
    const n = new Notifier(targets([{ type: 'ntfy', url: base, topic: 'secret-topic-name', token_file: join(tmp, 'missing') }]), { redactor: new Redactor() });
    const warnings = await n.send('failure', info());
    expect(warnings).toEqual([`notify ntfy ${base}: cannot read token_file ${join(tmp, 'missing')} (ENOENT)`]);
    expect(received).toEqual([]);
  });
});

describe('delivery problems never fail or block the job', () => {
  it('retries after a 500 and succeeds on the second attempt', async () => {
    const n = new Notifier(targets([{ type: 'webhook', url: `${base}/flaky` }]), { redactor: new Redactor(), backoffMs: 150 });
    expect(await n.send('failure', info())).toEqual([]);
    expect(received).toHaveLength(2);
    expect(received[0]!.body).toBe(received[1]!.body);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(140);
  });

  it('gives up after 3 attempts on persistent 5xx, and does not retry a 4xx', async () => {
    const n = new Notifier(
      targets([
        { type: 'webhook', url: `${base}/always500` },
        { type: 'healthchecks', url: `${base}/gone/${HC_UUID}` },
      ]),
      { redactor: new Redactor([SECRET]), backoffMs: 20 },
    );
    const warnings = await n.send('failure', info());
    expect(warnings).toEqual([`notify webhook ${base}: HTTP 500 (3 attempts)`, `notify healthchecks ${base}: HTTP 404 (1 attempt)`]);
    expect(hits.get('/always500')).toBe(3);
    expect(hits.get(`/gone/${HC_UUID}/fail`)).toBe(1);
    // Ping paths (the check's UUID) stay out of warnings.
    expect(warnings.join('\n')).not.toContain(HC_UUID);
  });

  it('times out a stalled receiver within the budget, without delaying the other targets', async () => {
    const n = new Notifier(
      targets([
        { type: 'webhook', url: `${base}/stall` },
        { type: 'healthchecks', url: `${base}/hc/${HC_UUID}` },
      ]),
      { redactor: new Redactor(), timeoutMs: 800, backoffMs: 50 },
    );
    const t0 = Date.now();
    const warnings = await n.send('failure', info());
    const elapsed = Date.now() - t0;
    expect(warnings).toEqual([`notify webhook ${base}: timed out after 0.8 s (1 attempt)`]);
    expect(elapsed).toBeGreaterThanOrEqual(750);
    expect(elapsed).toBeLessThan(2000);
    const hc = received.find((r) => r.url.startsWith('/hc/'))!;
    expect(hc.at - t0).toBeLessThan(700);
  });

  it('reports a receiver that is down as a warning, after retrying, without throwing', async () => {
    const n = new Notifier(targets([{ type: 'ntfy', url: `http://127.0.0.1:${downPort}`, topic: 'secret-topic-name' }]), {
      redactor: new Redactor(),
      backoffMs: 10,
    });
    const t0 = Date.now();
    const warnings = await n.send('failure', info());
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(warnings).toEqual([`notify ntfy http://127.0.0.1:${downPort}: connection failed (ECONNREFUSED) (3 attempts)`]);
    expect(warnings[0]).not.toContain('secret-topic-name');
  });

  it('sends nothing and warns nothing when no target wants the event', async () => {
    const n = new Notifier(targets([{ type: 'ntfy', url: `http://127.0.0.1:${downPort}`, topic: 't' }]), { redactor: new Redactor() });
    expect(n.wants('success')).toBe(false);
    expect(await n.send('success', info())).toEqual([]);
  });
});

describe('all targets at once', () => {
  it('fans out one event to every target and leaks the secret nowhere', async () => {
    const tokenFile = join(tmp, 'tok2');
    await writeFile(tokenFile, NTFY_TOKEN);
    const redactor = new Redactor([SECRET]);
    const n = new Notifier(
      targets([
        { type: 'healthchecks', url: `${base}/hc/${HC_UUID}` },
        { type: 'webhook', url: `${base}/hook` },
        { type: 'ntfy', url: base, topic: 'owb', token_file: tokenFile },
        { type: 'webhook', url: `${base}/always500` },
      ]),
      { redactor, backoffMs: 10 },
    );
    const warnings = await n.send('failure', info({ error: new Error(`oops ${SECRET}`), summary: `failed for ${SECRET}` }));
    expect(warnings).toEqual([`notify webhook ${base}: HTTP 500 (3 attempts)`]);
    expect(received.map((r) => r.url.split('?')[0]).sort()).toEqual(['/always500', '/always500', '/always500', `/hc/${HC_UUID}/fail`, '/hook', '/owb'].sort());
    expect(everything()).not.toContain(SECRET);
    expect(warnings.join('\n')).not.toContain(SECRET);
    // The ntfy token is sent only as the ntfy Authorization header.
    const withToken = received.filter((r) => JSON.stringify(r).includes(NTFY_TOKEN));
    expect(withToken.map((r) => r.url)).toEqual(['/owb']);
    expect(redactor.redact(`token ${NTFY_TOKEN}`)).toBe('token ***');
  });
});
