import { DamagedRepoError, UsageError } from '../errors.js';
import type { Repository } from './repository.js';

/** Totals recorded in each snapshot. */
export interface SnapshotSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  data_added_packed: number;
  total_files_processed: number;
  total_bytes_processed: number;
  backup_start: string;
  backup_end: string;
}

/** Stored form of `snapshots/<id>`. */
export interface SnapshotJson {
  time: string;
  hostname: string;
  username: string;
  paths: string[];
  tags: string[];
  tree: string;
  parent?: string;
  program_version: string;
  summary?: SnapshotSummary;
  /** Open WebUI manifest, filled in by the Open WebUI capture. Opaque to the repository. */
  openwebui?: unknown;
}

/** A snapshot with its id. */
export interface Snapshot extends SnapshotJson {
  id: string;
}

/** Loads every snapshot, oldest first. */
export async function listSnapshots(repo: Repository): Promise<Snapshot[]> {
  const files = await repo.backend.list('snapshots');
  const out = await Promise.all(
    files.map(async (f) => ({ ...(await repo.loadJson<SnapshotJson>('snapshots', f.name)), id: f.name })),
  );
  for (const s of out) {
    if (typeof s.tree !== 'string' || typeof s.time !== 'string') {
      throw new DamagedRepoError(`snapshot ${s.id.slice(0, 8)} is malformed`);
    }
  }
  return out.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

/** Filters used by `latest` and parent selection. */
export interface SnapshotFilter {
  hostname?: string;
  paths?: string[];
  tags?: string[];
}

function matches(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.hostname !== undefined && s.hostname !== f.hostname) return false;
  if (f.paths && [...s.paths].sort().join('\0') !== [...f.paths].sort().join('\0')) return false;
  if (f.tags && !f.tags.every((t) => s.tags.includes(t))) return false;
  return true;
}

/** Resolves `latest` or a unique id prefix; throws a one-line error otherwise. */
export function findSnapshot(all: readonly Snapshot[], ref: string, filter: SnapshotFilter = {}): Snapshot {
  if (ref === 'latest') {
    const candidates = all.filter((s) => matches(s, filter));
    const last = candidates[candidates.length - 1];
    if (!last) throw new UsageError('no snapshot found (the repository has none matching)');
    return last;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) throw new UsageError(`"${ref}" is not a snapshot id (hex) or "latest"`);
  const hits = all.filter((s) => s.id.startsWith(ref));
  if (hits.length === 0) throw new UsageError(`no snapshot with id ${ref}`);
  if (hits.length > 1) throw new UsageError(`snapshot id ${ref} is ambiguous; give more digits`);
  return hits[0]!;
}
