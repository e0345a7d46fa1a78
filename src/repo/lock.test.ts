import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExitCode, NotFoundError, RepoLockedError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { MemoryBackend } from '../storage/memory.js';
import { gate, SpyBackend } from '../../test/support/backend-wrappers.js';
import { BlobCodec } from './codec.js';
import { sha256Hex } from './crypto.js';
import { isStale, listLocks, LOCK_REFRESH_MS, LOCK_STALE_MS, RepoLock, type LockJson } from './lock.js';

const MINUTE = 60_000;

function context(backend: Backend = new MemoryBackend('locks')): { backend: Backend; codec: BlobCodec } {
  return { backend, codec: new BlobCodec(randomBytes(32)) };
}

/** Stores a lock file as another process would have written it, through the same codec; returns its name. */
async function plantLock(ctx: { backend: Backend; codec: BlobCodec }, fields: Partial<LockJson>): Promise<string> {
  const json: LockJson = { time: new Date().toISOString(), exclusive: false, hostname: 'elsewhere.invalid', pid: 4242, ...fields };
  const bytes = ctx.codec.encodeJson(json);
  const name = sha256Hex(bytes);
  await ctx.backend.save({ type: 'locks', name }, bytes);
  return name;
}

async function lockNames(backend: Backend): Promise<string[]> {
  return (await backend.list('locks')).map((f) => f.name).sort();
}

/** The PID of a process that has exited and been reaped, so nothing answers to it on this host. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  return r.pid!;
}

const held: RepoLock[] = [];
async function acquire(ctx: { backend: Backend; codec: BlobCodec }, exclusive: boolean): Promise<RepoLock> {
  const lock = await RepoLock.acquire(ctx, exclusive);
  held.push(lock);
  return lock;
}
afterEach(async () => {
  vi.useRealTimers();
  for (const l of held.splice(0)) await l.release().catch(() => undefined);
});

describe('lock modes', () => {
  it('lets shared locks coexist, each with its own file', async () => {
    const ctx = context();
    await acquire(ctx, false);
    await acquire(ctx, false);
    await acquire(ctx, false);
    const locks = await listLocks(ctx);
    expect(locks).toHaveLength(3);
    for (const l of locks) expect(l).toMatchObject({ exclusive: false, hostname: hostname(), pid: process.pid, stale: false });
  });

  it.each([
    ['an exclusive', 'a shared', false, true],
    ['a shared', 'an exclusive', true, false],
    ['an exclusive', 'an exclusive', true, true],
  ])('refuses %s lock while %s lock is held', async (_wanted, _holding, first, second) => {
    const ctx = context();
    await acquire(ctx, first);
    const before = await lockNames(ctx.backend);
    const err = await RepoLock.acquire(ctx, second).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RepoLockedError);
    expect((err as RepoLockedError).exitCode).toBe(ExitCode.RepoLocked);
    // The message names the holder, so a user can tell whether it is gone.
    expect((err as Error).message).toContain(`${first ? 'exclusive' : 'shared'} lock held by PID ${process.pid} on ${hostname()}`);
    // The refused attempt leaves nothing behind.
    expect(await lockNames(ctx.backend)).toEqual(before);
  });

  it('lets a lock be taken again once the conflicting one is released', async () => {
    const ctx = context();
    const ex = await acquire(ctx, true);
    await expect(RepoLock.acquire(ctx, false)).rejects.toThrow(RepoLockedError);
    await ex.release();
    await acquire(ctx, false);
    expect(await lockNames(ctx.backend)).toHaveLength(1);
  });
});

describe('racing acquirers', () => {
  /**
   * Holds every acquirer's first listing of locks/ until `n` have listed, so all of them pass the first check
   * before any lock file exists: only the re-check after writing can settle the race.
   */
  function raceBackend(n: number): { backend: SpyBackend; passed: () => number } {
    const backend = new SpyBackend(new MemoryBackend('race'));
    const all = gate();
    let listed = 0;
    backend.after = async (call) => {
      if (call.method !== 'list' || listed >= n) return;
      if (++listed === n) all.open();
      await all.wait;
    };
    return { backend, passed: () => listed };
  }

  it.each([
    ['two exclusive', [true, true]],
    ['an exclusive and a shared', [true, false]],
    ['three exclusive', [true, true, true]],
  ])('lets at most one of %s locks win, and the losers remove their files', async (_name, modes) => {
    const { backend, passed } = raceBackend(modes.length);
    const codec = new BlobCodec(randomBytes(32));
    const results = await Promise.allSettled(modes.map((ex) => RepoLock.acquire({ backend, codec }, ex)));
    expect(passed()).toBe(modes.length);
    const won = results.filter((r): r is PromiseFulfilledResult<RepoLock> => r.status === 'fulfilled');
    held.push(...won.map((r) => r.value));
    expect(won.length).toBeLessThanOrEqual(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RepoLockedError);
    expect(await lockNames(backend)).toHaveLength(won.length);
  });

  it('lets racing shared locks all win', async () => {
    const { backend } = raceBackend(3);
    const codec = new BlobCodec(randomBytes(32));
    const locks = await Promise.all([0, 1, 2].map(() => RepoLock.acquire({ backend, codec }, false)));
    held.push(...locks);
    expect(await lockNames(backend)).toHaveLength(3);
  });
});

