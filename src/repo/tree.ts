import { DamagedRepoError } from '../errors.js';

/** Kinds of tree entry. Sockets, FIFOs and devices are not stored. */
export type NodeType = 'file' | 'dir' | 'symlink';

/** One directory entry. Field order is fixed so that equal trees serialize to equal bytes (and dedup). */
export interface TreeNode {
  name: string;
  type: NodeType;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string (exceeds 2^53). */
  mtime: string;
  /** Status-change time, used only to detect changed files on the next backup. */
  ctime: string;
  inode: number;
  uid: number;
  gid: number;
  /** Files: size in bytes; content: data blob ids in order. */
  size?: number;
  content?: string[];
  /** Directories: the id of the subtree blob. */
  subtree?: string;
  /** Symlinks: the target, stored verbatim and never followed. */
  linktarget?: string;
}

/** A directory's listing. */
export interface Tree {
  nodes: TreeNode[];
}

/** Serializes a tree deterministically (nodes sorted by name, fixed field order). */
export function encodeTree(nodes: TreeNode[]): Buffer {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const normalized = sorted.map((n) => {
    const out: TreeNode = {
      name: n.name,
      type: n.type,
      mode: n.mode,
      mtime: n.mtime,
      ctime: n.ctime,
      inode: n.inode,
      uid: n.uid,
      gid: n.gid,
    };
    if (n.type === 'file') {
      out.size = n.size ?? 0;
      out.content = n.content ?? [];
    } else if (n.type === 'dir') {
      out.subtree = n.subtree;
    } else {
      out.linktarget = n.linktarget;
    }
    return out;
  });
  return Buffer.from(JSON.stringify({ nodes: normalized }), 'utf8');
}

/**
 * Why an entry name is unsafe to create on disk, or undefined when it is safe. A damaged or hostile
 * repository must not be able to write outside a restore target through a name.
 */
export function unsafeNameReason(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `name "${name}"`;
  if (name.includes('/') || name.includes('\0')) return 'name contains "/" or NUL';
  return undefined;
}

/** Parses and validates a tree blob: well-formed nodes, no duplicate names. Unsafe names are kept for the caller to refuse. */
export function decodeTree(plain: Buffer, id: string): Tree {
  let tree: Tree;
  try {
    tree = JSON.parse(plain.toString('utf8')) as Tree;
  } catch (err) {
    throw new DamagedRepoError(`tree ${id.slice(0, 12)} is not valid JSON`, { cause: err });
  }
  if (!tree || !Array.isArray(tree.nodes)) throw new DamagedRepoError(`tree ${id.slice(0, 12)} has no node list`);
  const seen = new Set<string>();
  for (const n of tree.nodes) {
    if (n === null || typeof n !== 'object') throw new DamagedRepoError(`tree ${id.slice(0, 12)} has an entry that is not an object`);
    if (n.type !== 'file' && n.type !== 'dir' && n.type !== 'symlink') {
      throw new DamagedRepoError(`tree ${id.slice(0, 12)} has an entry of unknown type`);
    }
    if (seen.has(n.name)) throw new DamagedRepoError(`tree ${id.slice(0, 12)} lists "${String(n.name)}" twice`);
    seen.add(n.name);
    if (n.type === 'file' && (!Array.isArray(n.content) || typeof n.size !== 'number')) {
      throw new DamagedRepoError(`tree ${id.slice(0, 12)}: file "${n.name}" has no content list`);
    }
    if (n.type === 'dir' && typeof n.subtree !== 'string') {
      throw new DamagedRepoError(`tree ${id.slice(0, 12)}: directory "${n.name}" has no subtree`);
    }
    if (n.type === 'symlink' && typeof n.linktarget !== 'string') {
      throw new DamagedRepoError(`tree ${id.slice(0, 12)}: symlink "${n.name}" has no target`);
    }
  }
  return tree;
}
