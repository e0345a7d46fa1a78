import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATOMIC_TMP_PREFIX, writeFileAtomic, writeTempFile } from './atomic-write.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'owb-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('replaces a file with exactly the given mode, whatever the umask, and leaves no temp file', async () => {
    const path = join(dir, 'owb.prom');
    await writeFile(path, 'old\n', { mode: 0o600 });
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'new\n', 0o644);
    } finally {
      process.umask(old);
    }
    expect(await readFile(path, 'utf8')).toBe('new\n');
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(dir)).toEqual(['owb.prom']);
  });

  it('defaults to 0600 and writes bytes as given', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('removes its temp file when the rename fails and keeps what was there', async () => {
    const path = join(dir, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'x');
    await expect(writeFileAtomic(path, 'data')).rejects.toMatchObject({ code: expect.stringMatching(/^E(ISDIR|NOTEMPTY|EXIST)$/) });
    expect(await readdir(dir)).toEqual(['taken']);
    expect(await readdir(path)).toEqual(['inside']);
  });
});

describe('writeTempFile', () => {
  it('creates a synced temp file beside the target, named so collectors skip it', async () => {
    const tmp = await writeTempFile(join(dir, 'report.log'), 'text', 0o600);
    const name = tmp.slice(dir.length + 1);
    expect(name.startsWith(ATOMIC_TMP_PREFIX)).toBe(true);
    expect(name).not.toMatch(/\.(log|prom|service|timer)$/);
    expect(await readFile(tmp, 'utf8')).toBe('text');
    expect((await stat(tmp)).mode & 0o777).toBe(0o600);
  });
});
