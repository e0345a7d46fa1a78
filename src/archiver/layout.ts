import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { TreeNode } from '../repo/tree.js';
import type { Archiver } from './archiver.js';
import type { Deferred } from './nodes.js';

/**
 * One entry of a snapshot's layout: what appears at `target` (an absolute snapshot path). Exactly one of
 * `source` (a local file or directory, archived recursively), `stream` (piped content such as a database
 * dump, stored as a file) or neither (a directory that only holds other entries, whose metadata comes from
 * `metaFrom` when given).
 */
export interface LayoutEntry {
  target: string;
  source?: string;
  stream?: () => Readable;
  metaFrom?: string;
}

interface Trie {
  children: Map<string, Trie>;
  entry?: LayoutEntry;
}

/** The identity layout of plain `owb backup <path…>`: each path under its own absolute name, ancestors from disk. */
export function layoutOfPaths(paths: string[]): LayoutEntry[] {
  const out: LayoutEntry[] = paths.map((p) => ({ target: p, source: p }));
  const seen = new Set(paths);
  for (const p of paths) {
    const parts = p.split(sep).filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const anc = sep + parts.slice(0, i).join(sep);
      if (!seen.has(anc)) {
        seen.add(anc);
        out.push({ target: anc, metaFrom: anc });
      }
    }
  }
  return out;
}

function buildTrie(entries: LayoutEntry[]): Trie {
  const root: Trie = { children: new Map() };
  for (const e of entries) {
    let node = root;
    for (const part of e.target.split(sep).filter(Boolean)) {
      let next = node.children.get(part);
      if (!next) node.children.set(part, (next = { children: new Map() }));
      node = next;
    }
    node.entry = e;
  }
  return root;
}

/** Metadata for a directory that exists only in the snapshot; fixed, so unchanged layouts dedup. */
function syntheticDirStat(): BigIntStats {
  const zero = 0n;
  return {
    mode: 0o40755n,
    mtimeNs: zero,
    ctimeNs: zero,
    ino: zero,
    uid: BigInt(process.getuid?.() ?? 0),
    gid: BigInt(process.getgid?.() ?? 0),
  } as BigIntStats;
}

/** Archives a layout; returns the snapshot's root entries. */
export async function archiveLayout(archiver: Archiver, entries: LayoutEntry[], parentRoot: TreeNode[]): Promise<Deferred[]> {
  return archiveTrie(archiver, buildTrie(entries), parentRoot);
}

async function archiveTrie(archiver: Archiver, trie: Trie, parentNodes: TreeNode[]): Promise<Deferred[]> {
  const byName = new Map(parentNodes.map((n) => [n.name, n]));
  const out: Deferred[] = [];
  if (trie.entry?.source === sep) {
    // Backing up "/" itself: its entries are the snapshot's root entries.
    for (const name of (await readdir(sep)).sort()) out.push(await archiver.archivePath(sep + name, name, byName.get(name)));
    return out;
  }
  for (const [name, child] of [...trie.children].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const parent = byName.get(name);
    const e = child.entry;
    if (e?.source !== undefined) {
      out.push(await archiver.archivePath(e.source, name, parent));
      continue;
    }
    if (e?.stream !== undefined) {
      out.push(await archiver.archiveStream(name, e.stream()));
      continue;
    }
    // A directory holding other entries: only the children on the way to them.
    const parentTree = parent?.type === 'dir' ? await archiver.loadTree(parent.subtree).catch(() => undefined) : undefined;
    const children = await archiveTrie(archiver, child, parentTree?.nodes ?? []);
    const st = e?.metaFrom ? await lstat(e.metaFrom, { bigint: true }) : syntheticDirStat();
    out.push(archiver.dirNode(name, st, children, parent));
  }
  return out;
}
