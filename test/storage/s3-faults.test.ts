/**
 * Fault injection against a REAL S3 server: Ceph RGW behind a real HTTP proxy (test/support/fault-proxy.ts)
 * that answers 500/503, resets connections mid-body, or stalls. First the backend and retry wrapper directly,
 * then whole backups with the built CLI, each followed by `check --read-data` on the result.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Backend, Handle } from '../../src/storage/backend.js';
import { withRetry, type RetryInfo } from '../../src/storage/retry.js';
import { S3Backend } from '../../src/storage/s3.js';
import type { S3Settings } from '../../src/storage/s3-settings.js';
import { cleanupTemp, collect, makeTemp, runCli, startCli, writePassword, writeRandomFile, type CliResult } from '../support/cli.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { service } from '../support/services.js';
import { randomName } from './conformance.js';

const rgw = service('s3');
const BUCKET = `owb-faults-${randomBytes(4).toString('hex')}`;
const CREDS = { accessKeyId: rgw.AWS_ACCESS_KEY_ID!, secretAccessKey: rgw.AWS_SECRET_ACCESS_KEY! };

/** Settings for a fresh prefix, reached through `endpoint` (the proxy, or RGW itself). */
function settings(endpoint: string, prefix = `p-${randomBytes(6).toString('hex')}`): S3Settings {
  if (!used.includes(prefix)) used.push(prefix);
  return { endpoint, region: rgw.S3_REGION!, bucket: BUCKET, prefix, credentials: CREDS };
}

/** Prefixes this file wrote to; RGW keeps everything in memory, so they are deleted at the end. */
const used: string[] = [];

afterAll(async () => {
  for (const prefix of used) {
    const be = new S3Backend(settings(rgw.S3_ENDPOINT!, prefix));
    try {
      await be.remove({ type: 'config', name: '' }).catch(() => undefined);
      for (const type of ['keys', 'data', 'index', 'snapshots', 'locks'] as const) {
        for (const f of await be.list(type)) await be.remove({ type, name: f.name });
      }
    } finally {
      await be.close();
    }
  }
});

/** Idle timeout of the library-level cases: short enough for quick stall tests, long enough for a busy RGW. */
const IDLE_MS = 3000;

/** PUTs of pack files. */
const packPut = (r: { method: string; url: string }): boolean => r.method === 'PUT' && r.url.includes('/data/');

