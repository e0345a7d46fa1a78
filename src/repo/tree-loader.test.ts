import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { MemoryBackend } from '../storage/memory.js';
import { flipByteAt, SpyBackend } from '../../test/support/backend-wrappers.js';
import { Repository } from './repository.js';
import type { TreeNode } from './tree.js';
import { TreeLoader } from './tree-loader.js';

const PW = 'tree loader';
/** The loader's range size (tree-loader.ts): reads stay within it unless one blob alone is larger. */
const TREE_RANGE = 1024 * 1024;

function node(name: string, i: number): TreeNode {
  return { name, type: 'file', mode: 0o600, mtime: String(i), ctime: String(i), inode: i, uid: 0, gid: 0, size: 0, content: [] };
}

/** A repository with `count` distinct trees saved and flushed into one pack; `width` entries each. */
async function withTrees(count: number, width = 1): Promise<{ spy: SpyBackend; repo: Repository; ids: string[] }> {
  const spy = new SpyBackend(new MemoryBackend('trees'));
  const repo = await Repository.init(spy, PW);
  const ids: string[] = [];
  for (let t = 0; t < count; t++) {
    const names = Array.from({ length: width }, (_, k) => (width === 1 ? `t${t}` : `t${t}-${k}-${randomBytes(100).toString('hex')}`));
    ids.push(await repo.saveTree(names.map((n, k) => node(n, k))));
  }
  await repo.flush();
  return { spy, repo, ids };
}

/** Another handle on the same storage, index loaded, as a later process would see it. */
async function reader(spy: SpyBackend): Promise<Repository> {
  const repo = await Repository.open(spy, PW);
  await repo.loadIndex();
  return repo;
}

/** Ranged loads of pack data made by `fn`. */
async function dataLoads(spy: SpyBackend, fn: () => Promise<void>): Promise<{ length?: number }[]> {
  const seen: { length?: number }[] = [];
  const before = spy.before;
  spy.before = (call) => {
    if (call.method === 'load' && call.handle?.type === 'data') seen.push({ length: call.length });
    return before?.(call);
  };
  try {
    await fn();
  } finally {
    spy.before = before;
  }
  return seen;
}

describe('TreeLoader', () => {
  it('serves neighbouring trees from one read, newest first as a walk meets them', async () => {
    const { spy, ids } = await withTrees(30);
    const loader = new TreeLoader(await reader(spy));
    // A walk meets the root (written last) first, then the subtrees written before it.
    const loads = await dataLoads(spy, async () => {
      for (let i = ids.length - 1; i >= 0; i--) expect((await loader.load(ids[i]!)).nodes[0]!.name).toBe(`t${i}`);
    });
    expect(loads).toHaveLength(1);
  });

  it('keeps each read within its range size, however many trees the pack holds', async () => {
    const { spy, ids } = await withTrees(100, 150);
    const repo = await reader(spy);
    // Several ranges' worth of trees in one pack.
    const [pack] = [...repo.index.packEntries()];
    expect(pack!.blobs.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(1.5 * TREE_RANGE);
    const loader = new TreeLoader(repo);
    const loads = await dataLoads(spy, async () => {
      for (let i = ids.length - 1; i >= 0; i--) expect((await loader.load(ids[i]!)).nodes).toHaveLength(150);
    });
    expect(loads.length).toBeGreaterThan(1);
    expect(loads.length).toBeLessThan(ids.length / 4);
    for (const l of loads) expect(l.length).toBeLessThanOrEqual(TREE_RANGE);
  });

  it('falls back to a single read for a tree in a pack written after it first looked', async () => {
    const { spy, repo, ids } = await withTrees(3);
    const loader = new TreeLoader(repo);
    expect((await loader.load(ids[0]!)).nodes[0]!.name).toBe('t0');
    // The same handle writes on (as backup does while it walks its parent), so its index now has a new pack.
    const later = await repo.saveTree([node('later', 9)]);
    await repo.flush();
    expect(repo.index.lookup(later)!.packId).not.toBe(repo.index.lookup(ids[0]!)!.packId);
    expect((await loader.load(later)).nodes[0]!.name).toBe('later');
    // That path verifies too (and so does the ranged path of a loader that first looks now).
    const loc = repo.index.lookup(later)!;
    await flipByteAt(spy.inner, { type: 'data', name: loc.packId }, loc.offset + 15);
    await expect(loader.load(later)).rejects.toThrow(DamagedRepoError);
    await expect(new TreeLoader(repo).load(later)).rejects.toThrow(DamagedRepoError);
  });

  it('reports a tree that no index lists', async () => {
    const { repo } = await withTrees(2);
    await expect(new TreeLoader(repo).load('0'.repeat(64))).rejects.toThrow(/not in the index/);
  });

  it('detects a damaged tree served from a range it already holds', async () => {
    const { spy, ids } = await withTrees(10);
    const repo = await reader(spy);
    const victim = repo.index.lookup(ids[3]!)!;
    await flipByteAt(spy.inner, { type: 'data', name: victim.packId }, victim.offset + victim.length - 3);
    const loader = new TreeLoader(repo);
    const loads = await dataLoads(spy, async () => {
      await loader.load(ids[9]!); // reads the whole pack's trees, the damaged one included
      await expect(loader.load(ids[3]!)).rejects.toThrow(DamagedRepoError);
      expect((await loader.load(ids[4]!)).nodes[0]!.name).toBe('t4');
    });
    expect(loads).toHaveLength(1);
  });

  it('refuses a genuine tree found where the index places another', async () => {
    const { spy, repo, ids } = await withTrees(5);
    // A hostile index swaps the places of two trees; every byte is authentic.
    const lying = await Repository.open(spy, PW);
    const [pack] = [...repo.index.packEntries()];
    const swap = (id: string): string => (id === ids[1] ? ids[2]! : id === ids[2] ? ids[1]! : id);
    lying.index.addPack(pack!.id, pack!.blobs.map((b) => ({ ...b, id: swap(b.id) })));
    const loader = new TreeLoader(lying);
    expect((await loader.load(ids[0]!)).nodes[0]!.name).toBe('t0');
    await expect(loader.load(ids[1]!)).rejects.toThrow(/does not match its id/);
    await expect(loader.load(ids[2]!)).rejects.toThrow(/does not match its id/);
  });
});
