import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Handle } from '../../src/storage/backend.js';
import { LocalBackend } from '../../src/storage/local.js';
import { randomName, runBackendConformance } from './conformance.js';

/** A fresh folder per test, removed afterwards. */
async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'owb-local-'));
}

/** Every file below `dir`, as paths relative to it. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

runBackendConformance('LocalBackend', async () => {
  const dir = await tempRoot();
  return { backend: new LocalBackend(join(dir, 'repo')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

// The fallback for filesystems without hard links must meet the same contract (within one process).
runBackendConformance('LocalBackend without hard links', async () => {
  const dir = await tempRoot();
  return {
    backend: new LocalBackend(join(dir, 'repo'), { hardLinks: false }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalBackend on disk', () => {
  let dir: string;
  let root: string;
  let be: LocalBackend;

  beforeEach(async () => {
    dir = await tempRoot();
    root = join(dir, 'repo');
    be = new LocalBackend(root);
    await be.create();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves into a data prefix folder that is missing (a repository copied without empty folders)', async () => {
    const b = new LocalBackend(root);
    await b.create();
    const name = `ab${randomName().slice(2)}`;
    await rm(join(root, 'data', 'ab'), { recursive: true });
    await b.save({ type: 'data', name }, Buffer.from('payload'));
    expect((await b.load({ type: 'data', name })).toString()).toBe('payload');
  });

  it('creates the full layout with private folders', async () => {
    for (const sub of ['keys', 'index', 'snapshots', 'locks', 'data', 'data/00', 'data/9c', 'data/ff']) {
      const st = await stat(join(root, sub));
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
    }
    expect((await readdir(join(root, 'data'))).length).toBe(256);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
  });

  it('reports its absolute path as location', () => {
    expect(be.location).toBe(root);
    expect(new LocalBackend('relative/repo').location).toBe(join(process.cwd(), 'relative/repo'));
  });

  it('stores objects at the documented paths with mode 0600', async () => {
    const name = 'ab' + randomName().slice(2);
    await be.save({ type: 'data', name }, Buffer.from('d'));
    await be.save({ type: 'config', name: '' }, Buffer.from('c'));
    await be.save({ type: 'keys', name: 'k1' }, Buffer.from('k'));
    expect(await walk(root)).toEqual(expect.arrayContaining(['config', 'keys/k1', `data/ab/${name}`]));
    for (const p of ['config', 'keys/k1', `data/ab/${name}`]) expect((await stat(join(root, p))).mode & 0o777).toBe(0o600);
  });

  it('leaves no temp file behind when saving over an existing object', async () => {
    const h: Handle = { type: 'index', name: randomName() };
    await be.save(h, Buffer.from('one'));
    await expect(be.save(h, Buffer.from('two'))).rejects.toThrow(/already exists/);
    expect(await walk(root)).toEqual([`index/${h.name}`]);
  });

  it('leaves no temp file behind when the final name is taken by a folder', async () => {
    const name = randomName();
    await mkdir(join(root, 'snapshots', name));
    await expect(be.save({ type: 'snapshots', name }, Buffer.from('x'))).rejects.toThrow();
    expect(await walk(root)).toEqual([]);
  });

  it('fails cleanly when a type folder was replaced by a file', async () => {
    await rm(join(root, 'locks'), { recursive: true });
    await writeFile(join(root, 'locks'), 'not a folder');
    await expect(be.save({ type: 'locks', name: randomName() }, Buffer.from('x'))).rejects.toThrow();
    expect(await walk(root)).toEqual(['locks']);
  });

  it('ignores stray temp files when listing', async () => {
    const name = randomName();
    await be.save({ type: 'keys', name }, Buffer.from('key'));
    await writeFile(join(root, 'keys', '.tmp-x'), 'partial');
    await writeFile(join(root, 'data', 'ab', '.tmp-y'), 'partial');
    expect(await be.list('keys')).toEqual([{ name, size: 3 }]);
    expect(await be.list('data')).toEqual([]);
  });

  it('lists a type whose folder is missing as empty', async () => {
    const missing = new LocalBackend(join(dir, 'nowhere'));
    expect(await missing.list('snapshots')).toEqual([]);
    expect(await missing.list('data')).toEqual([]);
    expect(await missing.list('config')).toEqual([]);
  });

  it('rejects names that would escape their folder', async () => {
    for (const name of ['../config', 'a/b', '.hidden', '', '..']) {
      await expect(be.save({ type: 'keys', name }, Buffer.from('x'))).rejects.toThrow(TypeError);
    }
    await expect(be.save({ type: 'data', name: 'a' }, Buffer.from('x'))).rejects.toThrow(TypeError);
    await expect(be.save({ type: 'config', name: 'x' }, Buffer.from('x'))).rejects.toThrow(TypeError);
  });
});
