/**
 * Known-answer vectors (docs/repository-format.md §23), computed from the specification with node:crypto alone
 * (test/fixtures/kat/make-kat.mjs): owb's own code must read and produce exactly these bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../storage/memory.js';
import { BlobCodec } from './codec.js';
import { blobId, open } from './crypto.js';
import { openKey } from './keys.js';
import { parsePackHeader } from './pack-format.js';
import { decodeTree, encodeTree, type TreeNode } from './tree.js';

const V = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'kat', 'vectors.json'), 'utf8')) as {
  enc_key: string;
  id_key: string;
  chunker_seed: string;
  blob: { plaintext: string; id: string; sealed_framed_raw: string };
  key_file: { password: string; file: Record<string, unknown>; wrapping_key: string };
  pack: { bytes: string; id: string; header_plaintext: string };
  tree: { nodes: TreeNode[]; json: string; json_hex: string; id: string };
};
const h = (s: string): Buffer => Buffer.from(s, 'hex');

describe('known-answer vectors', () => {
  it('blob ids: HMAC-SHA256 under the id key', () => {
    expect(blobId(h(V.id_key), h(V.blob.plaintext))).toBe(V.blob.id);
  });

  it('sealing and the framed payload: the vector opens to flag 0x00 and the plaintext', () => {
    const framed = open(h(V.enc_key), h(V.blob.sealed_framed_raw));
    expect(framed[0]).toBe(0x00);
    expect(framed.subarray(1)).toEqual(h(V.blob.plaintext));
    expect(new BlobCodec(h(V.enc_key)).decode(h(V.blob.sealed_framed_raw), 'kat blob')).toEqual(h(V.blob.plaintext));
  });

  it('key unwrapping: scrypt of the NFC password, then the sealed master key', async () => {
    const backend = new MemoryBackend('kat');
    await backend.save({ type: 'keys', name: 'a'.repeat(64) }, Buffer.from(JSON.stringify(V.key_file.file, null, 2)));
    // The NFD spelling of the same password opens it too (§7: passwords are NFC-normalised).
    for (const pw of [V.key_file.password, V.key_file.password.normalize('NFD')]) {
      const { master } = await openKey(backend, pw);
      expect(master.encKey.toString('hex')).toBe(V.enc_key);
      expect(master.idKey.toString('hex')).toBe(V.id_key);
      expect(master.chunkerSeed.toString('hex')).toBe(V.chunker_seed);
    }
  });

  it('pack header: parses to the one blob the vector holds', () => {
    expect(parsePackHeader(h(V.enc_key), h(V.pack.bytes), V.pack.id)).toEqual([
      { type: 'data', offset: 0, length: h(V.blob.sealed_framed_raw).length, rawLength: h(V.blob.plaintext).length, id: V.blob.id },
    ]);
  });

  it('tree encoding: exactly these bytes, in any input order, and this id', () => {
    const shuffled = [...V.tree.nodes].reverse();
    const bytes = encodeTree(shuffled);
    expect(bytes.toString('hex')).toBe(V.tree.json_hex);
    expect(blobId(h(V.id_key), bytes)).toBe(V.tree.id);
    expect(decodeTree(bytes, V.tree.id).nodes.map((n) => n.name)).toEqual(['a', 'b', 'r\udcff', 'r\ufffd']);
  });
});
