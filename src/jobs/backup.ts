import { lstat } from 'node:fs/promises';
import { hostname as osHostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { listSnapshots, type Snapshot, type SnapshotJson, type SnapshotSummary } from '../repo/snapshot.js';
import type { TreeNode } from '../repo/tree.js';
import { BlobWorkerPool } from '../repo/worker-pool.js';
import { Archiver, type ArchiveCounters } from '../archiver/archiver.js';
import { archiveLayout, layoutOfPaths, type LayoutEntry } from '../archiver/layout.js';
import { scanTotal } from '../archiver/scan-total.js';
import { PROGRAM_VERSION } from '../version.js';
import { instrumentationPoint } from '../util/instrument.js';

/** What a backup run is asked to do. */
export interface BackupOptions {
  /** Paths recorded in the snapshot (and used to find its parent). Backed up as they are unless `layout` is given. */
  paths: string[];
  /** What goes where in the snapshot, when it is not simply `paths` (Open WebUI capture, dumps). */
  layout?: LayoutEntry[];
  tags?: string[];
  hostname?: string;
  /** A snapshot id to compare against, `false` to read everything, or undefined to pick the latest matching one. */
  parent?: string | false;
  exclude?: (absPath: string, isDir: boolean) => boolean;
  /**
   * Extra fields stored in the snapshot (the Open WebUI manifest). A function is awaited once the data is
   * archived, just before the snapshot is written: for facts gathered in the background meanwhile.
   */
  openwebui?: unknown;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onProgress?: (p: BackupProgress) => void;
}

/** Progress as reported to the CLI, which decides how (and whether) to draw it. */
export interface BackupProgress {
  counters: ArchiveCounters;
  currentPath: string;
  /**
   * Bytes under the backup paths: with a parent snapshot, its total (changes since are small, and a second walk
   * of the whole tree would cost as much as the backup's own); without one, known once a concurrent scan has
   * finished.
   */
  totalBytes?: number;
}

/** What a finished backup reports. */
export interface BackupResult {
  snapshotId: string;
  summary: SnapshotSummary;
  parent?: string;
  warnings: string[];
  /** Entries that could not be read; the snapshot holds everything else. Exit code 3 when > 0. */
  unreadable: number;
  durationS: number;
}

/**
 * Backs up `paths` into `repo` (which must be locked by the caller) and writes a snapshot. Unreadable
 * entries are warned about and counted in the result; the snapshot holds everything else.
 */
export async function runBackup(repo: Repository, opts: BackupOptions): Promise<BackupResult> {
  const started = new Date();
  if (opts.paths.length === 0) throw new UsageError('nothing to back up: give at least one path');
  const paths = [...new Set(opts.paths.map((p) => resolve(p)))].sort();
  const sources = opts.layout ? opts.layout.flatMap((e) => (e.source ? [e.source] : [])) : paths;
  for (const p of sources) {
    await lstat(p).catch(() => {
      throw new UsageError(`backup path does not exist: ${p}`);
    });
  }
  const host = opts.hostname ?? osHostname();
  await repo.loadIndex();
  const all = await listSnapshots(repo);
  const parent = pickParent(all, opts.parent, host, paths);
  const warnings: string[] = [];
  const scan: { totalBytes?: number } = {};
  const parentTotal = parent?.summary?.total_bytes_processed;
  if (typeof parentTotal === 'number') scan.totalBytes = parentTotal;
  else if (opts.onProgress) void scanTotal(sources, opts.exclude).then((n) => (scan.totalBytes = n), () => undefined);
  const pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
  const archiver = new Archiver(repo, {
    pool,
    signal: opts.signal,
    exclude: opts.exclude,
    onWarning: (m) => {
      warnings.push(m);
      opts.onWarning?.(m);
    },
    onProgress: (counters, currentPath) => opts.onProgress?.({ counters, currentPath, ...scan }),
  });
  try {
    const parentRoot = parent ? await archiver.loadTree(parent.tree) : undefined;
    const layout = opts.layout ?? layoutOfPaths(paths);
    const rootNodes = await archiveLayout(archiver, layout, parentRoot?.nodes ?? []);
    const nodes = (await Promise.all(rootNodes.map((d) => d.node))).filter((n): n is TreeNode => n !== undefined);
    const tree = await archiver.saveTree(nodes);
    await repo.flush();
    const c = archiver.counters;
    const ended = new Date();
    const summary: SnapshotSummary = {
      files_new: c.filesNew,
      files_changed: c.filesChanged,
      files_unmodified: c.filesUnmodified,
      dirs_new: c.dirsNew,
      dirs_changed: c.dirsChanged,
      dirs_unmodified: c.dirsUnmodified,
      data_blobs: repo.stats.dataBlobs,
      tree_blobs: repo.stats.treeBlobs,
      data_added: repo.stats.bytesAdded,
      data_added_packed: repo.stats.bytesPacked,
      total_files_processed: c.filesDone,
      total_bytes_processed: c.bytesDone,
      backup_start: started.toISOString(),
      backup_end: ended.toISOString(),
    };
    const snap: SnapshotJson = {
      time: started.toISOString(),
      hostname: host,
      username: safeUsername(),
      paths,
      tags: opts.tags ?? [],
      tree,
      ...(parent ? { parent: parent.id } : {}),
      program_version: PROGRAM_VERSION,
      summary,
      ...(opts.openwebui !== undefined ? { openwebui: typeof opts.openwebui === 'function' ? await (opts.openwebui as () => Promise<unknown>)() : opts.openwebui } : {}),
    };
    await instrumentationPoint('backup.before-commit');
    await repo.verifyBeforeCommit();
    const snapshotId = await repo.saveJson('snapshots', snap);
    return {
      unreadable: c.unreadable,
      snapshotId,
      summary,
      ...(parent ? { parent: parent.id } : {}),
      warnings,
      durationS: (ended.getTime() - started.getTime()) / 1000,
    };
  } finally {
    await pool.close();
  }
}

function pickParent(all: Snapshot[], wanted: string | false | undefined, host: string, paths: string[]): Snapshot | undefined {
  if (wanted === false) return undefined;
  if (wanted) {
    const hit = all.filter((s) => s.id.startsWith(wanted));
    if (hit.length !== 1) throw new UsageError(`parent snapshot ${wanted} not found (or ambiguous)`);
    return hit[0];
  }
  const key = paths.join('\0');
  return all.filter((s) => s.hostname === host && [...s.paths].sort().join('\0') === key).at(-1);
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
