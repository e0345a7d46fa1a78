import { lstat, mkdir, readdir } from 'node:fs/promises';
import { OwbError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { BlobWorkerPool } from '../repo/worker-pool.js';
import { Restorer } from '../restorer/restorer.js';
import { instrumentationPoint } from '../util/instrument.js';


/** What a restore run is asked to do. */
export interface RestoreOptions {
  target: string;
  /** Glob patterns on snapshot paths; an entry is restored when it or an ancestor matches. Empty: everything. */
  include?: string[];
  /** Allow a non-empty target, replacing entries that the snapshot holds. */
  force?: boolean;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onProgress?: (p: RestoreProgress) => void;
}

/** Progress counters. */
export interface RestoreProgress {
  filesDone: number;
  bytesDone: number;
  totalBytes: number;
}

/** What a finished restore reports. */
export interface RestoreResult {
  filesRestored: number;
  dirsRestored: number;
  symlinksRestored: number;
  bytesRestored: number;
  errors: string[];
}

/** Thrown after a restore in which some entries failed; every good entry is in place. */
export class RestoreIncompleteError extends OwbError {
  constructor(readonly errors: string[]) {
    super(`restore incomplete: ${errors.length} entr${errors.length === 1 ? 'y' : 'ies'} failed (first: ${errors[0]})`);
  }
}


/**
 * Restores a snapshot under `target`. Every file is written to a temporary name, checked blob by blob
 * against its keyed id, and renamed into place only when complete, so a damaged repository never leaves
 * wrong bytes under a real name. Entries never reach outside the target: unsafe names are refused and
 * symlinks are created as links, never followed.
 */
export async function runRestore(repo: Repository, snap: Snapshot, opts: RestoreOptions): Promise<RestoreResult> {
  await prepareTarget(opts.target, opts.force ?? false);
  await repo.loadIndex();
  const pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
  const r = new Restorer(repo, pool, opts);
  try {
    await instrumentationPoint('restore.files');
    await r.restoreTree(snap.tree, opts.target, '', !opts.include?.length, async () => undefined);
    await r.finish();
  } finally {
    // No worker may still write into a descriptor that gets closed (and reused) meanwhile.
    await r.settle();
    await pool.close();
  }
  if (r.result.errors.length > 0) throw new RestoreIncompleteError(r.result.errors);
  return r.result;
}

async function prepareTarget(target: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await lstat(target);
    if (!st.isDirectory()) throw new OwbError(`restore target ${target} exists and is not a directory`);
    entries = await readdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (entries.length > 0 && !force) {
    throw new OwbError(`restore target ${target} is not empty; refusing to overwrite (use --force to restore into it)`);
  }
  await mkdir(target, { recursive: true, mode: 0o700 });
}
