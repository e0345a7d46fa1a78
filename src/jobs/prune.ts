import { DamagedRepoError, OwbError, stopIfAborted } from '../errors.js';
import { indexFileFor } from '../repo/index-file.js';
import type { BlobLocation } from '../repo/index-file.js';
import type { PackedBlob } from '../repo/pack-format.js';
import type { Repository } from '../repo/repository.js';
import { collectUsedBlobs } from '../repo/used-blobs.js';
import { instrumentationPoint } from '../util/instrument.js';

/** What `prune` is asked to do. */
export interface PruneOptions {
  /** Repack a partly used pack when more than this fraction of its bytes is unused (default 0.05, as restic). */
  maxUnusedFraction?: number;
  dryRun?: boolean;
  onProgress?: (step: string) => void;
  /**
   * Aborted on SIGINT/SIGTERM. Prune stops at its next safe point: every step is crash-safe (DESIGN §3), so
   * stopping between two writes leaves what a kill there would, which check passes and the next prune completes.
   */
  signal?: AbortSignal;
}

/** What prune did (or would do). */
export interface PruneResult {
  packsTotal: number;
  packsDeleted: number;
  packsRepacked: number;
  packsOrphaned: number;
  blobsUsed: number;
  blobsUnused: number;
  bytesBefore: number;
  bytesFreed: number;
  indexFilesReplaced: number;
  dryRun: boolean;
}

/** Blobs per written index file; keeps each object small enough to rewrite cheaply. */
const BLOBS_PER_INDEX_FILE = 50_000;

interface PackPlan {
  id: string;
  size: number;
  blobs: readonly PackedBlob[];
  usedBytes: number;
  unusedBytes: number;
}

/**
 * Deletes data that no snapshot needs. The caller holds the EXCLUSIVE lock. Order (crash-safe at every
 * step, DESIGN §3): write repacked blobs to new packs → write a complete new index → delete the old index
 * files → delete unneeded packs. A crash before the old index goes leaves two valid indexes; a crash
 * after leaves only unreferenced packs, which check reports as harmless and the next prune deletes.
 */
export async function runPrune(repo: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const threshold = opts.maxUnusedFraction ?? 0.05;
  const progress = opts.onProgress ?? (() => undefined);
  const step = (s: string): void => {
    stopIfAborted(opts.signal);
    progress(s);
  };
  step('loading index');
  const oldIndexFiles = await repo.listIndexFiles();
  await repo.loadIndex();
  // Every indexed pack must exist before anything is judged unused: a missing one means damage, and
  // reading its trees would fail half-way with a less useful message.
  step('planning');
  const stored = await repo.listPacks();
  for (const id of repo.index.packIds()) {
    if (!stored.has(id)) throw new DamagedRepoError(`pack ${id.slice(0, 12)} is indexed but missing; refusing to prune (run "owb check")`);
  }
  step('finding data in use');
  const used = await collectUsedBlobs(repo);
  for (const id of used) {
    if (!repo.index.has(id)) throw new DamagedRepoError(`blob ${id.slice(0, 12)} is needed but missing; refusing to prune (run "owb check")`);
  }
  const plans = packPlans(repo, used, stored);
  const orphans = [...stored.keys()].filter((id) => !plans.has(id));
  const res: PruneResult = {
    packsTotal: stored.size,
    packsDeleted: 0,
    packsRepacked: 0,
    packsOrphaned: orphans.length,
    blobsUsed: used.size,
    blobsUnused: 0,
    bytesBefore: [...stored.values()].reduce((a, b) => a + b, 0),
    bytesFreed: 0,
    indexFilesReplaced: 0,
    dryRun: !!opts.dryRun,
  };
  const keep: PackPlan[] = [];
  const repack: PackPlan[] = [];
  const drop: string[] = [...orphans];
  for (const plan of plans.values()) {
    res.blobsUnused += plan.blobs.filter((b) => !isOwnUse(repo, used, plan.id, b)).length;
    if (plan.usedBytes === 0) drop.push(plan.id);
    else if (plan.unusedBytes / (plan.usedBytes + plan.unusedBytes) > threshold) repack.push(plan);
    else keep.push(plan);
  }
  res.packsRepacked = repack.length;
  res.packsDeleted = drop.length - orphans.length;
  res.bytesFreed = [...drop, ...repack.map((p) => p.id)].reduce((a, id) => a + (stored.get(id) ?? 0), 0);
  if (opts.dryRun || (drop.length === 0 && repack.length === 0)) return res;

  await instrumentationPoint('prune.rewrite');
  // 1. Repack: copy the still-needed sealed blobs into new packs (verified on the way).
  step(`repacking ${repack.length} packs`);
  for (const plan of repack) {
    for (const b of plan.blobs) {
      stopIfAborted(opts.signal);
      if (!isOwnUse(repo, used, plan.id, b)) continue;
      const sealed = await repo.loadSealedBlob(b.id);
      await repo.repackSealedBlob(b.type, b.id, sealed, b.rawLength);
    }
  }
  await repo.flushPacksOnly();

  // 2. A complete new index: kept packs as they are, plus the new packs.
  step('writing new index');
  const entries = [
    ...keep.map((p) => ({ id: p.id, blobs: p.blobs })),
    ...repo.takeUnindexedPacks(),
  ];
  for (let i = 0, n = 0; i < entries.length; ) {
    const batch: typeof entries = [];
    for (n = 0; i < entries.length && (n === 0 || n + entries[i]!.blobs.length <= BLOBS_PER_INDEX_FILE); i++) {
      batch.push(entries[i]!);
      n += entries[i]!.blobs.length;
    }
    await repo.saveJson('index', { ...indexFileFor(batch), supersedes: oldIndexFiles });
  }

  // 3. Only now may the old index go, 4. and after it the packs it alone referenced.
  step('removing old index');
  for (const name of oldIndexFiles) await repo.removeIndexFile(name);
  res.indexFilesReplaced = oldIndexFiles.length;
  step(`deleting ${drop.length + repack.length} packs`);
  for (const id of [...repack.map((p) => p.id), ...drop]) {
    stopIfAborted(opts.signal);
    await repo.removePack(id).catch((err: unknown) => {
      throw new OwbError(`could not delete pack ${id.slice(0, 12)} (run prune again): ${(err as Error).message}`);
    });
  }
  return res;
}

/** A blob counts as used in a pack only where the index locates it, so duplicate copies are garbage. */
function isOwnUse(repo: Repository, used: Set<string>, packId: string, b: PackedBlob): boolean {
  if (!used.has(b.id)) return false;
  const loc: BlobLocation | undefined = repo.index.lookup(b.id);
  return loc?.packId === packId && loc.offset === b.offset;
}

function packPlans(repo: Repository, used: Set<string>, stored: Map<string, number>): Map<string, PackPlan> {
  const plans = new Map<string, PackPlan>();
  for (const entry of repo.index.packEntries()) {
    const size = stored.get(entry.id);
    if (size === undefined) throw new DamagedRepoError(`pack ${entry.id.slice(0, 12)} is indexed but missing; refusing to prune (run "owb check")`);
    const plan: PackPlan = { id: entry.id, size, blobs: entry.blobs, usedBytes: 0, unusedBytes: 0 };
    for (const b of entry.blobs) {
      if (isOwnUse(repo, used, entry.id, b)) plan.usedBytes += b.length;
      else plan.unusedBytes += b.length;
    }
    plans.set(entry.id, plan);
  }
  return plans;
}
