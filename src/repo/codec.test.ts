import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { BlobCodec, Payload } from './codec.js';
import { open, SEAL_OVERHEAD, seal } from './crypto.js';

const key = randomBytes(32);
const codec = new BlobCodec(key);
const TEXT = Buffer.from('Open WebUI keeps chats in SQLite. '.repeat(500));

describe('BlobCodec.pack (flag byte and compression choice)', () => {
  it('compresses text and marks it zstd', () => {
    const framed = codec.pack(TEXT);
    expect(framed[0]).toBe(Payload.Zstd);
    expect(framed.length).toBeLessThan(TEXT.length / 10);
    expect(codec.unpack(framed, 't').equals(TEXT)).toBe(true);
  });

  it('stores incompressible data raw, marked raw, one byte longer', () => {
    const data = randomBytes(64 * 1024);
    const framed = codec.pack(data);
    expect(framed[0]).toBe(Payload.Raw);
    expect(framed.length).toBe(data.length + 1);
    expect(framed.subarray(1).equals(data)).toBe(true);
  });

  it('stores tiny inputs raw without trying zstd, and handles the empty input', () => {
    const tiny = Buffer.from('a'.repeat(63));
    expect(codec.pack(tiny)[0]).toBe(Payload.Raw);
    expect(codec.pack(Buffer.from('a'.repeat(64)))[0]).toBe(Payload.Zstd);
    expect(codec.pack(Buffer.alloc(0))).toEqual(Buffer.from([Payload.Raw]));
    expect(codec.unpack(codec.pack(Buffer.alloc(0)), 'e')).toEqual(Buffer.alloc(0));
  });

  it('uses raw when compression saves less than 1/32', () => {
    // Random bytes with a short compressible tail: zstd saves a little, not enough.
    const data = Buffer.concat([randomBytes(31 * 1024), Buffer.alloc(512)]);
    const framed = codec.pack(data);
    expect(framed[0]).toBe(Payload.Raw);
  });
});

describe('BlobCodec.encode / decode', () => {
  it('round-trips text, random and empty data', () => {
    for (const data of [TEXT, randomBytes(100_000), Buffer.alloc(0), Buffer.from('x')]) {
      expect(codec.decode(codec.encode(data)).equals(data)).toBe(true);
    }
  });

  it('seals with the key: the flag byte and payload are inside the encryption', () => {
    const sealed = codec.encode(TEXT);
    const framed = open(key, sealed);
    expect(framed[0]).toBe(Payload.Zstd);
    expect(sealed.length).toBe(framed.length + SEAL_OVERHEAD);
    expect(sealed.includes(Buffer.from('Open WebUI'))).toBe(false);
  });

  it('decodes with another codec instance of the same key (and compression level)', () => {
    expect(new BlobCodec(key, 19).decode(codec.encode(TEXT)).equals(TEXT)).toBe(true);
  });

  it('rejects tampering, the wrong key, an unknown flag and a corrupt zstd payload', () => {
    const sealed = codec.encode(TEXT);
    sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 1;
    expect(() => codec.decode(sealed, 'blob x')).toThrow(DamagedRepoError);
    expect(() => new BlobCodec(randomBytes(32)).decode(codec.encode(TEXT))).toThrow(DamagedRepoError);
    expect(() => codec.decode(seal(key, Buffer.from([7, 1, 2, 3])), 'blob y')).toThrow(/blob y: unknown payload flag 7/);
    expect(() => codec.decode(seal(key, Buffer.from([Payload.Zstd, 1, 2, 3, 4, 5])), 'blob z')).toThrow(/blob z: zstd payload is corrupt/);
  });

  it('encodes and decodes JSON, naming the object when it is not JSON', () => {
    const value = { a: 1, b: ['x', 'y'], c: { d: null } };
    expect(codec.decodeJson(codec.encodeJson(value), 'cfg')).toEqual(value);
    expect(() => codec.decodeJson(codec.encode(Buffer.from('{nope')), 'snapshot 1234')).toThrow(/snapshot 1234 is not valid JSON/);
  });
});
