import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Backend, Handle } from '../storage/backend.js';
import { LOCK_GIVE_UP_MS } from './lock.js';
import { DamagedRepoError, ExitCode, LockLostError } from '../errors.js';
import { MemoryBackend } from '../storage/memory.js';
import { Repository } from './repository.js';

/** A repository with one flushed data blob, reopened so that the blob counts as stored before this session. */
async function withStoredBlob(): Promise<{ backend: MemoryBackend; repo: Repository; id: string }> {
  const backend = new MemoryBackend('commit');
  const first = await Repository.init(backend, 'pw');
  const id = await first.saveBlob('data', Buffer.from('reused content'));
  await first.flush();
  const repo = await Repository.open(backend, 'pw');
  await repo.loadIndex();
  return { backend, repo, id };
}

describe('Repository.verifyBeforeCommit', () => {
  it('passes when the lock is held and the reused data is still there', async () => {
    const { repo, id } = await withStoredBlob();
    const lock = await repo.lock(false);
    expect(repo.claimBlob(id)).toBe(false); // reused, not written again
    await expect(repo.verifyBeforeCommit()).resolves.toBeUndefined();
    await lock.release();
  });

  it('refuses when a pack holding reused data was deleted meanwhile', async () => {
    const { backend, repo, id } = await withStoredBlob();
    expect(repo.hasBlob(id)).toBe(true);
    for (const p of await backend.list('data')) await backend.remove({ type: 'data', name: p.name });
    const err = await repo.verifyBeforeCommit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DamagedRepoError);
    expect((err as Error).message).toMatch(/deleted while it ran.*nothing was saved/);
  });

  it('does not count the packs this session wrote as reused', async () => {
    const backend = new MemoryBackend('own');
    const repo = await Repository.init(backend, 'pw');
    const id = await repo.saveBlob('data', Buffer.from('mine'));
    await repo.flush();
    expect(repo.hasBlob(id)).toBe(true);
    await expect(repo.verifyBeforeCommit()).resolves.toBeUndefined();
  });

  it('refuses with LockLostError (exit 11) when its lock file was removed, and tells the holder once', async () => {
    const { backend, repo } = await withStoredBlob();
    const lock = await repo.lock(false);
    const told: Error[] = [];
    lock.onLost = (e) => told.push(e);
    for (const l of await backend.list('locks')) await backend.remove({ type: 'locks', name: l.name });
    const err = await repo.verifyBeforeCommit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect((err as LockLostError).exitCode).toBe(ExitCode.RepoLocked);
    await expect(lock.refresh()).resolves.toBeUndefined(); // a lost lock is not silently re-taken
    expect(await backend.list('locks')).toEqual([]);
    expect(told).toHaveLength(1);
  });
});

describe('RepoLock refresh failures', () => {
  afterEach(() => vi.useRealTimers());

  it('give up the lock (and stop the holder) once it has not been rewritten for LOCK_GIVE_UP_MS', async () => {
    const inner = new MemoryBackend('flaky');
    let failSaves = false;
    const flaky: Backend = Object.assign(Object.create(inner) as Backend, {
      save: (h: Handle, d: Uint8Array) => (failSaves ? Promise.reject(new Error('network down')) : inner.save(h, d)),
    });
    const repo = await Repository.init(flaky, 'pw');
    const lock = await repo.lock(false);
    const told: Error[] = [];
    lock.onLost = (e) => told.push(e);
    failSaves = true;
    await expect(lock.refresh()).rejects.toThrow(/network down/);
    expect(lock.lost).toBeUndefined(); // one failed refresh is not yet a lost lock
    vi.setSystemTime(Date.now() + LOCK_GIVE_UP_MS + 1000);
    await expect(lock.refresh()).rejects.toThrow(/network down/);
    expect(lock.lost).toBeInstanceOf(LockLostError);
    expect(lock.lost!.message).toMatch(/could not be refreshed for 1[56] min/);
    expect(told).toHaveLength(1);
    await expect(lock.verify()).rejects.toBe(lock.lost);
  });
});
