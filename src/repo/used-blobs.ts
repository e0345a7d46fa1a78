import { DamagedRepoError } from '../errors.js';
import type { Repository } from './repository.js';
import { listSnapshots } from './snapshot.js';

/**
 * Collects the id of every blob that some snapshot needs: its trees and their files' content. Each tree is
 * visited once however many snapshots share it, so the cost follows the number of distinct trees.
 */
export async function collectUsedBlobs(repo: Repository): Promise<Set<string>> {
  const used = new Set<string>();
  const damaged: string[] = [];
  const snapshots = await listSnapshots(repo, (id) => damaged.push(id));
  if (damaged.length > 0) {
    // Pruning around an unreadable snapshot could delete the data it needs.
    throw new DamagedRepoError(`snapshot ${damaged[0]!.slice(0, 8)} cannot be read; refusing to prune (run "owb check")`);
  }
  const stack = snapshots.map((s) => s.tree);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (used.has(id)) continue;
    used.add(id);
    const tree = await repo.loadTree(id);
    for (const n of tree.nodes) {
      if (n.type === 'dir' && n.subtree) stack.push(n.subtree);
      for (const c of n.content ?? []) used.add(c);
    }
  }
  return used;
}
