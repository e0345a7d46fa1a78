import { DamagedRepoError } from '../errors.js';
import { noteBufferTraffic } from '../util/gc.js';
import type { BlobCodec } from './codec.js';
import type { BlobLocation, MasterIndex } from './index-file.js';
import type { PackedBlob } from './pack-format.js';
import { decodeTree, type Tree } from './tree.js';

/** What a TreeLoader needs of a repository (kept narrow so the loader does not depend on Repository). */
export interface TreeSource {
  readonly index: MasterIndex;
  readonly codec: BlobCodec;
  blobIdOf(plaintext: Uint8Array): string;
  loadBlob(id: string): Promise<Buffer>;
  loadPackRange(packId: string, offset: number, length: number): Promise<Buffer>;
}

/** Range reads stay within this size (a few hundred trees). */
const TREE_RANGE = 1024 * 1024;
/** Ranges kept; a walk moves through the tree packs, so a few suffice. */
const TREE_RANGES_KEPT = 4;

/**
 * Loads and verifies tree blobs for a walk (backup's parent trees, restore, check, prune). Trees are small and
 * packed together, so instead of one read per tree it reads a range of neighbouring blobs of the pack (mostly
 * those before it: a directory's tree is written after its children's) and keeps the last few ranges.
 */
export class TreeLoader {
  private packs: Map<string, PackedBlob[]> | undefined;
  private readonly ranges: { packId: string; start: number; buf: Buffer }[] = [];

  constructor(private readonly repo: TreeSource) {}

  /** Loads, verifies and parses a tree. */
  async load(id: string): Promise<Tree> {
    return decodeTree(await this.loadPlain(id), id);
  }

  private async loadPlain(id: string): Promise<Buffer> {
    const loc = this.repo.index.lookup(id);
    const blobs = loc ? this.packBlobs(loc.packId) : undefined;
    // Not indexed (the repository names the problem), or in a pack written since the index was read.
    if (!loc || !blobs) return this.repo.loadBlob(id);
    const range = this.cached(loc) ?? (await this.readRange(loc, blobs));
    const at = loc.offset - range.start;
    const what = `blob ${id.slice(0, 12)}`;
    const plain = this.repo.codec.decode(range.buf.subarray(at, at + loc.length), what);
    if (this.repo.blobIdOf(plain) !== id) throw new DamagedRepoError(`${what} does not match its id (damaged)`);
    return plain;
  }

  private cached(loc: BlobLocation): { start: number; buf: Buffer } | undefined {
    const i = this.ranges.findIndex((r) => r.packId === loc.packId && r.start <= loc.offset && loc.offset + loc.length <= r.start + r.buf.length);
    if (i < 0) return undefined;
    const [r] = this.ranges.splice(i, 1);
    this.ranges.unshift(r!);
    return r;
  }

  private async readRange(loc: BlobLocation, blobs: PackedBlob[]): Promise<{ start: number; buf: Buffer }> {
    let i = lowerBound(blobs, loc.offset);
    if (blobs[i]?.offset !== loc.offset) i = -1;
    let lo = i;
    let hi = i;
    if (i >= 0) {
      const from = loc.offset + loc.length - (TREE_RANGE * 3) / 4;
      const to = loc.offset + TREE_RANGE / 4;
      while (lo > 0 && blobs[lo - 1]!.offset >= from && blobs[lo - 1]!.offset + blobs[lo - 1]!.length === blobs[lo]!.offset) lo--;
      while (hi + 1 < blobs.length && blobs[hi + 1]!.offset + blobs[hi + 1]!.length <= to && blobs[hi]!.offset + blobs[hi]!.length === blobs[hi + 1]!.offset) hi++;
    }
    const start = i >= 0 ? blobs[lo]!.offset : loc.offset;
    const end = i >= 0 ? blobs[hi]!.offset + blobs[hi]!.length : loc.offset + loc.length;
    const buf = await this.repo.loadPackRange(loc.packId, start, end - start);
    noteBufferTraffic(buf.length); // garbage once evicted
    const range = { packId: loc.packId, start, buf };
    this.ranges.unshift(range);
    if (this.ranges.length > TREE_RANGES_KEPT) this.ranges.pop();
    return range;
  }

  /** The blobs of a pack holding trees, by offset; undefined for data packs and packs the index does not list. */
  private packBlobs(packId: string): PackedBlob[] | undefined {
    if (!this.packs) {
      this.packs = new Map();
      for (const p of this.repo.index.packEntries()) {
        if (p.blobs.some((b) => b.type === 'tree')) this.packs.set(p.id, [...p.blobs].sort((a, b) => a.offset - b.offset));
      }
    }
    return this.packs.get(packId);
  }
}

/** Index of the first blob at or after `offset`. */
function lowerBound(blobs: PackedBlob[], offset: number): number {
  let lo = 0;
  let hi = blobs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (blobs[mid]!.offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
