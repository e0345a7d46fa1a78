import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError, ExitCode, NotFoundError, RepoExistsError, RepoNotFoundError, UnsupportedVersionError, WrongPasswordError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { MemoryBackend } from '../storage/memory.js';
import { flipByteAt, gate, handleKey, isPending, SpyBackend, tamper } from '../../test/support/backend-wrappers.js';
import { BlobCodec } from './codec.js';
import { newMasterKey, sha256Hex } from './crypto.js';
import type { IndexFileJson } from './index-file.js';
import { addKey } from './keys.js';
import { FORMAT_VERSION } from './repo-config.js';
import { Repository } from './repository.js';
import type { TreeNode } from './tree.js';

const PW = 'repository test password';
const CONFIG = { type: 'config', name: '' } as const;

/** A file entry whose name and inode make each tree distinct. */
function fileNode(name: string, i = 0): TreeNode {
  return { name, type: 'file', mode: 0o644, mtime: `${1_700_000_000_000_000_000n + BigInt(i)}`, ctime: '1700000000000000000', inode: i, uid: 1000, gid: 1000, size: 0, content: [] };
}

/** Names of the stored objects of one type, sorted. */
async function names(backend: Backend, type: 'data' | 'index' | 'snapshots' | 'keys' | 'locks'): Promise<string[]> {
  return (await backend.list(type)).map((f) => f.name).sort();
}

/** A new repository on a fresh MemoryBackend, seen through a spy. */
async function fresh(): Promise<{ spy: SpyBackend; repo: Repository }> {
  const spy = new SpyBackend(new MemoryBackend('repo'));
  return { spy, repo: await Repository.init(spy, PW) };
}

/** The repository opened again on the same storage (a new process), with its index loaded. */
async function reopen(backend: Backend): Promise<Repository> {
  const repo = await Repository.open(backend, PW);
  await repo.loadIndex();
  return repo;
}

/** Replaces the config object with `config` sealed under the repository's own key. */
async function rewriteConfig(repo: Repository, config: unknown): Promise<void> {
  await repo.backend.remove(CONFIG);
  await repo.backend.save(CONFIG, new BlobCodec(repo.key.encKey).encodeJson(config));
}