describe('S3Backend + withRetry through a faulty proxy', () => {
  let proxy: FaultProxy;
  let be: Backend;
  let direct: S3Backend;
  let retries: RetryInfo[];

  beforeAll(async () => {
    proxy = await FaultProxy.start(rgw.S3_ENDPOINT!);
  });
  afterAll(async () => {
    await proxy.close();
  });

  beforeEach(async () => {
    retries = [];
    const s = settings(proxy.url);
    // One SDK attempt per request, a short idle timeout for stalls, and tiny backoffs: the test runs in seconds.
    be = withRetry(new S3Backend({ ...s, idleTimeoutMs: IDLE_MS }), { baseDelayMs: 5, maxDelayMs: 50, requestTimeoutMs: 10_000, onRetry: (i) => retries.push(i) });
    direct = new S3Backend(settings(rgw.S3_ENDPOINT!, s.prefix));
    proxy.clear();
    await be.create();
    proxy.resetStats();
  });
  afterEach(async () => {
    proxy.clear();
    await be.close();
    await direct.close();
  });

  it('rides out a storm of 500s, 503s and SlowDowns', async () => {
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(300_000);
    proxy.inject({ kind: ['status500', 'status503', 'slowdown'], count: 4 });
    await be.save(h, data);
    expect(proxy.faultCount).toBe(4);
    expect(retries).toHaveLength(4);
    expect(retries.map((r) => (r.error as Error).message).join('\n')).toMatch(/50[03] (InternalError|ServiceUnavailable|SlowDown)/);
    proxy.inject({ kind: 'status503', count: 3 });
    expect((await be.load(h, 10, 100)).equals(data.subarray(10, 110))).toBe(true);
    expect(await be.list('data')).toEqual([{ name: h.name, size: data.length }]);
    expect(proxy.faultCount).toBe(7);
  });

  it('retries an upload whose connection was reset halfway through the request body', async () => {
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(2 * 1024 * 1024);
    proxy.inject({ kind: 'reset-request', count: 2, match: packPut });
    await be.save(h, data);
    expect(proxy.stats.faults['reset-request']).toBe(2);
    expect(retries).toHaveLength(2);
    expect((await direct.load(h)).equals(data)).toBe(true);
  });

  it('accepts its own landed upload when the answer to the PUT was lost', async () => {
    const h: Handle = { type: 'snapshots', name: randomName() };
    const data = randomBytes(5000);
    proxy.inject({ kind: 'reset-response', count: 1, match: (r) => r.method === 'PUT' });
    await be.save(h, data);
    // The first PUT landed on RGW; the retry got 412 from the conditional put and found the same bytes.
    expect(proxy.stats.faults['reset-response']).toBe(1);
    expect(retries).toHaveLength(1);
    expect((await direct.load(h)).equals(data)).toBe(true);
    // The same lost answer with someone else's bytes in place is still a refusal.
    const other: Handle = { type: 'snapshots', name: randomName() };
    await direct.save(other, randomBytes(5000));
    proxy.inject({ kind: 'reset-request', count: 1, match: (r) => r.method === 'PUT' });
    await expect(be.save(other, randomBytes(5000))).rejects.toThrow(/already exists/);
  });

  it('retries a download cut off halfway through the response body', async () => {
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(3 * 1024 * 1024);
    await direct.save(h, data);
    proxy.inject({ kind: 'reset-response', count: 2, match: (r) => r.method === 'GET' });
    expect((await be.load(h)).equals(data)).toBe(true);
    expect(proxy.stats.faults['reset-response']).toBeGreaterThanOrEqual(2);
    expect(retries.length).toBe(2);
  });

  it('abandons stalled requests and retries them', async () => {
    const h: Handle = { type: 'index', name: randomName() };
    const data = randomBytes(100_000);
    proxy.inject({ kind: 'stall', count: 2, stallMs: 30_000 });
    const started = Date.now();
    await be.save(h, data);
    expect(proxy.stats.faults.stall).toBe(2);
    expect(retries).toHaveLength(2);
    expect(retries.map((r) => (r.error as Error).message).join('\n')).toMatch(/Timeout|timed out/);
    // Two idle timeouts, not the proxy's 30 s stalls.
    expect(Date.now() - started).toBeLessThan(2 * IDLE_MS + 8_000);
    expect((await direct.load(h)).equals(data)).toBe(true);
  });

  it('completes a multipart upload with resets and 503s among its parts', async () => {
    const mp = withRetry(new S3Backend({ ...settings(proxy.url), multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024, idleTimeoutMs: IDLE_MS }), {
      baseDelayMs: 5,
      maxDelayMs: 50,
      maxAttempts: 8,
    });
    try {
      await mp.create();
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(16 * 1024 * 1024);
      proxy.inject({ kind: ['reset-request', 'status503'], count: 2, match: (r) => r.method === 'PUT' && r.url.includes('partNumber') });
      await mp.save(h, data);
      expect(proxy.faultCount).toBe(2);
      expect((await mp.load(h)).equals(data)).toBe(true);
    } finally {
      await mp.close();
    }
  });

  it('gives up on a server that keeps failing, with one line naming the request and the cause', async () => {
    proxy.inject({ kind: 'status500', fraction: 1 });
    const err = await be.save({ type: 'locks', name: randomName() }, Buffer.from('x')).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^S3 PUT locks\/[0-9a-f]{8}… failed: 500 InternalError \(gave up after 6 attempts\)$/);
    expect(proxy.stats.faults.status500).toBe(6);
  });
});

// ─── The real CLI ───────────────────────────────────────────────────────────────────────────────────

