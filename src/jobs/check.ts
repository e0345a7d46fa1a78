import { randomInt } from 'node:crypto';
import { DamagedRepoError, isNotFound, stopIfAborted, UsageError } from '../errors.js';
import { sha256Hex } from '../repo/crypto.js';
import type { IndexFileJson } from '../repo/index-file.js';
import { parsePackHeader } from '../repo/pack-format.js';
import type { Repository } from '../repo/repository.js';
import { listSnapshots } from '../repo/snapshot.js';
import { unsafeNameReason } from '../repo/tree.js';
import { BlobWorkerPool } from '../repo/worker-pool.js';
import { instrumentationPoint } from '../util/instrument.js';

/** What `check` is asked to do. */
export interface CheckOptions {
  /** Download every pack and verify every blob. */
  readData?: boolean;
  /** Read only a subset of packs: `n%` (random), or `k/n` (the k-th of n fixed groups, so n runs cover all). */
  readDataSubset?: string;
  onProgress?: (p: { step: string; done: number; total: number }) => void;
  /** Aborted on SIGINT/SIGTERM: check stops at the next tree or pack (it writes nothing, so any point is safe). */
  signal?: AbortSignal;
}

/** Findings: errors mean damage; warnings are harmless leftovers (e.g. of an interrupted run). */
export interface CheckResult {
  errors: string[];
  warnings: string[];
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
}

/**
 * Verifies a repository's structure: index files decrypt, every indexed pack exists with a plausible size,
 * every snapshot's trees load and reference only indexed blobs. With readData, every pack is read, hashed
 * against its name, and each blob decrypted and checked against its keyed id.
 */
export async function runCheck(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  const res: CheckResult = { errors: [], warnings: [], snapshots: 0, packs: 0, blobs: 0, packsRead: 0 };
  const err = (m: string): void => void res.errors.push(m);

  for (const name of await repo.listIndexFiles()) {
    try {
      repo.index.addIndexFile(await repo.loadJson<IndexFileJson>('index', name));
    } catch (e) {
      err(`index ${name.slice(0, 12)}: ${(e as Error).message}`);
    }
  }
  res.blobs = repo.index.size;

  const stored = await repo.listPacks();
  const indexed = new Set(repo.index.packIds());
  res.packs = stored.size;
  const minSizes = new Map<string, number>();
  for (const [, loc] of repo.index.entries()) {
    minSizes.set(loc.packId, Math.max(minSizes.get(loc.packId) ?? 0, loc.offset + loc.length));
  }
  for (const id of indexed) {
    const size = stored.get(id);
    if (size === undefined) err(`pack ${id.slice(0, 12)} is in the index but missing from storage`);
    else if (size < (minSizes.get(id) ?? 0)) err(`pack ${id.slice(0, 12)} is shorter than its index says (truncated)`);
  }
  for (const id of stored.keys()) {
    if (!indexed.has(id)) res.warnings.push(`pack ${id.slice(0, 12)} is not referenced by any index (left by an interrupted run; harmless)`);
  }

  await instrumentationPoint('check.walk');
  const snapshots = await listSnapshots(repo, (id, e) => err(`snapshot ${id.slice(0, 8)}: ${e.message}`));
  res.snapshots = snapshots.length;
  const seenTrees = new Set<string>();
  for (const snap of snapshots) {
    const stack = [{ id: snap.tree, path: `snapshot ${snap.id.slice(0, 8)}:/` }];
    while (stack.length > 0) {
      const { id, path } = stack.pop()!;
      stopIfAborted(opts.signal);
      if (seenTrees.has(id)) continue;
      seenTrees.add(id);
      let tree;
      try {
        tree = await repo.loadTree(id);
      } catch (e) {
        err(`${path}: tree ${id.slice(0, 12)}: ${(e as Error).message}`);
        continue;
      }
      for (const n of tree.nodes) {
        const where = `${path}${n.name}`;
        const unsafe = unsafeNameReason(n.name);
        if (unsafe) err(`${path}: entry ${JSON.stringify(n.name)} with unsafe ${unsafe}`);
        if (n.type === 'dir') stack.push({ id: n.subtree!, path: `${where}/` });
        for (const c of n.content ?? []) {
          if (!repo.index.has(c)) err(`${where}: data blob ${c.slice(0, 12)} is missing`);
        }
      }
    }
  }

  if (opts.readData) await readAllPacks(repo, [...stored.keys()], stored, res, opts.signal);
  else if (opts.readDataSubset) await readAllPacks(repo, selectSubset([...stored.keys()], opts.readDataSubset), stored, res, opts.signal);
  return res;
}

