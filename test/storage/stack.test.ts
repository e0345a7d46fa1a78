import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, OwbError } from '../../src/errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from '../../src/storage/backend.js';
import { withLimit } from '../../src/storage/limit.js';
import { LocalBackend } from '../../src/storage/local.js';
import { describeFailure, withLogging, type FailureInfo } from '../../src/storage/logging.js';
import { MemoryBackend } from '../../src/storage/memory.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { describeRetry, type RetryInfo } from '../../src/storage/retry.js';
import { stack, unwrap } from '../../src/storage/stack.js';
import { randomName, runBackendConformance } from './conformance.js';

/**
 * A MemoryBackend whose every call takes `delayMs` and which records how many calls overlap, so a test can see
 * what a wrapper lets through. `failNext` makes the next calls of a method fail with the given errors first.
 */
class SlowBackend implements Backend {
  readonly location = 'slow:memory';
  readonly properties: BackendProperties;
  readonly inner = new MemoryBackend('slow');
  active = 0;
  maxActive = 0;
  readonly failNext = new Map<string, unknown[]>();

  constructor(connections: number, private readonly delayMs = 15) {
    this.properties = { connections, hasAtomicReplace: true };
  }

  private async call<T>(method: string, real: () => Promise<T>): Promise<T> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      const err = this.failNext.get(method)?.shift();
      if (err !== undefined) throw err;
      return await real();
    } finally {
      this.active--;
    }
  }

  create(): Promise<void> {
    return this.call('create', () => this.inner.create());
  }
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.call('save', () => this.inner.save(h, data));
  }
  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    return this.call('load', () => this.inner.load(h, offset, length));
  }
  openReadStream(h: Handle): Promise<Readable> {
    return this.call('openReadStream', () => this.inner.openReadStream(h));
  }
  stat(h: Handle): Promise<FileInfo> {
    return this.call('stat', () => this.inner.stat(h));
  }
  exists(h: Handle): Promise<boolean> {
    return this.call('exists', () => this.inner.exists(h));
  }
  remove(h: Handle): Promise<void> {
    return this.call('remove', () => this.inner.remove(h));
  }
  list(type: FileType): Promise<FileInfo[]> {
    return this.call('list', () => this.inner.list(type));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A network-like failure, as Node raises it. */
function reset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/** Every kind of call at once through `be`, `n` of each, against objects stored in `slow` beforehand. */
async function mixedLoad(be: Backend, slow: SlowBackend, n: number): Promise<void> {
  const stored = Array.from({ length: n }, () => ({ type: 'data', name: randomName() }) as Handle);
  for (const h of stored) await slow.inner.save(h, randomBytes(100));
  await Promise.all([
    ...stored.map((h) => be.load(h, 0, 10)),
    ...stored.map((h) => be.stat(h)),
    ...stored.map((h) => be.exists(h)),
    ...Array.from({ length: n }, () => be.save({ type: 'snapshots', name: randomName() }, randomBytes(10))),
    be.list('data'),
  ]);
}

runBackendConformance('withLimit(MemoryBackend)', async () => ({ backend: withLimit(new MemoryBackend('limit')), cleanup: async () => {} }));

runBackendConformance('stack(MemoryBackend) with every wrapper', async () => ({
  backend: stack(new MemoryBackend('stack'), { retry: { baseDelayMs: 1 }, onFailure: () => undefined }),
  cleanup: async () => {},
}));

describe('withLimit', () => {
  it('lets no more calls overlap than the backend declares connections, and uses them all', async () => {
    const slow = new SlowBackend(3);
    await mixedLoad(withLimit(slow), slow, 8);
    expect(slow.maxActive).toBe(3);
  });

  it('overlaps calls freely without it (the fake can tell)', async () => {
    const slow = new SlowBackend(3);
    await mixedLoad(slow, slow, 8);
    expect(slow.maxActive).toBeGreaterThan(3);
  });

  it('frees the slot of a call that failed', async () => {
    const slow = new SlowBackend(1);
    const be = withLimit(slow);
    await expect(be.load({ type: 'keys', name: 'missing' })).rejects.toBeInstanceOf(NotFoundError);
    slow.failNext.set('list', [reset()]);
    await expect(be.list('keys')).rejects.toThrow(/ECONNRESET/);
    expect(await be.list('keys')).toEqual([]);
  });

  it('holds a slot for an open stream until the stream closes', async () => {
    const slow = new SlowBackend(1, 1);
    const be = withLimit(slow);
    const h: Handle = { type: 'data', name: randomName() };
    await slow.inner.save(h, randomBytes(1000));
    const stream = await be.openReadStream(h);
    let statted = false;
    const stat = be.stat(h).then(() => (statted = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(statted).toBe(false);
    for await (const _ of stream) {
      // Draining it to the end closes it.
    }
    await stat;
    expect(statted).toBe(true);
  });
});

describe('withLogging', () => {
  it('reports each failed call once with its operation, and rethrows the same error', async () => {
    const seen: FailureInfo[] = [];
    const slow = new SlowBackend(4, 1);
    const be = withLogging(slow, { onFailure: (f) => seen.push(f) });
    const boom = new OwbError('S3 PUT keys/k failed: 403 Forbidden');
    slow.failNext.set('save', [boom]);
    expect(await be.save({ type: 'keys', name: 'k' }, Buffer.from('x')).catch((e: unknown) => e)).toBe(boom);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.operation).toBe('save keys/k');
    expect(seen[0]!.error).toBe(boom);
    expect(describeFailure(seen[0]!)).toMatch(/^save keys\/k failed after \d+\.\d s: S3 PUT keys\/k failed: 403 Forbidden$/);
  });

  it('does not report NotFoundError, an answer the contract defines', async () => {
    const seen: FailureInfo[] = [];
    const be = withLogging(new MemoryBackend(), { onFailure: (f) => seen.push(f) });
    await expect(be.stat({ type: 'config', name: '' })).rejects.toBeInstanceOf(NotFoundError);
    expect(seen).toEqual([]);
  });

  it('keeps the storage error when the callback itself throws', async () => {
    const slow = new SlowBackend(4, 1);
    slow.failNext.set('list', [reset()]);
    const be = withLogging(slow, {
      onFailure: () => {
        throw new Error('logger broke');
      },
    });
    await expect(be.list('locks')).rejects.toThrow(/ECONNRESET/);
  });
});

describe('stack', () => {
  it('retries above the limit: a backoff holds no connection, and logging sees only the final failure', async () => {
    const slow = new SlowBackend(1, 5);
    const retries: RetryInfo[] = [];
    const failures: FailureInfo[] = [];
    const be = stack(slow, { retry: { baseDelayMs: 400, maxDelayMs: 400, random: () => 0.999, maxAttempts: 2, onRetry: (i) => retries.push(i) }, onFailure: (f) => failures.push(f) });
    slow.failNext.set('list', [reset(), reset()]);
    const order: string[] = [];
    const listed = be.list('data').catch(() => order.push('list failed'));
    await new Promise((r) => setTimeout(r, 50));
    // The list is sleeping in its backoff; with one connection, this stat can only run if the sleep holds none.
    await be.exists({ type: 'keys', name: 'k' }).then(() => order.push('exists'));
    await listed;
    expect(order).toEqual(['exists', 'list failed']);
    expect(slow.maxActive).toBe(1);
    expect(retries).toHaveLength(1);
    expect(describeRetry(retries[0]!)).toMatch(/^list data: attempt 1 of 2 failed, retrying in 0\.4 s: read ECONNRESET$/);
    expect(failures.map((f) => f.operation)).toEqual(['list data']);
    expect(String((failures[0]!.error as Error).message)).toMatch(/gave up after 2 attempts/);
  });

  it('without retries (the local disk), fails at once', async () => {
    const slow = new SlowBackend(2, 1);
    slow.failNext.set('stat', [reset()]);
    await expect(stack(slow, { retry: false }).stat({ type: 'keys', name: 'k' })).rejects.toThrow(/^read ECONNRESET$/);
  });
});

describe('openBackend stacks every scheme', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('limits a local repository to the one connection LocalBackend declares', async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-stack-'));
    const be = await openBackend(join(dir, 'repo'));
    const local = unwrap(be);
    expect(local).toBeInstanceOf(LocalBackend);
    expect(local.properties.connections).toBe(1);
    await be.create();
    const names = Array.from({ length: 6 }, () => randomName());
    for (const name of names) await be.save({ type: 'index', name }, Buffer.from(name));
    // Count overlapping stats at the bottom of the stack, under every wrapper.
    let active = 0;
    let maxActive = 0;
    const realStat = local.stat.bind(local);
    (local as { stat: Backend['stat'] }).stat = async (h) => {
      maxActive = Math.max(maxActive, ++active);
      try {
        await new Promise((r) => setTimeout(r, 10));
        return await realStat(h);
      } finally {
        active--;
      }
    };
    const infos = await Promise.all(names.map((name) => be.stat({ type: 'index', name })));
    expect(infos.map((i) => i.size)).toEqual(names.map(() => 64));
    expect(maxActive).toBe(1);
  });
});