describe('Repository.init and open', () => {
  it('opens what it created, with the same key, key file and config', async () => {
    const { spy, repo } = await fresh();
    const again = await Repository.open(spy, PW);
    expect(again.keyId).toBe(repo.keyId);
    expect(again.key.encKey.equals(repo.key.encKey)).toBe(true);
    expect(again.config).toEqual(repo.config);
    expect(again.config.version).toBe(FORMAT_VERSION);
  });

  it('saves the key file before the config, and the config last', async () => {
    const { spy } = await fresh();
    const saves = spy.done('save');
    expect(saves).toHaveLength(2);
    expect(saves[0]).toMatch(/^save keys\/[0-9a-f]{64}$/);
    expect(saves[1]).toBe('save config');
  });

  it('refuses to init over an existing config (RepoExistsError) and writes nothing', async () => {
    const { spy } = await fresh();
    const keysBefore = await names(spy, 'keys');
    const savesBefore = spy.calls.save;
    await expect(Repository.init(spy, 'another password')).rejects.toThrow(RepoExistsError);
    expect(spy.calls.save).toBe(savesBefore);
    expect(await names(spy, 'keys')).toEqual(keysBefore);
    await expect(Repository.open(spy, 'another password')).rejects.toThrow(WrongPasswordError);
  });

  it('refuses invalid chunker parameters before writing anything', async () => {
    const spy = new SpyBackend(new MemoryBackend());
    await expect(Repository.init(spy, PW, { chunker: { minSize: 1024, avgSize: 512, maxSize: 4096 } })).rejects.toThrow(/chunker/);
    expect(spy.calls.save).toBe(0);
  });

  it('reports no repository (exit 10) on empty storage, and where an interrupted init left only a key', async () => {
    const err = await Repository.open(new MemoryBackend(), PW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepoNotFoundError);
    expect((err as RepoNotFoundError).exitCode).toBe(ExitCode.RepoNotFound);
    const interrupted = new MemoryBackend();
    await addKey(interrupted, newMasterKey(), PW);
    await expect(Repository.open(interrupted, PW)).rejects.toThrow(RepoNotFoundError);
  });

  it('reports a wrong password with exit 12', async () => {
    const { spy } = await fresh();
    const err = await Repository.open(spy, 'not it').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongPasswordError);
    expect((err as WrongPasswordError).exitCode).toBe(ExitCode.WrongPassword);
  });

  it('opens past an orphan key with the same password left by an earlier interrupted init', async () => {
    const backend = new MemoryBackend();
    await addKey(backend, newMasterKey(), PW);
    const repo = await Repository.init(backend, PW);
    const again = await Repository.open(backend, PW);
    expect(again.keyId).toBe(repo.keyId);
    expect(again.key.encKey.equals(repo.key.encKey)).toBe(true);
  });

  it('refuses a config of an unknown format version, and one with invalid chunker parameters', async () => {
    const { spy, repo } = await fresh();
    await rewriteConfig(repo, { ...repo.config, version: 3 });
    const err = await Repository.open(spy, PW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedVersionError);
    expect((err as Error).message).toMatch(/format version 3 is not supported/);
    await rewriteConfig(repo, { ...repo.config, version: '1' });
    await expect(Repository.open(spy, PW)).rejects.toThrow(UnsupportedVersionError);
    await rewriteConfig(repo, { ...repo.config, chunker: { min_size: 16, avg_size: 32, max_size: 64 } });
    await expect(Repository.open(spy, PW)).rejects.toThrow(/chunker/);
  });

  it('shares the id key and chunker seed with another repository when asked, but not the enc key', async () => {
    const { repo: a } = await fresh();
    const b = await Repository.init(new MemoryBackend('b'), 'other', { contentKeysFrom: a.key });
    expect(b.key.idKey.equals(a.key.idKey)).toBe(true);
    expect(b.key.chunkerSeed.equals(a.key.chunkerSeed)).toBe(true);
    expect(b.key.encKey.equals(a.key.encKey)).toBe(false);
    const data = randomBytes(100);
    expect(b.blobIdOf(data)).toBe(a.blobIdOf(data));
  });
});

describe('Repository blobs', () => {
  it('stores a blob once however often it is saved, in this handle and after reopening', async () => {
    const { spy, repo } = await fresh();
    const data = Buffer.from('the same chunk, twice '.repeat(100));
    const id = await repo.saveBlob('data', data);
    expect(await repo.saveBlob('data', Buffer.from(data))).toBe(id);
    expect(repo.stats.dataBlobs).toBe(1);
    expect(repo.stats.bytesAdded).toBe(data.length);
    await repo.flush();
    expect(await names(spy, 'data')).toHaveLength(1);
    expect(await names(spy, 'index')).toHaveLength(1);

    const again = await reopen(spy);
    const saves = spy.calls.save;
    expect(again.hasBlob(id)).toBe(true);
    expect(await again.saveBlob('data', data)).toBe(id);
    await again.flush();
    expect(spy.calls.save).toBe(saves);
    expect(again.stats).toEqual({ dataBlobs: 0, treeBlobs: 0, bytesAdded: 0, bytesPacked: 0 });
  });

  it('lets a blob be claimed once, and counts it as present from the claim on', async () => {
    const { repo } = await fresh();
    const id = repo.blobIdOf(Buffer.from('x'));
    expect(repo.hasBlob(id)).toBe(false);
    expect(repo.claimBlob(id)).toBe(true);
    expect(repo.claimBlob(id)).toBe(false);
    expect(repo.hasBlob(id)).toBe(true);
    expect(repo.index.has(id)).toBe(false);
  });

  it('round-trips blobs of both types, compressible or not, and counts what it stored', async () => {
    const { spy, repo } = await fresh();
    const blobs = [Buffer.from('a'.repeat(100_000)), randomBytes(50_000), Buffer.alloc(0), Buffer.from('{"nodes":[]}')];
    const ids = [
      await repo.saveBlob('data', blobs[0]!),
      await repo.saveBlob('data', blobs[1]!),
      await repo.saveBlob('data', blobs[2]!),
      await repo.saveBlob('tree', blobs[3]!),
    ];
    await repo.flush();
    expect(repo.stats).toMatchObject({ dataBlobs: 3, treeBlobs: 1, bytesAdded: 150_000 + 12 });
    const packs = await spy.list('data');
    expect(repo.stats.bytesPacked).toBe(packs.reduce((n, f) => n + f.size, 0));
    const again = await reopen(spy);
    for (const [i, id] of ids.entries()) expect((await again.loadBlob(id)).equals(blobs[i]!), `blob ${i}`).toBe(true);
    expect(again.index.lookup(ids[3]!)?.type).toBe('tree');
  });

  it('reports a blob that is not indexed as damage', async () => {
    const { repo } = await fresh();
    await expect(repo.loadBlob('0'.repeat(64))).rejects.toThrow(/not in the index/);
  });

  it('detects a flipped byte in a stored blob', async () => {
    const { spy, repo } = await fresh();
    const id = await repo.saveBlob('data', randomBytes(1000));
    await repo.flush();
    const loc = repo.index.lookup(id)!;
    await flipByteAt(spy.inner, { type: 'data', name: loc.packId }, loc.offset + 500);
    await expect((await reopen(spy)).loadBlob(id)).rejects.toThrow(DamagedRepoError);
  });

  it('refuses a genuine blob served in place of another (its keyed id does not match)', async () => {
    const { spy, repo } = await fresh();
    const a = await repo.saveBlob('data', Buffer.from('blob a'));
    const b = await repo.saveBlob('data', Buffer.from('blob b'));
    await repo.flush();
    // A hostile index that sends readers of `a` to `b`'s bytes.
    const lying = await Repository.open(spy, PW);
    const [pack] = [...repo.index.packEntries()];
    lying.index.addPack(pack!.id, pack!.blobs.map((x) => (x.id === b ? { ...x, id: a } : { ...x, id: b })));
    await expect(lying.loadBlob(a)).rejects.toThrow(/does not match its id/);
  });
});

