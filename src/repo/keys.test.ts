import { hostname, userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DamagedRepoError, ExitCode, WrongPasswordError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { MemoryBackend } from '../storage/memory.js';
import { SpyBackend, tamper } from '../../test/support/backend-wrappers.js';
import { newMasterKey, sha256Hex, type MasterKey } from './crypto.js';
import { addKey, listKeys, openKey, type KeyFileJson } from './keys.js';

/** Stores `file` as a key file under the SHA-256 of its bytes, as addKey names them. */
async function saveKeyFile(backend: Backend, file: unknown): Promise<string> {
  const bytes = Buffer.from(typeof file === 'string' ? file : JSON.stringify(file, null, 2));
  const name = sha256Hex(bytes);
  await backend.save({ type: 'keys', name }, bytes);
  return name;
}

async function readKeyFile(backend: Backend, name: string): Promise<KeyFileJson> {
  return JSON.parse((await backend.load({ type: 'keys', name })).toString('utf8')) as KeyFileJson;
}

function sameKey(a: MasterKey, b: MasterKey): boolean {
  return a.encKey.equals(b.encKey) && a.idKey.equals(b.idKey) && a.chunkerSeed.equals(b.chunkerSeed);
}

describe('addKey and openKey', () => {
  it('round-trips the master key under a password', async () => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    const id = await addKey(backend, master, 'correct horse');
    const opened = await openKey(backend, 'correct horse');
    expect(opened.keyId).toBe(id);
    expect(sameKey(opened.master, master)).toBe(true);
  });

  it('names the key file by the SHA-256 of its bytes and records its scrypt cost', async () => {
    const backend = new MemoryBackend();
    const id = await addKey(backend, newMasterKey(), 'pw', { N: 256, r: 4, p: 2 });
    const bytes = await backend.load({ type: 'keys', name: id });
    expect(sha256Hex(bytes)).toBe(id);
    expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({ version: 1, kdf: 'scrypt', N: 256, r: 4, p: 2 });
    // The recorded cost is the one used: a reader with the file alone opens it.
    await expect(openKey(backend, 'pw')).resolves.toMatchObject({ keyId: id });
  });

  it('refuses a wrong password with WrongPasswordError (exit 12)', async () => {
    const backend = new MemoryBackend();
    await addKey(backend, newMasterKey(), 'right');
    const err = await openKey(backend, 'wrong').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongPasswordError);
    expect((err as WrongPasswordError).exitCode).toBe(ExitCode.WrongPassword);
    await expect(openKey(backend, 'Right')).rejects.toThrow(WrongPasswordError);
    await expect(openKey(backend, 'right ')).rejects.toThrow(WrongPasswordError);
  });

  it('refuses every password when there is no key file', async () => {
    await expect(openKey(new MemoryBackend(), '')).rejects.toThrow(WrongPasswordError);
  });

  it('opens with either Unicode spelling of the same password (normalised to NFC)', async () => {
    const backend = new MemoryBackend();
    const id = await addKey(backend, newMasterKey(), 'caf\u00e9');
    expect((await openKey(backend, 'cafe\u0301')).keyId).toBe(id);
  });

  it('holds several keys to one master key, and each password opens its own', async () => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    const ids = [await addKey(backend, master, 'one'), await addKey(backend, master, 'two'), await addKey(backend, master, 'three')];
    expect(new Set(ids).size).toBe(3);
    for (const [i, pw] of ['one', 'two', 'three'].entries()) {
      const opened = await openKey(backend, pw);
      expect(opened.keyId).toBe(ids[i]);
      expect(sameKey(opened.master, master)).toBe(true);
    }
  });

  it('skips damaged key files and still opens with a good one listed after them', async () => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    await saveKeyFile(backend, 'not json at all');
    await saveKeyFile(backend, { version: 2, kdf: 'scrypt', salt: 'AAAA', data: 'AAAA', N: 1024, r: 8, p: 1 });
    await saveKeyFile(backend, { version: 1, kdf: 'argon2', salt: 'AAAA', data: 'AAAA', N: 1024, r: 8, p: 1 });
    await saveKeyFile(backend, { version: 1, kdf: 'scrypt', N: 1024, r: 8, p: 1 });
    // A well-formed file whose sealed master key has a flipped byte: the password matches, the seal does not.
    const flipped = await addKey(backend, master, 'pw');
    await tamper(backend, { type: 'keys', name: flipped }, (bytes) => {
      const file = JSON.parse(bytes.toString('utf8')) as KeyFileJson;
      const data = Buffer.from(file.data, 'base64');
      data[20] = data[20]! ^ 1;
      return Buffer.from(JSON.stringify({ ...file, data: data.toString('base64') }, null, 2));
    });
    const good = await addKey(backend, master, 'pw');
    const opened = await openKey(backend, 'pw');
    expect(opened.keyId).toBe(good);
    expect(sameKey(opened.master, master)).toBe(true);
  });

  it('skips a key file that vanishes between listing and reading', async () => {
    const spy = new SpyBackend(new MemoryBackend());
    const master = newMasterKey();
    const gone = await addKey(spy, master, 'pw');
    const good = await addKey(spy, master, 'pw');
    spy.before = async (call) => {
      if (call.method === 'load' && call.handle?.name === gone) await spy.inner.remove(call.handle);
    };
    expect((await openKey(spy, 'pw')).keyId).toBe(good);
  });

  it('skips a key that opens but wraps a master key of the wrong size', async () => {
    const backend = new MemoryBackend();
    const short: MasterKey = { ...newMasterKey(), idKey: Buffer.alloc(16, 7) };
    await addKey(backend, short, 'pw');
    await expect(openKey(backend, 'pw')).rejects.toThrow(WrongPasswordError);
  });

  it('passes over a key that `accepts` rejects (an orphan of an interrupted init) and finds the real one', async () => {
    const backend = new MemoryBackend();
    const orphan = newMasterKey();
    const real = newMasterKey();
    await addKey(backend, orphan, 'same password');
    const realId = await addKey(backend, real, 'same password');
    const seen: MasterKey[] = [];
    const opened = await openKey(backend, 'same password', (m) => {
      seen.push(m);
      return m.encKey.equals(real.encKey);
    });
    expect(opened.keyId).toBe(realId);
    expect(sameKey(opened.master, real)).toBe(true);
    expect(seen.some((m) => sameKey(m, orphan))).toBe(true);
    // When only the orphan is left, the password opens a key that cannot read the config: reported as damage
    // (the config, or the keys, are not what they were), not as a wrong password.
    await backend.remove({ type: 'keys', name: realId });
    await expect(openKey(backend, 'same password', (m) => m.encKey.equals(real.encKey))).rejects.toThrow(DamagedRepoError);
  });
});

