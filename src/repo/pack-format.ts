import { DamagedRepoError } from '../errors.js';
import { open, seal } from './crypto.js';

/** Blob kinds stored in packs. */
export type BlobType = 'data' | 'tree';

/** One blob's place in a pack. `length` is the stored (sealed) size; `rawLength` the plaintext size. */
export interface PackedBlob {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

/** Target size of a pack; a pack closes once its blobs reach it. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;

const HEADER_VERSION = 1;
const ENTRY_BYTES = 1 + 4 + 4 + 4 + 32;
const TYPE_CODE: Record<BlobType, number> = { data: 0, tree: 1 };

/**
 * Builds the pack trailer: sealed header followed by its length as uint32 LE.
 * Header plaintext: version byte, then per blob: type u8, offset u32, length u32, rawLength u32, id (32 bytes).
 */
export function buildPackTrailer(encKey: Buffer, blobs: readonly PackedBlob[]): Buffer {
  const plain = Buffer.alloc(1 + blobs.length * ENTRY_BYTES);
  plain[0] = HEADER_VERSION;
  let p = 1;
  for (const b of blobs) {
    plain[p] = TYPE_CODE[b.type];
    plain.writeUInt32LE(b.offset, p + 1);
    plain.writeUInt32LE(b.length, p + 5);
    plain.writeUInt32LE(b.rawLength, p + 9);
    Buffer.from(b.id, 'hex').copy(plain, p + 13);
    p += ENTRY_BYTES;
  }
  const sealed = seal(encKey, plain);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(sealed.length, 0);
  return Buffer.concat([sealed, len]);
}

/** Parses and authenticates a pack's header from the complete pack bytes. */
export function parsePackHeader(encKey: Buffer, pack: Buffer, packId: string): PackedBlob[] {
  const where = `pack ${packId.slice(0, 12)}`;
  if (pack.length < 4) throw new DamagedRepoError(`${where} is truncated`);
  const headerLen = pack.readUInt32LE(pack.length - 4);
  const headerStart = pack.length - 4 - headerLen;
  if (headerStart < 0) throw new DamagedRepoError(`${where} has an impossible header length`);
  const plain = open(encKey, pack.subarray(headerStart, pack.length - 4), `${where} header`);
  if (plain[0] !== HEADER_VERSION || (plain.length - 1) % ENTRY_BYTES !== 0) {
    throw new DamagedRepoError(`${where} header has an unknown layout`);
  }
  const blobs: PackedBlob[] = [];
  for (let p = 1; p < plain.length; p += ENTRY_BYTES) {
    const code = plain[p];
    if (code !== 0 && code !== 1) throw new DamagedRepoError(`${where} header has an unknown blob type`);
    const blob: PackedBlob = {
      type: code === 0 ? 'data' : 'tree',
      offset: plain.readUInt32LE(p + 1),
      length: plain.readUInt32LE(p + 5),
      rawLength: plain.readUInt32LE(p + 9),
      id: plain.subarray(p + 13, p + 45).toString('hex'),
    };
    if (blob.offset + blob.length > headerStart) throw new DamagedRepoError(`${where} header points past its blobs`);
    blobs.push(blob);
  }
  return blobs;
}