describe('Repository.flush', () => {
  it('writes the index only after every pack it lists is stored', async () => {
    const { spy, repo } = await fresh();
    // Pack saves wait, so an index written too early would overtake them.
    const packs = gate();
    spy.before = (call) => (call.handle?.type === 'data' ? packs.wait : undefined);
    const ids = [await repo.saveBlob('data', randomBytes(2000)), await repo.saveTree([fileNode('a')]), await repo.saveBlob('data', randomBytes(10))];
    const flushed = repo.flush();
    expect(await isPending(flushed)).toBe(true);
    // Init's key file and config, then the data pack, held open; nothing else until it is stored.
    expect(spy.calls.save).toBe(3);
    expect(await names(spy, 'index')).toEqual([]);
    packs.open();
    await flushed;

    const [indexName] = await names(spy, 'index');
    const indexFile = await repo.loadJson<IndexFileJson>('index', indexName!);
    expect(indexFile.packs.flatMap((p) => p.blobs.map((b) => b.id)).sort()).toEqual([...ids].sort());
    const started = spy.events.findIndex((e) => e.phase === 'start' && e.label === `save index/${indexName}`);
    for (const p of indexFile.packs) {
      const stored = spy.events.findIndex((e) => e.phase === 'done' && e.label === `save data/${p.id}`);
      expect(stored, `pack ${p.id.slice(0, 8)}`).toBeGreaterThanOrEqual(0);
      expect(stored).toBeLessThan(started);
    }
  });

  it('writes no index for a pack whose save failed', async () => {
    const { spy, repo } = await fresh();
    spy.before = (call) => {
      if (call.handle?.type === 'data') throw new Error('disk full');
    };
    await repo.saveBlob('data', randomBytes(100));
    await expect(repo.flush()).rejects.toThrow('disk full');
    expect(await names(spy, 'index')).toEqual([]);
    expect(await names(spy, 'data')).toEqual([]);
  });

  it('keeps the packs of a failed index write and indexes them on the next flush', async () => {
    const { spy, repo } = await fresh();
    let failIndex = true;
    spy.before = (call) => {
      if (call.handle?.type === 'index' && failIndex) throw new Error('timeout');
    };
    const id = await repo.saveBlob('data', randomBytes(100));
    await expect(repo.flush()).rejects.toThrow('timeout');
    expect(await names(spy, 'index')).toEqual([]);
    failIndex = false;
    await repo.flush();
    expect(await names(spy, 'index')).toHaveLength(1);
    expect((await reopen(spy)).index.lookup(id)?.packId).toBe((await names(spy, 'data'))[0]);
  });

  it('writes no index when nothing new was stored', async () => {
    const { spy, repo } = await fresh();
    await repo.flush();
    expect(await names(spy, 'index')).toEqual([]);
  });

  it('merges every index file on load, and refuses a malformed one', async () => {
    const { spy, repo } = await fresh();
    const first = await repo.saveBlob('data', Buffer.from('first run'));
    await repo.flush();
    const second = await repo.saveBlob('data', Buffer.from('second run'));
    await repo.flush();
    expect(await repo.listIndexFiles()).toHaveLength(2);
    const again = await reopen(spy);
    expect(again.hasBlob(first) && again.hasBlob(second)).toBe(true);

    await repo.saveJson('index', { packs: [{ id: 'not a pack id', blobs: [] }] });
    await expect(reopen(spy)).rejects.toThrow(DamagedRepoError);
  });
});

