import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, OwbError } from '../../src/errors.js';
import type { Backend, FileInfo, FileType, Handle } from '../../src/storage/backend.js';
import { MemoryBackend } from '../../src/storage/memory.js';
import { BackendTimeoutError, describeRetry, RetriesExhaustedError, withRetry, type RetryInfo } from '../../src/storage/retry.js';
import { isTransient } from '../../src/storage/transient.js';
import { randomName, runBackendConformance } from './conformance.js';

type Method = 'create' | 'save' | 'load' | 'openReadStream' | 'stat' | 'exists' | 'remove' | 'list';

/** One planned misbehaviour of the next call of a method. */
type Fault =
  /** Fail with `error`; with `after`, run the real call first (the request landed, the answer was lost). */
  | { error: unknown; after?: boolean }
  /** Hang for `ms` before doing the real call (a stalled connection). */
  | { stallMs: number };

/** A network-like failure, as Node raises it. */
function reset(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/**
 * A Backend that forwards to a MemoryBackend but misbehaves on command: each planned fault applies to the next
 * call of its method. It counts calls, so tests can tell how often the retry wrapper really tried.
 */
class FaultyBackend implements Backend {
  readonly location = 'faulty:memory';
  readonly properties = { connections: 4, hasAtomicReplace: true };
  readonly calls: Record<Method, number> = { create: 0, save: 0, load: 0, openReadStream: 0, stat: 0, exists: 0, remove: 0, list: 0 };
  private readonly plans = new Map<Method, Fault[]>();

  constructor(readonly inner: MemoryBackend = new MemoryBackend('faulty')) {}

  /** Queues faults for the next calls of `method`. */
  plan(method: Method, ...faults: Fault[]): this {
    this.plans.set(method, [...(this.plans.get(method) ?? []), ...faults]);
    return this;
  }

  private async call<T>(method: Method, real: () => Promise<T>): Promise<T> {
    this.calls[method]++;
    const fault = this.plans.get(method)?.shift();
    if (fault === undefined) return real();
    if ('stallMs' in fault) {
      await new Promise((r) => setTimeout(r, fault.stallMs));
      return real();
    }
    if (fault.after) await real();
    throw fault.error;
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

/** Tiny delays so the tests run in milliseconds. */
const FAST = { baseDelayMs: 1, maxDelayMs: 5, requestTimeoutMs: 5_000 };

/** What a promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

// The wrapper must not change the contract: the shared suite runs through it.
runBackendConformance('withRetry(MemoryBackend)', async () => ({
  backend: withRetry(new MemoryBackend('retry'), FAST),
  cleanup: async () => {},
}));

describe('isTransient', () => {
  it.each([
    ['ECONNRESET', Object.assign(new Error('x'), { code: 'ECONNRESET' })],
    ['EPIPE', Object.assign(new Error('x'), { code: 'EPIPE' })],
    ['ETIMEDOUT', Object.assign(new Error('x'), { code: 'ETIMEDOUT' })],
    ['ECONNREFUSED', Object.assign(new Error('x'), { code: 'ECONNREFUSED' })],
    ['socket hang up', new Error('socket hang up')],
    ['TimeoutError', Object.assign(new Error('slow'), { name: 'TimeoutError' })],
    ['HTTP 500', Object.assign(new Error('x'), { status: 500 })],
    ['HTTP 503 (SDK metadata)', Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } })],
    ['HTTP 429', Object.assign(new Error('x'), { statusCode: 429 })],
    ['SlowDown', Object.assign(new Error('x'), { code: 'SlowDown' })],
    ['a reset as the cause', new OwbError('upload failed', undefined, { cause: reset() })],
    ['a tag', Object.assign(new OwbError('x'), { transient: true })],
    ['a stall', new BackendTimeoutError('save x', 10)],
  ])('retries %s', (_label, err) => {
    expect(isTransient(err)).toBe(true);
  });

  it.each([
    ['NotFoundError', new NotFoundError('data/ab')],
    ['"already exists"', new OwbError('data/ab already exists; refusing to overwrite it')],
    ['AlreadyExistsError', new AlreadyExistsError('data/ab')],
    ['HTTP 403', Object.assign(new Error('x'), { status: 403 })],
    ['HTTP 404', Object.assign(new Error('x'), { $metadata: { httpStatusCode: 404 } })],
    ['HTTP 412', Object.assign(new Error('x'), { status: 412 })],
    ['a plain error', new TypeError('bad handle')],
    ['a tag that says no, over a 503', Object.assign(new Error('x'), { transient: false, status: 503 })],
    ['not an error', 'ECONNRESET'],
    ['undefined', undefined],
  ])('does not retry %s', (_label, err) => {
    expect(isTransient(err)).toBe(false);
  });
});

describe('describeRetry', () => {
  it('says what is retried, when, and why, in one line', () => {
    const error = new OwbError('S3 PUT data/ab/ab12cd34… failed: 503 SlowDown\n<Error><Code>SlowDown</Code></Error>');
    expect(describeRetry({ operation: 'save data/ab12cd34…', attempt: 2, maxAttempts: 6, delayMs: 1234, error })).toBe(
      'save data/ab12cd34…: attempt 2 of 6 failed, retrying in 1.2 s: S3 PUT data/ab/ab12cd34… failed: 503 SlowDown',
    );
    expect(describeRetry({ operation: 'list keys', attempt: 1, maxAttempts: 2, delayMs: 0, error: 'x'.repeat(1000) })).toHaveLength(
      'list keys: attempt 1 of 2 failed, retrying in 0.0 s: '.length + 300,
    );
  });
});

describe('withRetry', () => {
  const h: Handle = { type: 'data', name: randomName() };

  it('retries transient failures of every method until they pass', async () => {
    const f = new FaultyBackend();
    await f.inner.save(h, Buffer.from('stored'));
    const be = withRetry(f, FAST);
    const methods: [Method, () => Promise<unknown>][] = [
      ['create', () => be.create()],
      ['load', () => be.load(h, 1, 3)],
      ['openReadStream', () => be.openReadStream(h)],
      ['stat', () => be.stat(h)],
      ['exists', () => be.exists(h)],
      ['list', () => be.list('data')],
    ];
    for (const [m, run] of methods) {
      f.plan(m, { error: reset() }, { error: Object.assign(new Error('busy'), { status: 503 }) });
      await run();
      expect(f.calls[m], m).toBe(3);
    }
    expect((await be.load(h, 1, 3)).toString()).toBe('tor');
    f.plan('save', { error: reset() });
    await be.save({ type: 'keys', name: 'k' }, Buffer.from('key'));
    expect(f.calls.save).toBe(2);
    expect((await f.inner.load({ type: 'keys', name: 'k' })).toString()).toBe('key');
  });

  it('backs off exponentially with full jitter, capped, and reports each retry', async () => {
    const f = new FaultyBackend().plan('stat', ...Array.from({ length: 5 }, () => ({ error: reset() })));
    await f.inner.save(h, Buffer.from('x'));
    const seen: RetryInfo[] = [];
    const be = withRetry(f, { baseDelayMs: 4, maxDelayMs: 10, random: () => 0.999, onRetry: (i) => seen.push(i), maxAttempts: 6 });
    await be.stat(h);
    // floor(0.999 × min(10, 4·2^(n-1))): 3, 7, 9, 9, 9.
    expect(seen.map((i) => i.delayMs)).toEqual([3, 7, 9, 9, 9]);
    expect(seen.map((i) => i.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.every((i) => i.maxAttempts === 6)).toBe(true);
    expect(seen[0]!.operation).toBe(`stat data/${h.name.slice(0, 8)}…`);
    const zero: RetryInfo[] = [];
    f.plan('stat', { error: reset() });
    await withRetry(f, { baseDelayMs: 1000, random: () => 0, onRetry: (i) => zero.push(i) }).stat(h);
    expect(zero.map((i) => i.delayMs)).toEqual([0]);
  });

  it('gives up after maxAttempts with the last error, in one line', async () => {
    const f = new FaultyBackend().plan('list', ...Array.from({ length: 10 }, (_, i) => ({ error: Object.assign(new OwbError(`S3 LIST data/ failed: 503 SlowDown #${i}`), { transient: true }) })));
    const err = await rejection(withRetry(f, { ...FAST, maxAttempts: 4 }).list('data'));
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect((err as Error).message).toBe('S3 LIST data/ failed: 503 SlowDown #3 (gave up after 4 attempts)');
    expect(f.calls.list).toBe(4);
  });

  it('never retries NotFoundError, "already exists" or other permanent failures', async () => {
    const f = new FaultyBackend();
    const be = withRetry(f, FAST);
    expect(await rejection(be.load({ type: 'index', name: randomName() }))).toBeInstanceOf(NotFoundError);
    expect(f.calls.load).toBe(1);
    await be.save(h, Buffer.from('one'));
    expect(String(await rejection(be.save(h, Buffer.from('one'))))).toMatch(/already exists/);
    expect(f.calls.save).toBe(2);
    f.plan('stat', { error: Object.assign(new OwbError('S3 HEAD config failed: 403 Forbidden'), { transient: false }) });
    expect(String(await rejection(be.stat(h)))).toMatch(/403 Forbidden/);
    expect(f.calls.stat).toBe(1);
  });

  it('treats "already exists" after a lost answer as success when the stored bytes are the same', async () => {
    const f = new FaultyBackend().plan('save', { error: reset(), after: true });
    const data = randomBytes(5000);
    const seen: RetryInfo[] = [];
    await withRetry(f, { ...FAST, onRetry: (i) => seen.push(i) }).save(h, data);
    expect(f.calls.save).toBe(2);
    expect(seen).toHaveLength(1);
    expect((await f.inner.load(h)).equals(data)).toBe(true);
  });

  it('checks for its own landed attempt only on AlreadyExistsError, not on another refusal', async () => {
    const forbidden = Object.assign(new OwbError('S3 PUT data/ab failed: 403 Forbidden'), { transient: false });
    const f = new FaultyBackend().plan('save', { error: reset(), after: true }, { error: forbidden });
    const data = randomBytes(100);
    expect(await rejection(withRetry(f, FAST).save(h, data))).toBe(forbidden);
    expect(f.calls.load).toBe(0);
    expect((await f.inner.load(h)).equals(data)).toBe(true);
  });

  it('still refuses when the object that turned up after a failed try holds other bytes', async () => {
    const f = new FaultyBackend();
    const theirs = randomBytes(100);
    // The first try fails without landing; meanwhile another writer stores different bytes under the name.
    f.plan('save', { error: reset() });
    const be = withRetry(f, { ...FAST, onRetry: () => void f.inner.save(h, theirs) });
    expect(String(await rejection(be.save(h, randomBytes(100))))).toMatch(/already exists/);
    expect((await f.inner.load(h)).equals(theirs)).toBe(true);
  });

  it('treats "not found" after a lost delete answer as done, but not on a first try', async () => {
    const f = new FaultyBackend();
    await f.inner.save(h, Buffer.from('x'));
    f.plan('remove', { error: reset(), after: true });
    const be = withRetry(f, FAST);
    await be.remove(h);
    expect(f.calls.remove).toBe(2);
    expect(await f.inner.exists(h)).toBe(false);
    expect(await rejection(be.remove(h))).toBeInstanceOf(NotFoundError);
  });

  it('abandons a stalled attempt after the request timeout and retries it', async () => {
    const f = new FaultyBackend().plan('save', { stallMs: 10_000 });
    const data = randomBytes(64);
    const seen: RetryInfo[] = [];
    const started = Date.now();
    await withRetry(f, { ...FAST, requestTimeoutMs: 100, minBytesPerSecond: 0, onRetry: (i) => seen.push(i) }).save(h, data);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.error).toBeInstanceOf(BackendTimeoutError);
    expect((await f.inner.load(h)).equals(data)).toBe(true);
  });

  it('gives up on a request that stalls every time, naming the timeout', async () => {
    const f = new FaultyBackend().plan('stat', ...Array.from({ length: 3 }, () => ({ stallMs: 5_000 })));
    const err = await rejection(withRetry(f, { ...FAST, maxAttempts: 3, requestTimeoutMs: 50 }).stat(h));
    expect((err as Error).message).toMatch(/^stat data\/[0-9a-f]{8}… timed out after 0\.1 s without finishing \(gave up after 3 attempts\)$/);
    expect(f.calls.stat).toBe(3);
  });

  it('grants large transfers extra time instead of calling them stalls', async () => {
    const f = new FaultyBackend().plan('save', { stallMs: 250 });
    const seen: RetryInfo[] = [];
    // 100 ms base + 1000 bytes at 2000 B/s = 600 ms: a 250 ms upload is slow, not stalled.
    await withRetry(f, { ...FAST, requestTimeoutMs: 100, minBytesPerSecond: 2000, onRetry: (i) => seen.push(i) }).save(h, randomBytes(1000));
    expect(seen).toEqual([]);
    expect(f.calls.save).toBe(1);
  });

  it('passes location and properties through', () => {
    const f = new FaultyBackend();
    const be = withRetry(f);
    expect(be.location).toBe('faulty:memory');
    expect(be.properties).toBe(f.properties);
  });
});
