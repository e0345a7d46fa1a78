import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError } from '../../src/errors.js';
import type { Backend, FileInfo, FileType, Handle } from '../../src/storage/backend.js';

/** What a backend under test provides: a fresh, empty backend (create() is called by the suite) and its teardown. */
export interface ConformanceFixture {
  backend: Backend;
  cleanup: () => Promise<void>;
}

/** A random object name, shaped like the SHA-256 ids the repository uses. */
export function randomName(): string {
  return randomBytes(32).toString('hex');
}

/** Every type except config, which has a single object named ''. */
const NAMED_TYPES: readonly Exclude<FileType, 'config'>[] = ['keys', 'data', 'index', 'snapshots', 'locks'];

/** Drains a stream into one Buffer. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Sorts listings so comparisons do not depend on a backend's listing order. */
function sorted(infos: FileInfo[]): FileInfo[] {
  return [...infos].sort((a, b) => a.name.localeCompare(b.name));
}

/** Awaits `p` and returns what it rejected with, failing the test if it resolved. */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

/**
 * The Backend contract as one suite, run unchanged against every backend (local, memory, and later S3,
 * SFTP, rclone), so "implements Backend" means the same behaviour everywhere and not just the same types.
 */
export function runBackendConformance(name: string, setup: () => Promise<ConformanceFixture>): void {
  describe(name, () => {
    let be: Backend;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const fixture = await setup();
      be = fixture.backend;
      cleanup = fixture.cleanup;
      await be.create();
    });

    afterEach(async () => {
      await be.close();
      await cleanup?.();
      cleanup = undefined;
    });

    it('declares its location and properties', () => {
      expect(be.location.length).toBeGreaterThan(0);
      expect(be.properties.connections).toBeGreaterThanOrEqual(1);
      expect(typeof be.properties.hasAtomicReplace).toBe('boolean');
    });

    it('round-trips an object of every type', async () => {
      const handles: Handle[] = [{ type: 'config', name: '' }, ...NAMED_TYPES.map((type) => ({ type, name: randomName() }))];
      const payloads = handles.map(() => randomBytes(1000 + Math.floor(Math.random() * 1000)));
      for (const [i, h] of handles.entries()) await be.save(h, payloads[i]!);
      for (const [i, h] of handles.entries()) {
        const got = await be.load(h);
        expect(Buffer.isBuffer(got)).toBe(true);
        expect(got.equals(payloads[i]!)).toBe(true);
      }
    });

    it('loads ranges, including the last byte and an empty range at the end', async () => {
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(4096);
      await be.save(h, data);
      expect((await be.load(h, 100, 50)).equals(data.subarray(100, 150))).toBe(true);
      expect((await be.load(h, 4095, 1)).equals(data.subarray(4095))).toBe(true);
      expect((await be.load(h, 0, 4096)).equals(data)).toBe(true);
      expect((await be.load(h, 1000)).equals(data.subarray(1000))).toBe(true);
      expect((await be.load(h, 4096, 0)).length).toBe(0);
    });

    it('fails a range that runs past the end, and not with NotFoundError', async () => {
      const h: Handle = { type: 'data', name: randomName() };
      await be.save(h, randomBytes(100));
      for (const [offset, length] of [[99, 2], [100, 1], [200, 1]] as const) {
        const err = await rejectionOf(be.load(h, offset, length));
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(NotFoundError);
      }
    });

    it('stores an empty object', async () => {
      const h: Handle = { type: 'locks', name: randomName() };
      await be.save(h, new Uint8Array(0));
      expect((await be.load(h)).length).toBe(0);
      expect((await be.stat(h)).size).toBe(0);
      expect(await be.list('locks')).toEqual([{ name: h.name, size: 0 }]);
      expect((await readAll(await be.openReadStream(h))).length).toBe(0);
    });

    it('round-trips a 20 MiB object byte for byte', async () => {
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(20 * 1024 * 1024);
      await be.save(h, data);
      expect((await be.stat(h)).size).toBe(data.length);
      expect((await be.load(h)).equals(data)).toBe(true);
      expect((await readAll(await be.openReadStream(h))).equals(data)).toBe(true);
      const tail = data.length - 1000;
      expect((await be.load(h, tail, 1000)).equals(data.subarray(tail))).toBe(true);
    });

    it('refuses to save over an existing object and keeps the original bytes', async () => {
      for (const h of [{ type: 'config', name: '' }, { type: 'snapshots', name: randomName() }] satisfies Handle[]) {
        const original = randomBytes(500);
        await be.save(h, original);
        const err = await rejectionOf(be.save(h, randomBytes(700)));
        expect(err).toBeInstanceOf(AlreadyExistsError);
        expect(String((err as Error).message)).toMatch(/exist/i);
        expect((await be.load(h)).equals(original)).toBe(true);
        expect((await be.stat(h)).size).toBe(500);
      }
    });

    it('throws NotFoundError for load, stat, remove and openReadStream of a missing object', async () => {
      for (const h of [{ type: 'config', name: '' }, ...NAMED_TYPES.map((type) => ({ type, name: randomName() }))] satisfies Handle[]) {
        expect(await rejectionOf(be.load(h))).toBeInstanceOf(NotFoundError);
        expect(await rejectionOf(be.load(h, 0, 10))).toBeInstanceOf(NotFoundError);
        expect(await rejectionOf(be.stat(h))).toBeInstanceOf(NotFoundError);
        expect(await rejectionOf(be.remove(h))).toBeInstanceOf(NotFoundError);
        expect(await rejectionOf(be.openReadStream(h))).toBeInstanceOf(NotFoundError);
      }
    });

    it('reports exists() before save, after save and after remove', async () => {
      const h: Handle = { type: 'index', name: randomName() };
      expect(await be.exists(h)).toBe(false);
      await be.save(h, randomBytes(10));
      expect(await be.exists(h)).toBe(true);
      expect(await be.exists({ type: 'snapshots', name: h.name })).toBe(false);
      await be.remove(h);
      expect(await be.exists(h)).toBe(false);
      expect(await rejectionOf(be.load(h))).toBeInstanceOf(NotFoundError);
    });

    it('stats the size and name of an object', async () => {
      const h: Handle = { type: 'keys', name: randomName() };
      await be.save(h, randomBytes(1234));
      expect(await be.stat(h)).toEqual({ name: h.name, size: 1234 });
    });

    it('lists exactly the saved objects of each type, with sizes', async () => {
      const expected = new Map<FileType, FileInfo[]>(NAMED_TYPES.map((t) => [t, []]));
      const counts: Record<Exclude<FileType, 'config'>, number> = { keys: 3, data: 5, index: 2, snapshots: 1, locks: 0 };
      for (const type of NAMED_TYPES) {
        for (let i = 0; i < counts[type]; i++) {
          const h: Handle = { type, name: randomName() };
          const size = 10 + Math.floor(Math.random() * 500);
          await be.save(h, randomBytes(size));
          expected.get(type)!.push({ name: h.name, size });
        }
      }
      await be.save({ type: 'config', name: '' }, randomBytes(42));
      for (const type of NAMED_TYPES) expect(sorted(await be.list(type))).toEqual(sorted(expected.get(type)!));
      expect(await be.list('config')).toEqual([{ name: '', size: 42 }]);
    });

    it('lists nothing for config before it is saved', async () => {
      expect(await be.list('config')).toEqual([]);
      for (const type of NAMED_TYPES) expect(await be.list(type)).toEqual([]);
    });

    it('drops removed objects from list()', async () => {
      const a: Handle = { type: 'snapshots', name: randomName() };
      const b: Handle = { type: 'snapshots', name: randomName() };
      await be.save(a, randomBytes(5));
      await be.save(b, randomBytes(6));
      await be.remove(a);
      expect(await be.list('snapshots')).toEqual([{ name: b.name, size: 6 }]);
      await be.remove(b);
      expect(await be.list('snapshots')).toEqual([]);
    });

    it('lists data objects across different two-character prefixes by bare name', async () => {
      const names = ['00', '0f', '7a', 'ab', 'ff', 'ff'].map((p) => p + randomName().slice(2));
      for (const n of names) await be.save({ type: 'data', name: n }, Buffer.from(n));
      const listed = sorted(await be.list('data'));
      expect(listed).toEqual(sorted(names.map((n) => ({ name: n, size: 64 }))));
    });

    it('streams the saved bytes', async () => {
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(300_000);
      await be.save(h, data);
      expect((await readAll(await be.openReadStream(h))).equals(data)).toBe(true);
    });

    it('accepts create() again on an existing layout without losing objects', async () => {
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(64);
      await be.save(h, data);
      await be.create();
      await be.create();
      expect((await be.load(h)).equals(data)).toBe(true);
      expect(await be.list('data')).toEqual([{ name: h.name, size: 64 }]);
    });

    it('lands 16 concurrent saves of distinct objects', async () => {
      const items = Array.from({ length: 16 }, () => ({ h: { type: 'data', name: randomName() } as Handle, data: randomBytes(50_000) }));
      await Promise.all(items.map(({ h, data }) => be.save(h, data)));
      for (const { h, data } of items) expect((await be.load(h)).equals(data)).toBe(true);
      expect(sorted(await be.list('data'))).toEqual(sorted(items.map(({ h }) => ({ name: h.name, size: 50_000 }))));
    });

    it('lets exactly one of several concurrent saves of the same name win, unmixed', async () => {
      const h: Handle = { type: 'locks', name: randomName() };
      const candidates = Array.from({ length: 8 }, () => randomBytes(256 * 1024));
      const results = await Promise.allSettled(candidates.map((c) => be.save(h, c)));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      const stored = await be.load(h);
      expect(stored.equals(candidates[winners[0]!]!)).toBe(true);
      expect(await be.list('locks')).toEqual([{ name: h.name, size: 256 * 1024 }]);
    });

    it('isolates stored bytes from buffers the caller mutates', async () => {
      const h: Handle = { type: 'index', name: randomName() };
      const input = randomBytes(128);
      const original = Buffer.from(input);
      await be.save(h, input);
      input.fill(0);
      const first = await be.load(h);
      expect(first.equals(original)).toBe(true);
      first.fill(0xff);
      const ranged = await be.load(h, 0, 16);
      ranged.fill(0xee);
      expect((await be.load(h)).equals(original)).toBe(true);
    });
  });
}
