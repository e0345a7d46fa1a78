import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { DamagedRepoError, isNotFound, WrongPasswordError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { checkObjectSize } from './limits.js';
import { defaultScryptParams, deriveKey, open, seal, sha256Hex, type MasterKey, type Password, type ScryptParams } from './crypto.js';

/** Stored form of `keys/<id>`: plain JSON, the master key sealed under a scrypt-derived key. */
export interface KeyFileJson {
  version: 1;
  created: string;
  hostname: string;
  username: string;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

/** What `key list` shows. */
export interface KeyInfo {
  id: string;
  created: string;
  hostname: string;
  username: string;
}

interface MasterKeyJson {
  encrypt: string;
  id: string;
  chunker_seed: string;
}

/** Seals the master key under `password` and stores it as a new key file; returns its id. */
export async function addKey(backend: Backend, master: MasterKey, password: Password, params?: ScryptParams): Promise<string> {
  const kdf = params ?? defaultScryptParams();
  const salt = randomBytes(32);
  const wrapKey = await deriveKey(password, salt, kdf);
  const inner: MasterKeyJson = {
    encrypt: master.encKey.toString('base64'),
    id: master.idKey.toString('base64'),
    chunker_seed: master.chunkerSeed.toString('base64'),
  };
  const file: KeyFileJson = {
    version: 1,
    created: new Date().toISOString(),
    hostname: hostname(),
    username: safeUsername(),
    kdf: 'scrypt',
    ...kdf,
    salt: salt.toString('base64'),
    data: seal(wrapKey, Buffer.from(JSON.stringify(inner))).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 2));
  const id = sha256Hex(bytes);
  await backend.save({ type: 'keys', name: id }, bytes);
  return id;
}

/**
 * Finds the key file that `password` opens, trying each in turn (each try costs one scrypt). `accepts`
 * confirms the master key really belongs to this repository (it opens the config), so that an orphan key
 * left by an interrupted `init` cannot shadow the real one. Unreadable key files are skipped: one damaged
 * key must not lock out every password. Throws WrongPasswordError when none opens.
 */
export async function openKey(
  backend: Backend,
  password: Password,
  accepts: (master: MasterKey) => boolean = () => true,
): Promise<{ keyId: string; master: MasterKey }> {
  const files = await backend.list('keys');
  let opened = 0;
  const unreadable: { name: string; err: unknown }[] = [];
  for (const f of files) {
    let file: KeyFileJson;
    try {
      checkObjectSize('keys', `key file ${f.name.slice(0, 8)}`, f.size);
      file = parseKeyFile(await backend.load({ type: 'keys', name: f.name }), f.name);
    } catch (err) {
      if (!isNotFound(err)) unreadable.push({ name: f.name, err }); // other keys may still open
      continue;
    }
    const wrapKey = await deriveKey(password, Buffer.from(file.salt, 'base64'), { N: file.N, r: file.r, p: file.p });
    let master: MasterKey;
    try {
      const json = JSON.parse(open(wrapKey, Buffer.from(file.data, 'base64'), 'key').toString('utf8')) as MasterKeyJson;
      master = {
        encKey: Buffer.from(json.encrypt, 'base64'),
        idKey: Buffer.from(json.id, 'base64'),
        chunkerSeed: Buffer.from(json.chunker_seed, 'base64'),
      };
    } catch {
      continue; // not this key's password
    }
    if (master.encKey.length !== 32 || master.idKey.length !== 32 || master.chunkerSeed.length !== 32) continue;
    opened++;
    if (accepts(master)) return { keyId: f.name, master };
  }
  // The password opened a key, yet no such key reads the config: the config is damaged, not the password wrong.
  if (opened > 0) throw new DamagedRepoError('the config cannot be decrypted with the key this password opens: the config object is damaged');
  const io = unreadable.find((u) => !(u.err instanceof DamagedRepoError));
  if (io) throw io.err; // e.g. EACCES: the key could not even be read
  if (files.length > 0 && unreadable.length === files.length) {
    throw new DamagedRepoError(`no key file can be read: ${unreadable.map((u) => `keys/${u.name.slice(0, 8)}`).join(', ')} damaged`);
  }
  throw new WrongPasswordError(unreadable.length > 0 ? ` (${unreadable.length} damaged key file(s) skipped)` : '');
}

/** Lists key files with their metadata. */
export async function listKeys(backend: Backend): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for (const f of await backend.list('keys')) {
    const file = parseKeyFile(await backend.load({ type: 'keys', name: f.name }), f.name);
    out.push({ id: f.name, created: file.created, hostname: file.hostname, username: file.username });
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

function parseKeyFile(bytes: Buffer, name: string): KeyFileJson {
  let file: KeyFileJson;
  try {
    file = JSON.parse(bytes.toString('utf8')) as KeyFileJson;
  } catch (err) {
    throw new DamagedRepoError(`key file ${name.slice(0, 8)} is not valid JSON`, { cause: err });
  }
  if (file.version !== 1 || file.kdf !== 'scrypt' || typeof file.salt !== 'string' || typeof file.data !== 'string') {
    throw new DamagedRepoError(`key file ${name.slice(0, 8)} has an unknown layout`);
  }
  // Bounds keep a planted key file from making every open allocate gigabytes or throw.
  const powerOfTwo = Number.isInteger(file.N) && file.N >= 2 && (file.N & (file.N - 1)) === 0;
  if (!powerOfTwo || file.N > 2 ** 20 || !(file.r >= 1 && file.r <= 32) || !(file.p >= 1 && file.p <= 16)) {
    throw new DamagedRepoError(`key file ${name.slice(0, 8)} has out-of-range scrypt parameters`);
  }
  return file;
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