describe('scrypt parameter bounds', () => {
  it.each([
    ['N too large', { N: 2 ** 21 }],
    ['N not a power of two', { N: 1000 }],
    ['N of 1', { N: 1 }],
    ['N as a string', { N: '1024' }],
    ['r of 0', { r: 0 }],
    ['r above 32', { r: 33 }],
    ['p of 0', { p: 0 }],
    ['p above 16', { p: 17 }],
    ['p missing', { p: undefined }],
  ])('refuses a key file with %s without running scrypt on it', async (_name, change) => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    const valid = await readKeyFile(backend, await addKey(backend, master, 'pw'));
    await backend.remove({ type: 'keys', name: sha256Hex(Buffer.from(JSON.stringify(valid, null, 2))) });
    // The planted file keeps a genuine salt and sealed key: only the parameters are out of bounds.
    const planted = await saveKeyFile(backend, { ...valid, ...change });
    // The only key file cannot be read: that is damage (exit 1), not a wrong password (exit 12).
    await expect(openKey(backend, 'pw')).rejects.toThrow(new RegExp(`no key file can be read: keys/${planted.slice(0, 8)} damaged`));
    await expect(listKeys(backend)).rejects.toThrow(DamagedRepoError);
    await expect(listKeys(backend)).rejects.toThrow(new RegExp(`key file ${planted.slice(0, 8)} has out-of-range scrypt parameters`));
  });

  it('accepts the edges of the bounds', async () => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    const id = await addKey(backend, master, 'pw', { N: 2, r: 32, p: 16 });
    expect((await openKey(backend, 'pw')).keyId).toBe(id);
  });
});

describe('listKeys', () => {
  it('lists every key sorted by creation time, with its host and user', async () => {
    const backend = new MemoryBackend();
    const template = await readKeyFile(backend, await addKey(backend, newMasterKey(), 'pw'));
    const [first] = await listKeys(backend);
    expect(first).toMatchObject({ hostname: hostname(), username: userInfo().username, created: template.created });
    await backend.remove({ type: 'keys', name: first!.id });
    // Stored (and so listed by the backend) out of order.
    const c = await saveKeyFile(backend, { ...template, created: '2025-03-03T00:00:00.000Z', hostname: 'host-c', username: 'carol' });
    const a = await saveKeyFile(backend, { ...template, created: '2025-03-01T00:00:00.000Z', hostname: 'host-a', username: 'alice' });
    const b = await saveKeyFile(backend, { ...template, created: '2025-03-02T00:00:00.000Z', hostname: 'host-b', username: '' });
    expect(await listKeys(backend)).toEqual([
      { id: a, created: '2025-03-01T00:00:00.000Z', hostname: 'host-a', username: 'alice' },
      { id: b, created: '2025-03-02T00:00:00.000Z', hostname: 'host-b', username: '' },
      { id: c, created: '2025-03-03T00:00:00.000Z', hostname: 'host-c', username: 'carol' },
    ]);
  });
});

describe('what a key file reveals', () => {
  /** The base64 text of `part` as it appears inside a longer base64 string, at each of the three byte alignments. */
  function base64Forms(part: Buffer): string[] {
    return [0, 1, 2].map((shift) => {
      const enc = Buffer.concat([Buffer.alloc(shift), part]).toString('base64');
      const first = shift === 0 ? 0 : 1; // the first group also holds the padding bytes
      return enc.slice(4 * first, 4 * Math.floor((shift + part.length) / 3));
    });
  }

  it('never holds the master key or the password in clear, in any common encoding', async () => {
    const backend = new MemoryBackend();
    const master = newMasterKey();
    const password = 'a password that must stay secret';
    const id = await addKey(backend, master, password);
    const stored = await backend.load({ type: 'keys', name: id });
    const file = JSON.parse(stored.toString('utf8')) as Record<string, unknown>;
    // The file itself, and every string field decoded as base64 (a master key encoded but not sealed would show there).
    const haystacks = [stored, ...Object.values(file).filter((v): v is string => typeof v === 'string').map((v) => Buffer.from(v, 'base64'))];
    for (const hay of haystacks) {
      const text = hay.toString('latin1');
      for (const part of [master.encKey, master.idKey, master.chunkerSeed]) {
        expect(hay.includes(part)).toBe(false);
        expect(text).not.toContain(part.toString('hex'));
        for (const form of [...base64Forms(part), part.toString('base64url')]) expect(text).not.toContain(form);
      }
      expect(text).not.toContain(password);
    }
    // Only the documented fields are in clear.
    expect(Object.keys(file).sort()).toEqual(['N', 'created', 'data', 'hostname', 'kdf', 'p', 'r', 'salt', 'username', 'version']);
  });
});
