import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { DamagedRepoError } from '../errors.js';
import { instrumentation } from '../util/instrument.js';

/** Bytes of the random AES-GCM nonce that prefixes every sealed object. */
export const NONCE_BYTES = 12;
/** Bytes of the GCM authentication tag that ends every sealed object. */
export const TAG_BYTES = 16;
/** Overhead of seal(): nonce + tag. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * The repository's secrets. Decrypted from a key file with the user's password; never stored in clear.
 * - encKey encrypts every object (AES-256-GCM).
 * - idKey keys blob ids, so ids reveal nothing about content.
 * - chunkerSeed derives the chunker's gear table, so chunk boundaries reveal nothing either.
 */
export interface MasterKey {
  encKey: Buffer;
  idKey: Buffer;
  chunkerSeed: Buffer;
}

/** A fresh random master key. */
export function newMasterKey(): MasterKey {
  return { encKey: randomBytes(32), idKey: randomBytes(32), chunkerSeed: randomBytes(32) };
}

/** Encrypts with AES-256-GCM: nonce ‖ ciphertext ‖ tag. */
export function seal(key: Buffer, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([nonce, body, tail, cipher.getAuthTag()]);
}

/** Decrypts the output of seal(); throws DamagedRepoError when authentication fails. */
export function open(key: Buffer, sealed: Uint8Array, what = 'object'): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new DamagedRepoError(`${what} is truncated`);
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = buf.subarray(0, NONCE_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(buf.subarray(NONCE_BYTES, buf.length - TAG_BYTES));
    return Buffer.concat([body, decipher.final()]);
  } catch (err) {
    throw new DamagedRepoError(`${what} failed authentication (damaged or tampered)`, { cause: err });
  }
}

/** Keyed blob id: HMAC-SHA256(idKey, plaintext), as 64 hex digits. */
export function blobId(idKey: Buffer, plaintext: Uint8Array): string {
  return createHmac('sha256', idKey).update(plaintext).digest('hex');
}

/** SHA-256 as 64 hex digits: the names of packs, index, snapshot, key and lock files. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** scrypt cost parameters, stored in each key file. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Cost of new keys: 2^16 × 8 × 128 B = 64 MiB and roughly 0.2 s here. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 65536, r: 8, p: 1 });

/**
 * The cost for a new key. Only a test preload can lower it (test suites create hundreds of repositories); the
 * parameters used are recorded in each key file, so readers never depend on this.
 */
export function defaultScryptParams(): ScryptParams {
  return { ...(instrumentation().scrypt ?? DEFAULT_SCRYPT) };
}

/**
 * A password as scrypt sees it: text is Unicode-normalised (NFC) and UTF-8 encoded, so the same password typed
 * on two systems opens the same key. Bytes that are valid UTF-8 count as that text; other bytes (a binary
 * password file) are used exactly as they are, never replaced by U+FFFD, which would make distinct passwords equal.
 */
export type Password = string | Uint8Array;

/** The bytes scrypt derives from, per {@link Password}. */
export function passwordBytes(password: Password): Buffer {
  if (typeof password === 'string') return Buffer.from(password.normalize('NFC'), 'utf8');
  try {
    return Buffer.from(new TextDecoder('utf-8', { fatal: true }).decode(password).normalize('NFC'), 'utf8');
  } catch {
    return Buffer.from(password);
  }
}

/** Derives a 32-byte key from a password. */
export function deriveKey(password: Password, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * params.p * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCb(passwordBytes(password), salt, 32, { ...params, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
