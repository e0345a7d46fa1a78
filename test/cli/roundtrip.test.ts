import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, symlink, utimes, lutimes, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupTemp,
  describeTree,
  diffTrees,
  runOk,
  sha256File,
  writeRandomFile,
  type CliOptions,
  type EntryFacts,
} from '../support/cli.js';
import { backupId, initRepoWithSource } from '../support/repo-setup.js';

/** Odd mtimes (seconds with microseconds). */
const T = {
  a: 1_000_000_000.123456,
  b: 1_234_567_890.987654,
  c: 1_700_000_000.000001,
  d: 946_684_799.999999,
  e: 1_111_111_111.111111,
  f: 2_000_000_000.5,
};

/** The NFC and NFD spellings of "café": two different names on Linux. */
const CAFE_NFC = 'caf\u00e9';
const CAFE_NFD = 'cafe\u0301';

/**
 * Builds the tricky tree under `src`: every case a restore tends to get wrong. Directory mtimes and modes
 * are set last, since creating children changes them.
 */
async function buildTrickyTree(src: string, outsideFile: string): Promise<void> {
  await mkdir(join(src, 'nested', 'deeper', 'deepest'), { recursive: true });
  await mkdir(join(src, 'empty-dir'));
  await mkdir(join(src, 'private-dir'));
  await writeFile(join(src, 'nested', 'deeper', 'deepest', 'leaf.txt'), 'leaf\n');
  await writeFile(join(src, 'nested', 'a.txt'), 'alpha\n'.repeat(1000));
  await writeFile(join(src, 'empty-file'), '');
  await writeFile(join(src, 'nested', 'empty-too'), '');
  await writeFile(join(src, 'one-byte'), 'x');
  await writeFile(join(src, 'secret-600'), 'only me\n');
  await chmod(join(src, 'secret-600'), 0o600);
  await writeFile(join(src, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(src, 'script.sh'), 0o755);
  await writeFile(join(src, 'private-dir', 'inside'), 'in a 0750 dir\n');
  await writeRandomFile(join(src, 'random-5MiB.bin'), 5 * 1024 * 1024, 'roundtrip');
  await writeFile(join(src, CAFE_NFC), 'nfc\n');
  await writeFile(join(src, CAFE_NFD), 'nfd\n');
  await writeFile(join(src, '📦 box of emoji 🎉.txt'), 'emoji\n');
  await writeFile(join(src, ' leading and trailing spaces '), 'spaces\n');
  await writeFile(join(src, '-rf'), 'a name that looks like a flag\n');
  await writeFile(join(src, '--help'), 'another one\n');

  await symlink('nested/a.txt', join(src, 'rel-link'));
  await symlink('../one-byte', join(src, 'nested', 'rel-up-link'));
  await symlink(join(src, 'nested', 'a.txt'), join(src, 'abs-link'));
  await symlink(outsideFile, join(src, 'outside-link'));
  await symlink('does/not/exist', join(src, 'dangling-link'));
  await symlink('nested', join(src, 'dir-link'));

  await utimes(join(src, 'one-byte'), T.a, T.a);
  await utimes(join(src, 'empty-file'), T.b, T.b);
  await utimes(join(src, 'random-5MiB.bin'), T.c, T.c);
  await utimes(join(src, 'script.sh'), T.d, T.d);
  await utimes(join(src, 'secret-600'), T.e, T.e);
  await utimes(join(src, CAFE_NFD), T.f, T.f);
  await lutimes(join(src, 'rel-link'), T.b, T.b);
  await lutimes(join(src, 'dangling-link'), T.c, T.c);
  await lutimes(join(src, 'outside-link'), T.d, T.d);

  await chmod(join(src, 'private-dir'), 0o750);
  await utimes(join(src, 'private-dir'), T.a, T.a);
  await utimes(join(src, 'empty-dir'), T.b, T.b);
  await utimes(join(src, 'nested', 'deeper', 'deepest'), T.c, T.c);
  await utimes(join(src, 'nested', 'deeper'), T.d, T.d);
  await utimes(join(src, 'nested'), T.f, T.f);
  await utimes(src, T.b, T.b);
}

describe('backup and restore round trip', () => {
  let base: string;
  let src: string;
  let outsideFile: string;
  let cli: CliOptions;
  let before: Map<string, EntryFacts>;
  let snapshotId: string;

  beforeAll(async () => {
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-roundtrip-',
      password: 'correct horse',
      fill: async (dir, parent) => {
        await mkdir(join(parent, 'outside'));
        outsideFile = join(parent, 'outside', 'not-in-the-backup.txt');
        await writeFile(outsideFile, 'outside the tree\n');
        await utimes(outsideFile, T.a, T.a);
        await buildTrickyTree(dir, outsideFile);
      },
    }));
    snapshotId = await backupId(cli, src);
    before = await describeTree(src);
  });
  afterAll(cleanupTemp);

  it('restores every name, byte, type, mode, mtime and link target of a tricky tree', async () => {
    const target = join(base, 'restored');
    const outsideBefore = await sha256File(outsideFile);
    const outsideMtime = (await lstat(outsideFile, { bigint: true })).mtimeNs;

    await runOk(['restore', snapshotId, '--target', target], cli);

    // The data of /abs/src lands at TARGET/abs/src. Soft, so one wrong detail still lets every check below run.
    const after = await describeTree(join(target, src));
    expect.soft(diffTrees(before, after)).toEqual([]);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    // Spot checks, so that a describeTree bug cannot hide everything.
    expect(after.get('secret-600')?.mode).toBe(0o600);
    expect(after.get('script.sh')?.mode).toBe(0o755);
    expect(after.get('private-dir')?.mode).toBe(0o750);
    expect(after.get('one-byte')?.size).toBe(1);
    expect(after.get('random-5MiB.bin')?.size).toBe(5 * 1024 * 1024);
    expect(after.get('empty-dir')?.type).toBe('dir');
    expect(after.has(CAFE_NFC) && after.has(CAFE_NFD)).toBe(true);

    // Links are restored as links, never followed: the outside file is untouched.
    expect(after.get('outside-link')).toMatchObject({ type: 'symlink', linkTarget: outsideFile });
    expect(after.get('dangling-link')).toMatchObject({ type: 'symlink', linkTarget: 'does/not/exist' });
    expect(after.get('dir-link')).toMatchObject({ type: 'symlink', linkTarget: 'nested' });
    expect(await sha256File(outsideFile)).toBe(outsideBefore);
    expect((await lstat(outsideFile, { bigint: true })).mtimeNs).toBe(outsideMtime);
    expect(await readFile(join(base, 'outside', 'not-in-the-backup.txt'), 'utf8')).toBe('outside the tree\n');
  });

  it('restores a file mtime from before 1970', async () => {
    const old = join(base, 'old');
    await mkdir(old);
    await writeFile(join(old, 'moon-landing.txt'), 'one small step\n');
    // Node's utimes turns a negative number into "now", so the source mtime is set with touch.
    execFileSync('touch', ['-h', '-d', '@-14182940.5', join(old, 'moon-landing.txt')]);
    const want = (await lstat(join(old, 'moon-landing.txt'), { bigint: true })).mtimeNs;
    expect(want).toBe(-14_182_940_500_000_000n);
    await runOk(['backup', old], cli);
    const target = join(base, 'restored-old');
    await runOk(['restore', 'latest', '--target', target], cli);
    const got = (await lstat(join(target, old, 'moon-landing.txt'), { bigint: true })).mtimeNs;
    // To the second only: sub-second times before 1970 cannot be set through Node's fs at all.
    expect(got / 1_000_000_000n).toBe(want / 1_000_000_000n);
  });

  it('stores symlinks as links: ls shows their targets, not the contents they point to', async () => {
    const r = await runOk(['--json', 'ls', snapshotId, src], cli);
    const entries = r.json as { path: string; type: string; linktarget?: string; size?: number }[];
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get(`${src}/outside-link`)).toMatchObject({ type: 'symlink', linktarget: outsideFile });
    expect(byPath.get(`${src}/dir-link`)).toMatchObject({ type: 'symlink', linktarget: 'nested' });
    // Never followed: nothing below the directory link was listed as if it were a directory.
    expect(entries.some((e) => e.path.startsWith(`${src}/dir-link/`))).toBe(false);
    expect(entries.some((e) => e.path.includes('not-in-the-backup'))).toBe(false);
    expect(byPath.get(`${src}/-rf`)).toMatchObject({ type: 'file', size: 30 });
  });
});