describe('stale locks', () => {
  it('ignores a lock older than LOCK_STALE_MS, and honours one just younger', async () => {
    const ctx = context();
    const old = await plantLock(ctx, { exclusive: true, time: new Date(Date.now() - LOCK_STALE_MS - MINUTE).toISOString() });
    await acquire(ctx, true);
    expect((await listLocks(ctx)).find((l) => l.id === old)?.stale).toBe(true);

    const ctx2 = context();
    const young = await plantLock(ctx2, { exclusive: true, time: new Date(Date.now() - LOCK_STALE_MS + MINUTE).toISOString() });
    await expect(RepoLock.acquire(ctx2, false)).rejects.toThrow(RepoLockedError);
    expect((await listLocks(ctx2)).find((l) => l.id === young)?.stale).toBe(false);
  });

  it('ignores a fresh lock of this host whose process is gone', async () => {
    const ctx = context();
    await plantLock(ctx, { exclusive: true, hostname: hostname(), pid: deadPid() });
    await acquire(ctx, true);
  });

  it('honours a fresh lock of this host whose process is alive', async () => {
    const ctx = context();
    await plantLock(ctx, { exclusive: true, hostname: hostname(), pid: process.pid });
    await expect(RepoLock.acquire(ctx, false)).rejects.toThrow(RepoLockedError);
    // PID 1 always exists; unless the tests run as root, signal 0 answers EPERM, which still means alive.
    expect(isStale({ time: new Date().toISOString(), exclusive: true, hostname: hostname(), pid: 1 })).toBe(false);
  });

  it('never calls a lock of another host stale by its PID', async () => {
    const ctx = context();
    const pid = deadPid();
    await plantLock(ctx, { exclusive: true, hostname: `not-${hostname()}`, pid });
    await expect(RepoLock.acquire(ctx, false)).rejects.toThrow(RepoLockedError);
    expect(isStale({ time: new Date().toISOString(), exclusive: true, hostname: `not-${hostname()}`, pid })).toBe(false);
  });

  it('takes the age from the time given to isStale', () => {
    const lock: LockJson = { time: '2025-03-01T04:00:00.000Z', exclusive: false, hostname: 'elsewhere.invalid', pid: 1 };
    const t = Date.parse(lock.time);
    expect(isStale(lock, t + LOCK_STALE_MS)).toBe(false);
    expect(isStale(lock, t + LOCK_STALE_MS + 1)).toBe(true);
  });
});

