import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { blobId, defaultScryptParams, deriveKey, NONCE_BYTES, newMasterKey, open, seal, SEAL_OVERHEAD, sha256Hex, TAG_BYTES } from './crypto.js';

const CHEAP = { N: 1024, r: 8, p: 1 };

describe('seal / open', () => {
  const key = randomBytes(32);

  it('round-trips data of any size, adding exactly nonce + tag', () => {
    for (const size of [0, 1, 15, 16, 17, 4096, 1 << 20]) {
      const plain = randomBytes(size);
      const sealed = seal(key, plain);
      expect(sealed.length).toBe(size + SEAL_OVERHEAD);
      expect(open(key, sealed).equals(plain)).toBe(true); // Buffer.equals: deep equality of 1 MiB is slow
    }
    expect(SEAL_OVERHEAD).toBe(NONCE_BYTES + TAG_BYTES);
  });

  it('uses a fresh nonce each time, so equal plaintexts never seal alike', () => {
    const plain = Buffer.from('same text');
    const a = seal(key, plain);
    const b = seal(key, plain);
    expect(a.subarray(0, NONCE_BYTES)).not.toEqual(b.subarray(0, NONCE_BYTES));
    expect(a).not.toEqual(b);
    // The plaintext does not appear in the sealed bytes.
    expect(a.includes(plain)).toBe(false);
  });

  it('detects a flipped bit anywhere: nonce, body or tag', () => {
    const sealed = seal(key, Buffer.from('authenticated content, 32 bytes'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 0x01;
      expect(() => open(key, bad, 'thing'), `byte ${i}`).toThrow(DamagedRepoError);
    }
  });

  it('rejects the wrong key, truncation and appended bytes', () => {
    const sealed = seal(key, Buffer.from('hello'));
    expect(() => open(randomBytes(32), sealed)).toThrow(/failed authentication/);
    expect(() => open(key, sealed.subarray(0, sealed.length - 1))).toThrow(DamagedRepoError);
    expect(() => open(key, Buffer.concat([sealed, Buffer.from([0])]))).toThrow(DamagedRepoError);
    expect(() => open(key, sealed.subarray(0, SEAL_OVERHEAD - 1), 'index file')).toThrow(/index file is truncated/);
  });

  it('opens a sealed object that sits at an offset inside a larger buffer (as blobs inside a pack do)', () => {
    const sealed = seal(key, Buffer.from('inside a pack'));
    const pack = Buffer.concat([randomBytes(100), sealed, randomBytes(50)]);
    expect(open(key, pack.subarray(100, 100 + sealed.length)).toString()).toBe('inside a pack');
  });
});

describe('ids', () => {
  it('blobId is a keyed HMAC: stable for one key, different for another, 64 hex digits', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const data = Buffer.from('chunk');
    expect(blobId(k1, data)).toBe(blobId(k1, Buffer.from('chunk')));
    expect(blobId(k1, data)).toMatch(/^[0-9a-f]{64}$/);
    expect(blobId(k1, data)).not.toBe(blobId(k2, data));
    expect(blobId(k1, data)).not.toBe(sha256Hex(data));
    expect(blobId(k1, data)).not.toBe(blobId(k1, Buffer.from('chunK')));
  });

  it('sha256Hex matches the standard test vector', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('newMasterKey makes three independent 32-byte secrets', () => {
    const k = newMasterKey();
    expect([k.encKey.length, k.idKey.length, k.chunkerSeed.length]).toEqual([32, 32, 32]);
    expect(k.encKey).not.toEqual(k.idKey);
    expect(newMasterKey().encKey).not.toEqual(k.encKey);
  });
});

describe('deriveKey', () => {
  const KEY = Symbol.for('owb.instrumentation');
  const g = globalThis as Record<symbol, unknown>;
  const installed = g[KEY];
  afterEach(() => {
    g[KEY] = installed;
  });

  it('is deterministic for one password, salt and cost, and changes with each', async () => {
    const salt = randomBytes(32);
    const a = await deriveKey('pw', salt, CHEAP);
    expect(a.length).toBe(32);
    expect(await deriveKey('pw', salt, CHEAP)).toEqual(a);
    expect(await deriveKey('pw2', salt, CHEAP)).not.toEqual(a);
    expect(await deriveKey('pw', randomBytes(32), CHEAP)).not.toEqual(a);
    expect(await deriveKey('pw', salt, { ...CHEAP, N: 2048 })).not.toEqual(a);
  });

  it('treats the NFC and NFD spellings of a password as the same password', async () => {
    const salt = randomBytes(32);
    expect(await deriveKey('caf\u00e9', salt, CHEAP)).toEqual(await deriveKey('cafe\u0301', salt, CHEAP));
  });

  it('uses the strong default cost whatever the environment says; only a test preload lowers it', () => {
    g[KEY] = undefined;
    process.env.OWB_TEST_CHEAP_KDF = '1';
    try {
      expect(defaultScryptParams()).toEqual({ N: 65536, r: 8, p: 1 });
    } finally {
      delete process.env.OWB_TEST_CHEAP_KDF;
    }
    g[KEY] = { scrypt: { N: 1024, r: 8, p: 1 } };
    expect(defaultScryptParams().N).toBe(1024);
  });

  it('can actually run the default cost (memory limit set high enough)', async () => {
    g[KEY] = undefined;
    const key = await deriveKey('pw', randomBytes(32), defaultScryptParams());
    expect(key.length).toBe(32);
  });
});
