import { DamagedRepoError } from '../errors.js';
import type { BlobType, PackedBlob } from './pack-format.js';

/** Where a blob lives. */
export interface BlobLocation {
  packId: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

/** Stored form of an index file (JSON inside a sealed object). */
export interface IndexFileJson {
  supersedes?: string[];
  packs: { id: string; blobs: { id: string; type: BlobType; offset: number; length: number; raw_length: number }[] }[];
}

/** The in-memory union of all index files: blob id → location. */
export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  private readonly packSizes = new Map<string, number>();
  private readonly packs = new Map<string, readonly PackedBlob[]>();

  /**
   * Adds every blob of one pack. The first location seen for a blob wins (duplicates are harmless); a pack
   * listed by two index files (a prune interrupted between writing and deleting index files) counts once.
   */
  addPack(packId: string, blobs: readonly PackedBlob[]): void {
    if (this.packs.has(packId)) return;
    this.packs.set(packId, blobs);
    let end = 0;
    for (const b of blobs) {
      if (!this.blobs.has(b.id)) {
        this.blobs.set(b.id, { packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
      }
      end = Math.max(end, b.offset + b.length);
    }
    this.packSizes.set(packId, Math.max(end, this.packSizes.get(packId) ?? 0));
  }

  /** Merges a decoded index file; throws DamagedRepoError on a malformed one (nothing is merged then). */
  addIndexFile(file: IndexFileJson): void {
    validateIndexFile(file);
    for (const pack of file.packs) {
      this.addPack(
        pack.id,
        pack.blobs.map((b) => ({ id: b.id, type: b.type, offset: b.offset, length: b.length, rawLength: b.raw_length })),
      );
    }
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  lookup(id: string): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  /** Every pack with the full list of blobs its index entry names. */
  *packEntries(): IterableIterator<{ id: string; blobs: readonly PackedBlob[] }> {
    for (const [id, blobs] of this.packs) yield { id, blobs };
  }

  /** Every pack the index knows. */
  packIds(): IterableIterator<string> {
    return this.packSizes.keys();
  }

  /** Number of distinct blobs indexed. */
  get size(): number {
    return this.blobs.size;
  }

  /** All (id, location) pairs. */
  entries(): IterableIterator<[string, BlobLocation]> {
    return this.blobs.entries();
  }
}

/** Builds the stored JSON for a set of freshly written packs. */
export function indexFileFor(packs: readonly { id: string; blobs: readonly PackedBlob[] }[]): IndexFileJson {
  return {
    packs: packs.map((p) => ({
      id: p.id,
      blobs: p.blobs.map((b) => ({ id: b.id, type: b.type, offset: b.offset, length: b.length, raw_length: b.rawLength })),
    })),
  };
}

const HEX64 = /^[0-9a-f]{64}$/;
const isU32 = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;

function validateIndexFile(file: IndexFileJson): void {
  const ok =
    file !== null &&
    typeof file === 'object' &&
    Array.isArray(file.packs) &&
    file.packs.every(
      (p) =>
        HEX64.test(p.id) &&
        Array.isArray(p.blobs) &&
        p.blobs.every((b) => HEX64.test(b.id) && (b.type === 'data' || b.type === 'tree') && isU32(b.offset) && isU32(b.length) && isU32(b.raw_length)),
    );
  if (!ok) throw new DamagedRepoError('index file is malformed');
}
