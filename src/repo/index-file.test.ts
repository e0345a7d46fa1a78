import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { indexFileFor, MasterIndex, type IndexFileJson } from './index-file.js';
import type { PackedBlob } from './pack-format.js';

const hex = (): string => randomBytes(32).toString('hex');

function packed(id: string, offset: number, length = 100, type: PackedBlob['type'] = 'data'): PackedBlob {
  return { id, type, offset, length, rawLength: length - 29 };
}

describe('MasterIndex', () => {
  it('keeps the first location it meets for a blob listed in several packs', () => {
    const [a, b, c] = [hex(), hex(), hex()];
    const [p1, p2] = [hex(), hex()];
    const index = new MasterIndex();
    index.addPack(p1, [packed(a, 0), packed(b, 100)]);
    index.addPack(p2, [packed(c, 0, 50), packed(a, 50, 70)]);
    expect(index.lookup(a)).toEqual({ packId: p1, type: 'data', offset: 0, length: 100, rawLength: 71 });
    expect(index.lookup(c)).toEqual({ packId: p2, type: 'data', offset: 0, length: 50, rawLength: 21 });
    expect(index.size).toBe(3);
    expect(index.has(b)).toBe(true);
    expect(index.has(hex())).toBe(false);
    expect(index.lookup(hex())).toBeUndefined();
    // Both packs are known, each with its full blob list, even where a blob's first location is elsewhere.
    expect([...index.packIds()].sort()).toEqual([p1, p2].sort());
    expect([...index.packEntries()].find((p) => p.id === p2)?.blobs.map((x) => x.id)).toEqual([c, a]);
  });

  it('counts a pack listed by two index files once', () => {
    const p = hex();
    const file: IndexFileJson = { packs: [{ id: p, blobs: [{ id: hex(), type: 'tree', offset: 0, length: 40, raw_length: 11 }] }] };
    const index = new MasterIndex();
    index.addIndexFile(file);
    // The same pack again (an interrupted prune leaves its old and new index files) with a different listing.
    index.addIndexFile({ packs: [{ id: p, blobs: [{ id: hex(), type: 'tree', offset: 40, length: 40, raw_length: 11 }] }] });
    expect([...index.packIds()]).toEqual([p]);
    expect([...index.packEntries()]).toHaveLength(1);
    expect(index.size).toBe(1);
    expect([...index.entries()].map(([id]) => id)).toEqual([file.packs[0]!.blobs[0]!.id]);
  });

  const good = { id: 'a'.repeat(64), type: 'data', offset: 0, length: 100, raw_length: 71 };
  it.each<[string, unknown]>([
    ['null', null],
    ['no packs array', { packs: {} }],
    ['a pack id that is not 64 hex digits', { packs: [{ id: 'abc', blobs: [] }] }],
    ['an upper-case pack id', { packs: [{ id: 'A'.repeat(64), blobs: [] }] }],
    ['a pack without blobs', { packs: [{ id: 'b'.repeat(64) }] }],
    ['a blob id that is not hex', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, id: 'z'.repeat(64) }] }] }],
    ['an unknown blob type', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, type: 'blob' }] }] }],
    ['a negative offset', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, offset: -1 }] }] }],
    ['a fractional length', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, length: 1.5 }] }] }],
    ['an offset beyond u32', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, offset: 2 ** 32 }] }] }],
    ['a length given as a string', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, length: '100' }] }] }],
    ['no raw_length', { packs: [{ id: 'b'.repeat(64), blobs: [{ ...good, raw_length: undefined }] }] }],
  ])('rejects an index file with %s, and merges nothing of it', (_name, bad) => {
    const index = new MasterIndex();
    const valid = { id: 'c'.repeat(64), blobs: [{ ...good, id: 'd'.repeat(64) }] };
    // A valid pack ahead of the bad one must not be merged either: the file is rejected as a whole.
    const file = bad !== null && typeof bad === 'object' && Array.isArray((bad as IndexFileJson).packs) ? { packs: [valid, ...(bad as IndexFileJson).packs] } : bad;
    expect(() => index.addIndexFile(file as IndexFileJson)).toThrow(DamagedRepoError);
    expect(index.size).toBe(0);
    expect([...index.packIds()]).toEqual([]);
  });

  it('accepts the u32 edges and a file that lists no packs', () => {
    const index = new MasterIndex();
    index.addIndexFile({ packs: [] });
    const id = hex();
    index.addIndexFile({ packs: [{ id: hex(), blobs: [{ id, type: 'data', offset: 0xffffffff, length: 0, raw_length: 0xffffffff }] }] });
    expect(index.lookup(id)?.offset).toBe(0xffffffff);
  });
});

describe('indexFileFor', () => {
  it('round-trips through JSON into a MasterIndex, with the stored field names', () => {
    const packs = [
      { id: hex(), blobs: [packed(hex(), 0, 300), packed(hex(), 300, 64)] },
      { id: hex(), blobs: [packed(hex(), 0, 45, 'tree')] },
    ];
    const file = indexFileFor(packs);
    const text = JSON.stringify(file);
    expect(text).toContain('"raw_length":');
    expect(text).not.toContain('rawLength');
    const index = new MasterIndex();
    index.addIndexFile(JSON.parse(text) as IndexFileJson);
    for (const p of packs) {
      for (const b of p.blobs) {
        expect(index.lookup(b.id)).toEqual({ packId: p.id, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
      }
    }
    expect([...index.packEntries()]).toEqual(packs);
    expect(file.supersedes).toBeUndefined();
  });
});