describe('Repository JSON objects', () => {
  it('names a saved object by the SHA-256 of its bytes and loads it back', async () => {
    const { spy, repo } = await fresh();
    const value = { time: '2025-03-01T04:00:00.000Z', tree: 'a'.repeat(64), tags: ['x'] };
    const id = await repo.saveJson('snapshots', value);
    expect(sha256Hex(await spy.load({ type: 'snapshots', name: id }))).toBe(id);
    expect(await repo.loadJson('snapshots', id)).toEqual(value);
  });

  it('refuses an object stored under a name that is not its hash', async () => {
    const { spy, repo } = await fresh();
    const id = await repo.saveJson('snapshots', { a: 1 });
    const copy = 'f'.repeat(64);
    await spy.save({ type: 'snapshots', name: copy }, await spy.load({ type: 'snapshots', name: id }));
    await expect(repo.loadJson('snapshots', copy)).rejects.toThrow(/snapshots file ffffffffffff does not match its name/);
    await expect(repo.loadJson('snapshots', copy)).rejects.toThrow(DamagedRepoError);
  });

  it('refuses an object sealed under another key even when its name matches', async () => {
    const { spy, repo } = await fresh();
    const foreign = new BlobCodec(randomBytes(32)).encodeJson({ a: 1 });
    await spy.save({ type: 'snapshots', name: sha256Hex(foreign) }, foreign);
    await expect(repo.loadJson('snapshots', sha256Hex(foreign))).rejects.toThrow(DamagedRepoError);
  });
});

describe('Repository.loadTree', () => {
  it('reads trees packed together in fewer loads than trees, and returns each one as saved', async () => {
    const { spy, repo } = await fresh();
    const trees = Array.from({ length: 60 }, (_, i) => [fileNode(`f${i}`, i), fileNode(`g${i}`, i)]);
    const ids: string[] = [];
    for (const t of trees) ids.push(await repo.saveTree(t));
    await repo.flush();
    const again = await reopen(spy);
    const loads = spy.calls.load;
    for (const [i, id] of ids.entries()) expect((await again.loadTree(id)).nodes.map((n) => n.name)).toEqual([`f${i}`, `g${i}`]);
    const used = spy.calls.load - loads;
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(ids.length / 10);
  });

  it('still verifies each tree: a flipped byte in one fails that tree only', async () => {
    const { spy, repo } = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await repo.saveTree([fileNode(`n${i}`, i)]));
    await repo.flush();
    const victim = repo.index.lookup(ids[7]!)!;
    await flipByteAt(spy.inner, { type: 'data', name: victim.packId }, victim.offset + 20);
    const again = await reopen(spy);
    for (const [i, id] of ids.entries()) {
      if (i === 7) await expect(again.loadTree(id)).rejects.toThrow(DamagedRepoError);
      else expect((await again.loadTree(id)).nodes[0]!.name).toBe(`n${i}`);
    }
  });

  it('refuses a blob that is not a valid tree', async () => {
    const { spy, repo } = await fresh();
    const id = await repo.saveBlob('tree', Buffer.from('{"nodes":[{"name":"a","type":"fifo"}]}'));
    await repo.flush();
    await expect((await reopen(spy)).loadTree(id)).rejects.toThrow(/unknown type/);
  });
});

