import { hostname } from 'node:os';
import { isNotFound, LockLostError, RepoLockedError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { BlobCodec } from './codec.js';
import { sha256Hex } from './crypto.js';
import { checkObjectSize } from './limits.js';

/** A lock not refreshed for this long is stale and no longer blocks anyone. */
export const LOCK_STALE_MS = 30 * 60 * 1000;
/** How often a held lock is refreshed; well inside the stale age. */
export const LOCK_REFRESH_MS = 5 * 60 * 1000;
/**
 * A holder whose lock has not been rewritten for this long gives up (stops its job): well before others may
 * treat the lock as stale and, say, prune data the job relies on.
 */
export const LOCK_GIVE_UP_MS = LOCK_STALE_MS / 2;

/** Stored form of `locks/<id>`. */
export interface LockJson {
  time: string;
  exclusive: boolean;
  hostname: string;
  pid: number;
}

/** A lock file as seen by others. */
export interface LockInfo extends LockJson {
  id: string;
  stale: boolean;
}

interface LockContext {
  backend: Backend;
  codec: BlobCodec;
}

/** True when a lock can be ignored: too old, or held by a dead process on this host. */
export function isStale(lock: LockJson, now = Date.now()): boolean {
  if (now - Date.parse(lock.time) > LOCK_STALE_MS) return true;
  if (lock.hostname !== hostname()) return false;
  try {
    process.kill(lock.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Reads every lock file; unreadable ones are reported as non-stale exclusive locks so they block safely. */
export async function listLocks(ctx: LockContext): Promise<LockInfo[]> {
  const out: LockInfo[] = [];
  for (const f of await ctx.backend.list('locks')) {
    try {
      checkObjectSize('locks', `lock ${f.name.slice(0, 8)}`, f.size);
      const json = ctx.codec.decodeJson<LockJson>(await ctx.backend.load({ type: 'locks', name: f.name }), 'lock');
      out.push({ ...json, id: f.name, stale: isStale(json) });
    } catch (err) {
      if (isNotFound(err)) continue;
      out.push({ id: f.name, time: new Date(0).toISOString(), exclusive: true, hostname: '?', pid: 0, stale: false });
    }
  }
  return out;
}

/** A held repository lock. Shared locks coexist; an exclusive lock excludes all others. */
export class RepoLock {
  private id: string;
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private lastWritten = Date.now();
  /** Set once the lock is lost; every later verify() throws it. */
  lost: LockLostError | undefined;
  /** Told once when the lock is lost, so the holder can stop its job (the CLI aborts the run). */
  onLost: ((err: LockLostError) => void) | undefined;

  private constructor(
    private readonly ctx: LockContext,
    private readonly exclusive: boolean,
    id: string,
  ) {
    this.id = id;
  }

  /** Takes a lock, or throws RepoLockedError naming the holder. */
  static async acquire(ctx: LockContext, exclusive: boolean): Promise<RepoLock> {
    await assertNoConflict(ctx, exclusive, undefined);
    const id = await writeLock(ctx, exclusive);
    const lock = new RepoLock(ctx, exclusive, id);
    try {
      // Two processes may have passed the first check at once; the re-check after writing settles it.
      await assertNoConflict(ctx, exclusive, id);
    } catch (err) {
      await lock.release();
      throw err;
    }
    lock.timer = setInterval(() => void lock.refresh().catch(() => undefined), LOCK_REFRESH_MS);
    lock.timer.unref();
    return lock;
  }

  /**
   * Replaces the lock file with a fresh one (files are write-once). A lock file that someone removed is lost, not
   * silently re-taken: whoever removed it may already act as if this run were gone. A refresh that keeps failing
   * loses the lock after LOCK_GIVE_UP_MS.
   */
  async refresh(): Promise<void> {
    if (this.released || this.lost) return;
    try {
      if (!(await this.ctx.backend.exists({ type: 'locks', name: this.id }))) {
        this.markLost('its lock file was removed by someone else (owb unlock --remove-all?)');
        return;
      }
      const old = this.id;
      this.id = await writeLock(this.ctx, this.exclusive);
      this.lastWritten = Date.now();
      await this.ctx.backend.remove({ type: 'locks', name: old }).catch(() => undefined);
    } catch (err) {
      if (Date.now() - this.lastWritten >= LOCK_GIVE_UP_MS) {
        this.markLost(`it could not be refreshed for ${Math.round((Date.now() - this.lastWritten) / 60_000)} min (${(err as Error).message})`);
      }
      throw err;
    }
  }

  /** Throws LockLostError unless this lock is still held and its file still exists. */
  async verify(): Promise<void> {
    if (!this.lost && !this.released && !(await this.ctx.backend.exists({ type: 'locks', name: this.id }))) {
      this.markLost('its lock file was removed by someone else (owb unlock --remove-all?)');
    }
    if (this.lost) throw this.lost;
  }

  private markLost(detail: string): void {
    if (this.lost) return;
    this.lost = new LockLostError(detail);
    this.onLost?.(this.lost);
  }

  /** Removes the lock file. Safe to call twice. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.ctx.backend.remove({ type: 'locks', name: this.id }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

async function writeLock(ctx: LockContext, exclusive: boolean): Promise<string> {
  const json: LockJson = { time: new Date().toISOString(), exclusive, hostname: hostname(), pid: process.pid };
  const bytes = ctx.codec.encodeJson(json);
  const id = sha256Hex(bytes);
  await ctx.backend.save({ type: 'locks', name: id }, bytes);
  return id;
}

async function assertNoConflict(ctx: LockContext, exclusive: boolean, ownId: string | undefined): Promise<void> {
  for (const other of await listLocks(ctx)) {
    if (other.id === ownId || other.stale) continue;
    if (exclusive || other.exclusive) {
      const kind = other.exclusive ? 'exclusive' : 'shared';
      throw new RepoLockedError(`${kind} lock held by PID ${other.pid} on ${other.hostname} since ${other.time}`);
    }
  }
}
