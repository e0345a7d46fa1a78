import type { Repository } from '../repo/repository.js';
import { runCopy } from './copy.js';

/** Opens a named repository (with its own password and a shared lock), runs fn, and closes it. */
export type OpenRepository = <T>(name: string, fn: (repo: Repository) => Promise<T>) => Promise<T>;

/** Outcome of copying one snapshot to one replica. */
export interface ReplicaResult {
  target: string;
  ok: boolean;
  snapshotId?: string;
  error?: string;
}

/**
 * Copies a fresh snapshot to every replica (`copy_to`). A failing replica does not stop the others; each
 * outcome is reported so the caller can warn and set the exit code.
 */
export async function replicateSnapshot(src: Repository, snapshotId: string, targets: string[], open: OpenRepository): Promise<ReplicaResult[]> {
  const out: ReplicaResult[] = [];
  for (const target of targets) {
    try {
      const res = await open(target, (dst) => runCopy(src, dst, { snapshots: [snapshotId] }));
      out.push({ target, ok: true, snapshotId: res.copied[0]?.to ?? snapshotId });
    } catch (err) {
      out.push({ target, ok: false, error: (err as Error).message });
    }
  }
  return out;
}