describe('owb backup and check through a faulty proxy', () => {
  let proxy: FaultProxy;
  let dir: string;
  let data: string;
  let passwordFile: string;

  beforeAll(async () => {
    proxy = await FaultProxy.start(rgw.S3_ENDPOINT!);
    dir = await makeTemp('owb-s3faults-');
    passwordFile = await writePassword(dir, 'fault-tolerant password');
    // ~28 MiB: two packs of random data, compressible text, and a few hundred small files.
    data = join(dir, 'data');
    await mkdir(join(data, 'small'), { recursive: true });
    await writeRandomFile(join(data, 'random.bin'), 20 * 1024 * 1024, 'faults');
    const line = 'the quick brown fox jumps over the lazy dog, again and again and again\n';
    await writeFile(join(data, 'text.log'), line.repeat(Math.ceil((8 * 1024 * 1024) / line.length)));
    for (let i = 0; i < 300; i++) await writeFile(join(data, 'small', `f${i}.txt`), `small file ${i}\n${randomBytes(200).toString('hex')}\n`);
  });
  afterAll(async () => {
    await proxy.close();
    await cleanupTemp();
  });
  beforeEach(() => {
    proxy.clear();
    proxy.resetStats();
  });

  /** Environment of one run: credentials in env only (never argv), a 2 s stall timeout. */
  function env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
      AWS_DEFAULT_REGION: rgw.S3_REGION!,
      OWB_REQUEST_TIMEOUT: '2',
    };
  }

  /** Runs `owb --json <args>` against `repo` to completion. */
  function owb(args: string[], repo: string): Promise<CliResult> {
    return runCli(['--json', ...args], { repo, passwordFile, env: env(), timeoutMs: 300_000 });
  }

  /** A fresh repository (initialised without faults), reached through the proxy. */
  async function freshRepo(): Promise<string> {
    const prefix = `cli-${randomBytes(6).toString('hex')}`;
    used.push(prefix);
    const repo = `s3:${proxy.url}/${BUCKET}/${prefix}`;
    const r = await owb(['init'], repo);
    expect(r.code, r.stderr).toBe(0);
    return repo;
  }

  /** `check --read-data` without faults must pass. */
  async function expectCheckPasses(repo: string): Promise<CliResult> {
    proxy.clear();
    const r = await owb(['check', '--read-data'], repo);
    expect(r.code, r.stderr).toBe(0);
    expect((r.json as { ok?: boolean } | undefined)?.ok).toBe(true);
    return r;
  }

  it('completes a backup through 500/503 storms, then check --read-data passes', async () => {
    const repo = await freshRepo();
    // A storm: the next five requests all fail, as when a gateway restarts; backoff must outlast it.
    // (Counted, not timed: on a loaded machine owb may not have sent anything within a time window.)
    proxy.inject({ kind: ['status500', 'status503', 'slowdown'], count: 5 }, 7);
    const r = await owb(['backup', data], repo);
    expect(r.code, `${r.stderr}\n${proxy.stats.log.join('\n')}`).toBe(0);
    expect(proxy.faultCount).toBeGreaterThanOrEqual(3);
    expect(proxy.stats.log.some((l) => !l.includes('!'))).toBe(true);
    // Then scattered failures on a fifth of all requests, through a second backup and the check.
    proxy.inject({ kind: ['status500', 'status503', 'slowdown'], fraction: 0.2 }, 8);
    await writeFile(join(data, 'new.txt'), randomBytes(100_000).toString('base64'));
    const second = await owb(['backup', data], repo);
    expect(second.code, second.stderr).toBe(0);
    const readBack = await owb(['check', '--read-data'], repo);
    expect(readBack.code, readBack.stderr).toBe(0);
    expect((r.json as { snapshot_id?: string }).snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    await expectCheckPasses(repo);
  });

  it('completes a backup with connections reset mid-request and mid-response, and check --read-data passes', async () => {
    const repo = await freshRepo();
    proxy.inject({ kind: ['reset-request', 'reset-response'], fraction: 0.2 }, 11);
    const r = await owb(['backup', data], repo);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.stats.faults['reset-request']).toBeGreaterThan(0);
    expect(proxy.stats.faults['reset-response']).toBeGreaterThan(0);
    // Reads get cut off too: check --read-data must survive resets mid-download.
    proxy.inject({ kind: 'reset-response', fraction: 0.2, match: (q) => q.method === 'GET' }, 12);
    const checked = await owb(['check', '--read-data'], repo);
    expect(checked.code, checked.stderr).toBe(0);
    await expectCheckPasses(repo);
  });

  it('completes a backup through stalled requests, and check --read-data passes', async () => {
    const repo = await freshRepo();
    proxy.inject({ kind: 'stall', count: 3, stallMs: 30_000, match: (q) => q.method === 'PUT' || q.method === 'GET' });
    const started = Date.now();
    const r = await owb(['backup', data], repo);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.stats.faults.stall).toBeGreaterThanOrEqual(3);
    // Three 2 s stalls, not three 30 s ones.
    expect(Date.now() - started).toBeLessThan(25_000);
    await expectCheckPasses(repo);
  });

  it('fails with one clear line when the server never recovers, and the repository stays checkable', async () => {
    const repo = await freshRepo();
    proxy.inject({ kind: 'status503', fraction: 1, match: packPut });
    const r = await owb(['backup', data], repo);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('owb: '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^owb: S3 PUT data\/[0-9a-f]{2}\/[0-9a-f]{8}… failed: 503 ServiceUnavailable \(gave up after 6 attempts\)$/);
    expect(r.stderr).not.toContain(CREDS.secretAccessKey);
    expect(r.stderr).not.toMatch(/<Error>|<\?xml|\n\s+at /);
    await expectCheckPasses(repo);
  });

  it('with --verbose, shows each retry and the final failure as one warning line each, without credentials', async () => {
    const repo = await freshRepo();
    const gets = (q: { method: string }): boolean => q.method === 'GET';
    proxy.inject({ kind: 'status503', count: 1, match: gets });
    const quiet = await runCli(['snapshots'], { repo, passwordFile, env: env() });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(proxy.faultCount).toBe(1);
    expect(quiet.stderr).toBe('');

    proxy.clear();
    proxy.resetStats();
    proxy.inject({ kind: 'status503', count: 1, match: gets });
    const loud = await runCli(['-v', 'snapshots'], { repo, passwordFile, env: env() });
    expect(loud.code, loud.stderr).toBe(0);
    expect(proxy.faultCount).toBe(1);
    const retried = loud.stderr.split('\n').filter((l) => l !== '');
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatch(/^warning: (load config|list \w+): attempt 1 of 6 failed, retrying in \d+\.\d s: S3 (GET|LIST) \S+ failed: 503 ServiceUnavailable$/);

    // A server that never recovers: five retries, then the failure, each on one line, and the error itself.
    proxy.clear();
    proxy.inject({ kind: 'status503', fraction: 1, match: gets });
    const down = await runCli(['-v', 'snapshots'], { repo, passwordFile, env: env() });
    expect(down.code).toBe(1);
    const lines = down.stderr.split('\n').filter((l) => l !== '');
    expect(lines.filter((l) => /^warning: load config: attempt [1-5] of 6 failed, retrying in \d+\.\d s: S3 GET config failed: 503 ServiceUnavailable$/.test(l))).toHaveLength(5);
    expect(lines.filter((l) => /^warning: load config failed after \d+\.\d s: S3 GET config failed: 503 ServiceUnavailable \(gave up after 6 attempts\)$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('owb: '))).toEqual(['owb: S3 GET config failed: 503 ServiceUnavailable (gave up after 6 attempts)']);
    for (const r of [quiet, loud, down]) {
      expect(r.stderr).not.toContain(CREDS.secretAccessKey);
      expect(r.stderr).not.toContain(CREDS.accessKeyId);
    }
  });

  it('finishes a backup killed with SIGKILL when run again, and check --read-data passes', async () => {
    const repo = await freshRepo();
    const big = join(dir, 'big');
    await mkdir(big, { recursive: true });
    await writeRandomFile(join(big, 'a.bin'), 60 * 1024 * 1024, 'kill-a');
    await writeFile(join(big, 'b.txt'), 'not yet stored\n'.repeat(100_000));
    // Kill once two packs have gone up: mid-backup, with stored but unindexed packs left behind.
    const packsStored = () => proxy.stats.completed.filter((l) => /^PUT \S+\/data\/\S+ 200$/.test(l)).length;
    const proc = await startCli(['--json', 'backup', big], { repo, passwordFile, env: env() });
    const done = collect(proc, 120_000);
    const deadline = Date.now() + 60_000;
    while (packsStored() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    proc.kill('SIGKILL');
    const killed = await done;
    expect(killed.signal).toBe('SIGKILL');
    const look = new S3Backend(settings(rgw.S3_ENDPOINT!, repo.split(`/${BUCKET}/`)[1]!));
    try {
      expect((await look.list('data')).length).toBeGreaterThan(0);
      expect(await look.list('snapshots')).toEqual([]);
    } finally {
      await look.close();
    }
    const again = await owb(['backup', big], repo);
    expect(again.code, again.stderr).toBe(0);
    const checked = await expectCheckPasses(repo);
    // Packs the killed run stored but never indexed are worth a warning, never an error.
    expect((checked.json as { errors: string[] }).errors).toEqual([]);
  });

});
