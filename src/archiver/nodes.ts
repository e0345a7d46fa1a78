import type { BigIntStats } from 'node:fs';
import type { TreeNode } from '../repo/tree.js';

/** Tree nodes as the walk builds them: from lstat results, settling once their data is packed. */

/** A node that settles once its data is packed; undefined when the entry was skipped. */
export interface Deferred {
  node: Promise<TreeNode | undefined>;
}

export function deferred(node: Promise<TreeNode | undefined>): Deferred {
  node.catch(() => undefined); // the root awaits every node; this only silences the interim
  return { node };
}

export function settled(node: TreeNode): Deferred {
  return { node: Promise.resolve(node) };
}

export const SKIPPED: Deferred = { node: Promise.resolve(undefined) };

/** The metadata part of a node, from an lstat with bigint times. */
export function baseNode(name: string, type: TreeNode['type'], st: BigIntStats): TreeNode {
  return {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    mtime: st.mtimeNs.toString(),
    ctime: st.ctimeNs.toString(),
    inode: Number(st.ino),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

export function unchanged(parent: TreeNode, now: TreeNode, size: number): boolean {
  return (
    parent.type === 'file' &&
    Array.isArray(parent.content) &&
    parent.size === size &&
    parent.mtime === now.mtime &&
    parent.ctime === now.ctime &&
    parent.inode === now.inode
  );
}

/** A name or link target that is not valid UTF-8, met while backing up into a format 1 repository. */
export class RawNameError extends Error {
  constructor() {
    super('the name is not valid UTF-8, which a format 1 repository cannot store (a new repository, format 2, can)');
  }
}
