import { DamagedRepoError, isNotFound, UsageError } from '../errors.js';
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
  /** Set on copies (`owb copy`): the id of the snapshot in the repository it was copied from. */
  original?: string;
  program_version: string;
  summary?: SnapshotSummary;
  /** Open WebUI manifest, filled in by the Open WebUI capture. Opaque to the repository. */
  openwebui?: unknown;
}

/** A snapshot with its id. */
export interface Snapshot extends SnapshotJson {
  id: string;
}

/**
 * Loads every snapshot, oldest first. A damaged snapshot is reported through `onDamaged` and left out, so
 * one bad file cannot block restores of all the others; one deleted meanwhile is silently left out.
 */
export async function listSnapshots(repo: Repository, onDamaged?: (id: string, err: Error) => void): Promise<Snapshot[]> {
  const files = await repo.backend.list('snapshots');
  const loaded = await Promise.all(
    files.map(async (f): Promise<Snapshot | undefined> => {
      try {
        const s = { ...(await repo.loadJson<SnapshotJson>('snapshots', f.name, f.size)), id: f.name };
        validateSnapshot(s);
        return s;
      } catch (err) {
        if (!isNotFound(err)) onDamaged?.(f.name, err as Error);
        return undefined;
      }
    }),
  );
  const out = loaded.filter((s): s is Snapshot => s !== undefined);
  return out.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
}

function validateSnapshot(s: Snapshot): void {
  const ok =
    typeof s.tree === 'string' &&
    /^[0-9a-f]{64}$/.test(s.tree) &&
    typeof s.time === 'string' &&
    !Number.isNaN(Date.parse(s.time)) &&
    typeof s.hostname === 'string' &&
    Array.isArray(s.paths) &&
    s.paths.every((p) => typeof p === 'string') &&
    Array.isArray(s.tags) &&
    s.tags.every((t) => typeof t === 'string');
  if (!ok) throw new DamagedRepoError(`snapshot ${s.id.slice(0, 8)} is malformed`);
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

/** A snapshot file that could not be read or validated. */
export interface DamagedSnapshot {
  id: string;
  error: string;
}

/** Every snapshot, oldest first, and the snapshot files that are damaged (never silently left out). */
export async function loadSnapshots(repo: Repository): Promise<{ snapshots: Snapshot[]; damaged: DamagedSnapshot[] }> {
  const damaged: DamagedSnapshot[] = [];
  const snapshots = await listSnapshots(repo, (id, err) => damaged.push({ id, error: err.message }));
  return { snapshots, damaged: damaged.sort((a, b) => a.id.localeCompare(b.id)) };
}

/**
 * Resolves `latest` or an id prefix, refusing where damage could make the answer wrong: `latest` while any snapshot
 * is unreadable (the damaged one may be the newest), or an id that names a damaged snapshot. Other damaged
 * snapshots are reported through `onWarning`.
 */
export async function resolveSnapshot(repo: Repository, ref: string, opts: { filter?: SnapshotFilter; onWarning?: (m: string) => void } = {}): Promise<Snapshot> {
  const { snapshots, damaged } = await loadSnapshots(repo);
  const named = damaged.find((d) => ref !== 'latest' && d.id.startsWith(ref));
  if (named) throw new DamagedRepoError(`snapshot ${named.id.slice(0, 8)} is damaged: ${named.error}`);
  if (ref === 'latest' && damaged.length > 0) {
    throw new DamagedRepoError(
      `snapshot ${damaged.map((d) => d.id.slice(0, 8)).join(', ')} cannot be read (damaged), and may be the newest: refusing to pick "latest"; name a snapshot id (owb snapshots), and run owb check`,
    );
  }
  for (const d of damaged) opts.onWarning?.(`snapshot ${d.id.slice(0, 8)} cannot be read (damaged): ${d.error}`);
  return findSnapshot(snapshots, ref, opts.filter);
}
