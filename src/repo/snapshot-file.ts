import { Readable } from 'node:stream';
import { OwbError } from '../errors.js';
import type { Repository } from './repository.js';
import type { Snapshot } from './snapshot.js';
import type { TreeNode } from './tree.js';

/** The node at an absolute snapshot path (`/data/webui.db`), or undefined. The index must be loaded. */
export async function findNode(repo: Repository, snap: Snapshot, path: string): Promise<TreeNode | undefined> {
  const parts = path.split('/').filter(Boolean);
  let treeId = snap.tree;
  let node: TreeNode | undefined;
  for (const [i, part] of parts.entries()) {
    const tree = await repo.loadTree(treeId);
    node = tree.nodes.find((n) => n.name === part);
    if (!node) return undefined;
    if (i < parts.length - 1) {
      if (node.type !== 'dir') return undefined;
      treeId = node.subtree!;
    }
  }
  return node;
}

/** Streams a file node's content, blob by blob, each verified against its id. */
export function readNode(repo: Repository, node: TreeNode): Readable {
  if (node.type !== 'file') throw new OwbError(`${node.name} is not a file`);
  const ids = node.content ?? [];
  return Readable.from(
    (async function* () {
      for (const id of ids) yield await repo.loadBlob(id);
    })(),
  );
}
