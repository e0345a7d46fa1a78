import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import type { NodeType } from '../repo/tree.js';

/** One listed entry, with its full path inside the snapshot. */
export interface ListedEntry {
  path: string;
  type: NodeType;
  size?: number;
  mode: number;
  mtime: string;
  linktarget?: string;
}

/** Lists every entry at or below `under` (a snapshot path such as /srv/data), depth first, sorted. */
export async function listSnapshotEntries(repo: Repository, snap: Snapshot, under = '/'): Promise<ListedEntry[]> {
  await repo.loadIndex();
  const prefix = under === '/' ? '' : under.replace(/\/+$/, '');
  const out: ListedEntry[] = [];
  const walk = async (treeId: string, dir: string): Promise<void> => {
    const tree = await repo.loadTree(treeId);
    for (const n of tree.nodes) {
      const path = `${dir}/${n.name}`;
      const inside = prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
      if (inside) {
        out.push({
          path,
          type: n.type,
          ...(n.type === 'file' ? { size: n.size } : {}),
          mode: n.mode,
          mtime: nsToIso(n.mtime),
          ...(n.type === 'symlink' ? { linktarget: n.linktarget } : {}),
        });
      }
      const onTheWay = prefix.startsWith(`${path}/`);
      if (n.type === 'dir' && (inside || onTheWay)) await walk(n.subtree!, path);
    }
  };
  await walk(snap.tree, '');
  return out;
}

function nsToIso(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}