describe('Repository listings and removals', () => {
  it('lists packs with their sizes and index files by name, indexed or not', async () => {
    const { spy, repo } = await fresh();
    await repo.saveBlob('data', randomBytes(300));
    await repo.saveTree([fileNode('x')]);
    await repo.flushPacksOnly();
    // Packs stored without an index file (as prune writes them, or a run cut short) are listed too.
    expect(await repo.listIndexFiles()).toEqual([]);
    const packs = await repo.listPacks();
    expect(packs.size).toBe(2);
    for (const [name, size] of packs) expect((await spy.load({ type: 'data', name })).length).toBe(size);
    const unindexed = repo.takeUnindexedPacks();
    expect(unindexed.map((p) => p.id).sort()).toEqual([...packs.keys()].sort());
    expect(repo.takeUnindexedPacks()).toEqual([]);
    const idx = await repo.saveJson('index', { packs: [] });
    expect(await repo.listIndexFiles()).toEqual([idx]);
  });

  it('removes exactly the object named, and reports one that is missing', async () => {
    const { spy, repo } = await fresh();
    await repo.saveBlob('data', randomBytes(300));
    await repo.flush();
    const snap = await repo.saveJson('snapshots', { a: 1 });
    const keep = await repo.saveJson('snapshots', { a: 2 });
    const lock = await repo.lock(false);
    const extraKey = await repo.addKey('second password');
    const [pack] = await names(spy, 'data');
    const [index] = await names(spy, 'index');
    const [lockName] = await names(spy, 'locks');

    const removed: string[] = [];
    spy.after = (call) => {
      if (call.method === 'remove') removed.push(handleKey(call.handle!));
    };
    await repo.removeSnapshot(snap);
    await repo.removePack(pack!);
    await repo.removeIndexFile(index!);
    await repo.removeLock(lockName!);
    await repo.removeKey(extraKey);
    expect(removed).toEqual([`snapshots/${snap}`, `data/${pack}`, `index/${index}`, `locks/${lockName}`, `keys/${extraKey}`]);
    expect(await names(spy, 'snapshots')).toEqual([keep]);
    expect(await names(spy, 'data')).toEqual([]);
    expect(await names(spy, 'index')).toEqual([]);
    expect(await names(spy, 'locks')).toEqual([]);
    expect(await names(spy, 'keys')).toEqual([repo.keyId]);
    await expect(Repository.open(spy, 'second password')).rejects.toThrow(WrongPasswordError);
    await expect(repo.removeSnapshot(snap)).rejects.toThrow(NotFoundError);
    await expect(repo.removePack(pack!)).rejects.toThrow(NotFoundError);
    await lock.release();
  });

  it('adds a key that opens the same repository and lists both keys', async () => {
    const { spy, repo } = await fresh();
    const id = await repo.addKey('second password');
    const again = await Repository.open(spy, 'second password');
    expect(again.keyId).toBe(id);
    expect(again.key.encKey.equals(repo.key.encKey)).toBe(true);
    expect((await repo.listKeys()).map((k) => k.id).sort()).toEqual([repo.keyId, id].sort());
  });

  it('takes locks and lists them through the repository', async () => {
    const { repo } = await fresh();
    const ex = await repo.lock(true);
    expect(await repo.listLocks()).toMatchObject([{ exclusive: true, stale: false, pid: process.pid }]);
    await expect(repo.lock(false)).rejects.toThrow(/locked/);
    await ex.release();
    expect(await repo.listLocks()).toEqual([]);
  });
});

describe('Repository config damage', () => {
  // Format spec §8 step 3 and §18: with the right password the key file opens, but no key that it opens decrypts
  // the config; that is damage (exit 1), not a wrong password (it used to be exit 12).
  it('reports a config that fails authentication as damage, not as a wrong password', async () => {
    const { spy } = await fresh();
    await tamper(spy.inner, CONFIG, (b) => {
      b[b.length - 1] = b[b.length - 1]! ^ 1;
    });
    const err = await Repository.open(spy, PW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DamagedRepoError);
    expect((err as DamagedRepoError).exitCode).toBe(ExitCode.Failure);
  });
});
