import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { seal } from './crypto.js';
import { buildPackTrailer, parsePackHeader, type PackedBlob } from './pack-format.js';

const key = randomBytes(32);

/** A pack as the Packer lays it out: sealed blobs back to back, then the trailer. */
function makePack(sizes: { type: PackedBlob['type']; size: number }[]): { pack: Buffer; blobs: PackedBlob[] } {
  const parts: Buffer[] = [];
  const blobs: PackedBlob[] = [];
  let offset = 0;
  for (const { type, size } of sizes) {
    const sealed = seal(key, randomBytes(size));
    blobs.push({ id: randomBytes(32).toString('hex'), type, offset, length: sealed.length, rawLength: size });
    parts.push(sealed);
    offset += sealed.length;
  }
  return { pack: Buffer.concat([...parts, buildPackTrailer(key, blobs)]), blobs };
}

describe('pack trailer', () => {
  it('round-trips every entry: id, type, offset, length and raw length', () => {
    const { pack, blobs } = makePack([
      { type: 'data', size: 1000 },
      { type: 'tree', size: 10 },
      { type: 'data', size: 0 },
      { type: 'data', size: 70_000 },
    ]);
    expect(parsePackHeader(key, pack, 'a'.repeat(64))).toEqual(blobs);
  });

  it('round-trips an empty blob list', () => {
    const pack = buildPackTrailer(key, []);
    expect(parsePackHeader(key, pack, 'b'.repeat(64))).toEqual([]);
  });

  it('ends with the sealed header length as uint32 little-endian', () => {
    const { pack, blobs } = makePack([{ type: 'data', size: 100 }]);
    const trailer = buildPackTrailer(key, blobs);
    const headerLen = trailer.readUInt32LE(trailer.length - 4);
    expect(headerLen).toBe(trailer.length - 4);
    // 1 version byte + 45 bytes per entry, plus nonce and tag.
    expect(headerLen).toBe(1 + 45 + 28);
    expect(pack.readUInt32LE(pack.length - 4)).toBe(headerLen);
  });

  it('detects a flipped byte anywhere in the sealed header', () => {
    const { pack } = makePack([{ type: 'data', size: 100 }, { type: 'tree', size: 50 }]);
    const headerLen = pack.readUInt32LE(pack.length - 4);
    for (let i = pack.length - 4 - headerLen; i < pack.length - 4; i++) {
      const bad = Buffer.from(pack);
      bad[i] = bad[i]! ^ 0x80;
      expect(() => parsePackHeader(key, bad, 'c'.repeat(64)), `byte ${i}`).toThrow(DamagedRepoError);
    }
  });

  it('rejects a damaged length field, truncation, the wrong key, and names the pack', () => {
    const { pack } = makePack([{ type: 'data', size: 100 }]);
    const id = 'deadbeef0123'.padEnd(64, '0');
    const huge = Buffer.from(pack);
    huge.writeUInt32LE(pack.length, pack.length - 4);
    expect(() => parsePackHeader(key, huge, id)).toThrow(/pack deadbeef0123 has an impossible header length/);
    const shorter = Buffer.from(pack);
    shorter.writeUInt32LE(pack.readUInt32LE(pack.length - 4) - 1, pack.length - 4);
    expect(() => parsePackHeader(key, shorter, id)).toThrow(DamagedRepoError);
    expect(() => parsePackHeader(key, pack.subarray(0, 3), id)).toThrow(/truncated/);
    // A pack missing its first byte still has an authentic header, but its entries now overrun the blob area.
    expect(() => parsePackHeader(key, pack.subarray(1), id)).toThrow(/points past its blobs/);
    expect(() => parsePackHeader(randomBytes(32), pack, id)).toThrow(/pack deadbeef0123 header failed authentication/);
  });

  it('rejects a header whose entries point past the blob area', () => {
    const sealed = seal(key, randomBytes(10));
    const lying: PackedBlob[] = [{ id: 'e'.repeat(64), type: 'data', offset: 0, length: sealed.length + 1, rawLength: 10 }];
    const pack = Buffer.concat([sealed, buildPackTrailer(key, lying)]);
    expect(() => parsePackHeader(key, pack, 'f'.repeat(64))).toThrow(/points past its blobs/);
  });

  it('rejects an authentic header with an unknown version, layout or blob type', () => {
    const trailerOf = (plain: Buffer): Buffer => {
      const sealed = seal(key, plain);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(sealed.length);
      return Buffer.concat([sealed, len]);
    };
    const entry = Buffer.alloc(45);
    expect(() => parsePackHeader(key, trailerOf(Buffer.concat([Buffer.from([2]), entry])), '0'.repeat(64))).toThrow(/unknown layout/);
    expect(() => parsePackHeader(key, trailerOf(Buffer.concat([Buffer.from([1]), entry.subarray(1)])), '0'.repeat(64))).toThrow(/unknown layout/);
    const badType = Buffer.from(entry);
    badType[0] = 9;
    expect(() => parsePackHeader(key, trailerOf(Buffer.concat([Buffer.from([1]), badType])), '0'.repeat(64))).toThrow(/unknown blob type/);
  });
});