describe('unreadable and vanishing lock files', () => {
  it('treats a lock file that does not decrypt as a non-stale exclusive lock', async () => {
    const ctx = context();
    const junk = randomBytes(100);
    await ctx.backend.save({ type: 'locks', name: sha256Hex(junk) }, junk);
    // Sealed under another repository's key: authentic somewhere, unreadable here.
    await plantLock({ backend: ctx.backend, codec: new BlobCodec(randomBytes(32)) }, { exclusive: false });
    const locks = await listLocks(ctx);
    expect(locks).toHaveLength(2);
    for (const l of locks) expect(l).toMatchObject({ exclusive: true, stale: false });
    await expect(RepoLock.acquire(ctx, false)).rejects.toThrow(RepoLockedError);
    await expect(RepoLock.acquire(ctx, true)).rejects.toThrow(RepoLockedError);
  });

  it('ignores a lock file that is listed but gone when read', async () => {
    const backend = new SpyBackend(new MemoryBackend('vanish'));
    const ctx = context(backend);
    const name = await plantLock(ctx, { exclusive: true });
    // Its holder releases it between our listing and our read.
    backend.before = async (call) => {
      if (call.method === 'load' && call.handle?.name === name) await backend.inner.remove(call.handle);
    };
    expect(await listLocks(ctx)).toEqual([]);
    await acquire(ctx, true);
  });
});

describe('release and refresh', () => {
  it('removes its file on release, and a second release (or one after unlock) does nothing', async () => {
    const ctx = context();
    const lock = await RepoLock.acquire(ctx, true);
    expect(await lockNames(ctx.backend)).toHaveLength(1);
    await lock.release();
    expect(await lockNames(ctx.backend)).toEqual([]);
    await lock.release();

    const other = await RepoLock.acquire(ctx, false);
    const [name] = await lockNames(ctx.backend);
    await ctx.backend.remove({ type: 'locks', name: name! }); // `owb unlock --remove-all` meanwhile
    await expect(other.release()).resolves.toBeUndefined();
  });

  it('still reports a storage failure on release', async () => {
    const backend = new SpyBackend(new MemoryBackend('release'));
    const ctx = context(backend);
    const lock = await RepoLock.acquire(ctx, false);
    backend.before = (call) => {
      if (call.method === 'remove') throw new Error('storage unreachable');
    };
    await expect(lock.release()).rejects.toThrow('storage unreachable');
  });

  it('replaces the lock file on refresh: the old one is gone, a new one of the same mode is there', async () => {
    const ctx = context();
    const lock = await acquire(ctx, true);
    const [before] = await lockNames(ctx.backend);
    await lock.refresh();
    const after = await lockNames(ctx.backend);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    expect((await listLocks(ctx))[0]).toMatchObject({ id: after[0], exclusive: true, pid: process.pid, stale: false });
    // Release removes the current file, not the one it started with.
    await lock.release();
    expect(await lockNames(ctx.backend)).toEqual([]);
    // A released lock is not brought back by a late refresh.
    await lock.refresh();
    expect(await lockNames(ctx.backend)).toEqual([]);
  });

  it('refreshes itself every LOCK_REFRESH_MS while held, and stops once released', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const backend = new SpyBackend(new MemoryBackend('timer'));
    const ctx = context(backend);
    const lock = await acquire(ctx, false);
    const saves = (): number => backend.calls.save;
    expect(saves()).toBe(1);
    await vi.advanceTimersByTimeAsync(LOCK_REFRESH_MS - 1);
    expect(saves()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(saves()).toBe(2);
    await vi.advanceTimersByTimeAsync(LOCK_REFRESH_MS);
    expect(saves()).toBe(3);
    await new Promise((r) => setImmediate(r)); // let the last refresh remove the file it replaced
    expect(await lockNames(backend)).toHaveLength(1);
    await lock.release();
    await vi.advanceTimersByTimeAsync(3 * LOCK_REFRESH_MS);
    expect(saves()).toBe(3);
    expect(await lockNames(backend)).toEqual([]);
  });
});

describe('listLocks', () => {
  it('returns nothing for an empty repository and fails on a listing error', async () => {
    expect(await listLocks(context())).toEqual([]);
    const backend = new SpyBackend(new MemoryBackend('list'));
    backend.before = (call) => {
      if (call.method === 'list') throw new NotFoundError('locks');
    };
    // A listing that fails is not "no locks": acquiring must not go ahead blind.
    await expect(RepoLock.acquire(context(backend), true)).rejects.toThrow(NotFoundError);
  });
});