async function readAllPacks(repo: Repository, packIds: string[], stored: Map<string, number>, res: CheckResult, signal?: AbortSignal): Promise<void> {
  const indexedByPack = new Map<string, string[]>();
  for (const [blob, loc] of repo.index.entries()) {
    const list = indexedByPack.get(loc.packId);
    if (list) list.push(blob);
    else indexedByPack.set(loc.packId, [blob]);
  }
  const pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
  try {
    for (const id of packIds) {
      stopIfAborted(signal);
      const where = `pack ${id.slice(0, 12)}`;
      let bytes: Buffer;
      try {
        bytes = await repo.loadPack(id, stored.get(id) ?? 0);
      } catch (e) {
        if (!isNotFound(e)) res.errors.push(`${where}: ${(e as Error).message}`);
        continue;
      }
      res.packsRead++;
      if (sha256Hex(bytes) !== id) {
        res.errors.push(`${where}: content does not match its name (damaged)`);
        // Keep going: report which blobs are affected.
      }
      let blobs;
      try {
        blobs = parsePackHeader(repo.key.encKey, bytes, id);
      } catch (e) {
        res.errors.push(`${where}: ${(e as Error).message}`);
        continue;
      }
      const results = await Promise.allSettled(
        blobs.map((b) => verifyBlob(pool, b.id, bytes.subarray(b.offset, b.offset + b.length))),
      );
      const inHeader = new Set<string>();
      results.forEach((r, i) => {
        const b = blobs[i]!;
        inHeader.add(b.id);
        if (r.status === 'rejected') res.errors.push(`${where}: blob ${b.id.slice(0, 12)}: ${(r.reason as Error).message}`);
        else if (r.value.length !== b.rawLength) res.errors.push(`${where}: blob ${b.id.slice(0, 12)} has a different length than its header says`);
        const loc = repo.index.lookup(b.id);
        if (loc && loc.packId === id && (loc.offset !== b.offset || loc.length !== b.length || loc.rawLength !== b.rawLength)) {
          res.errors.push(`${where}: blob ${b.id.slice(0, 12)} is at a different place than the index says`);
        }
      });
      for (const blob of indexedByPack.get(id) ?? []) {
        if (!inHeader.has(blob)) res.errors.push(`${where}: index lists blob ${blob.slice(0, 12)} that the pack does not hold`);
      }
    }
  } finally {
    await pool.close();
  }
}

function verifyBlob(pool: BlobWorkerPool, id: string, sealed: Buffer): Promise<Buffer> {
  return pool.decode(id, Buffer.from(sealed)).catch((e: unknown) => {
    throw e instanceof DamagedRepoError ? e : new DamagedRepoError((e as Error).message);
  });
}

/** Picks the packs of a `--read-data-subset` (`n%` at random, or group `k/n` by pack id). */
export function selectSubset(packs: string[], spec: string): string[] {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  if (pct) {
    const share = Number(pct[1]) / 100;
    if (!(share > 0 && share <= 1)) throw new UsageError('--read-data-subset takes a percentage above 0 and up to 100');
    const want = Math.max(1, Math.ceil(packs.length * share));
    const shuffled = [...packs];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    return shuffled.slice(0, Math.min(want, packs.length));
  }
  const group = /^(\d+)\/(\d+)$/.exec(spec);
  if (group) {
    const k = Number(group[1]);
    const n = Number(group[2]);
    if (!(n >= 1 && k >= 1 && k <= n)) throw new UsageError('--read-data-subset k/n needs 1 <= k <= n');
    return packs.filter((id) => Number.parseInt(id.slice(0, 8), 16) % n === k - 1);
  }
  throw new UsageError('--read-data-subset takes n% or k/n');
}
