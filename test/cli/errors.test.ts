import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, runCli, runOk, sha256File, treeBytes, writePassword, type CliOptions } from '../support/cli.js';
import { backupId, initRepoWithSource } from '../support/repo-setup.js';

/** stderr as lines, without the final newline. */
function lines(text: string): string[] {
  return text.replace(/\n$/, '').split('\n');
}

describe('errors and refusals', () => {
  let base: string;
  let src: string;
  let cli: CliOptions;
  let snapshotId: string;

  beforeAll(async () => {
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-errors-',
      password: 'the right one',
      fill: async (dir) => {
        await mkdir(join(dir, 'sub'), { recursive: true });
        await writeFile(join(dir, 'a.txt'), 'first file\n');
        await writeFile(join(dir, 'sub', 'b.txt'), 'second file\n');
      },
    }));
    snapshotId = await backupId(cli, src);
  });
  afterAll(cleanupTemp);

  it('exits 12 with one line on stderr for a wrong password', async () => {
    const wrong = await writePassword(base, 'not the right one', 'wrong-password');
    for (const args of [['snapshots'], ['backup', src], ['restore', 'latest', '--target', join(base, 'never')]]) {
      const r = await runCli(args, { ...cli, passwordFile: wrong });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(12);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/password/);
      expect(r.stderr).not.toContain('not the right one');
      expect(r.stdout).toBe('');
    }
    await expect(stat(join(base, 'never'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes the password from OWB_PASSWORD too, and still exits 12 when it is wrong', async () => {
    const ok = await runCli(['snapshots'], { repo: cli.repo, env: { OWB_PASSWORD: 'the right one' } });
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await runCli(['snapshots'], { repo: cli.repo, env: { OWB_PASSWORD: 'nope' } });
    expect(bad.code).toBe(12);
  });

  it('exits 10 when there is no repository, and creates nothing', async () => {
    const missing = join(base, 'no-such-repo');
    for (const args of [['snapshots'], ['backup', src], ['check']]) {
      const r = await runCli(args, { ...cli, repo: missing });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(10);
      expect(lines(r.stderr)).toHaveLength(1);
    }
    await expect(stat(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    // An empty folder is no repository either.
    const empty = join(base, 'empty-folder');
    await mkdir(empty);
    expect((await runCli(['snapshots'], { ...cli, repo: empty })).code).toBe(10);
    expect(await readdir(empty)).toEqual([]);
  });

  it('refuses init on an existing repository, which still opens and lists its snapshots', async () => {
    const sizeBefore = await treeBytes(cli.repo!);
    const keysBefore = await readdir(join(cli.repo!, 'keys'));
    const r = await runCli(['init'], cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    // Also with another password: no second key, no new config.
    const other = await writePassword(base, 'another password', 'other-password');
    expect((await runCli(['init'], { ...cli, passwordFile: other })).code).toBe(1);
    expect(await readdir(join(cli.repo!, 'keys'))).toEqual(keysBefore);
    expect(await treeBytes(cli.repo!)).toBe(sizeBefore);

    const list = await runOk(['--json', 'snapshots'], cli);
    expect((list.json as { id: string }[]).map((s) => s.id)).toEqual([snapshotId]);
    expect((await runCli(['check', '--read-data'], cli)).code).toBe(0);
  });

  it('refuses a non-empty restore target and leaves its files untouched', async () => {
    const target = join(base, 'busy-target');
    await mkdir(join(target, 'keep'), { recursive: true });
    await writeFile(join(target, 'keep', 'mine.txt'), 'do not touch\n');
    const before = await stat(join(target, 'keep', 'mine.txt'));
    const r = await runCli(['restore', 'latest', '--target', target], cli);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/not empty/);
    expect((await readdir(target)).sort()).toEqual(['keep']);
    expect(await readdir(join(target, 'keep'))).toEqual(['mine.txt']);
    expect(await readFile(join(target, 'keep', 'mine.txt'), 'utf8')).toBe('do not touch\n');
    expect((await stat(join(target, 'keep', 'mine.txt'))).mtimeMs).toBe(before.mtimeMs);
  });

  it('restores into a non-empty target with --force, keeping unrelated files', async () => {
    const target = join(base, 'busy-target-forced');
    await mkdir(target);
    await writeFile(join(target, 'unrelated.txt'), 'still here\n');
    await runOk(['restore', 'latest', '--target', target, '--force'], cli);
    expect(await sha256File(join(target, src, 'a.txt'))).toBe(await sha256File(join(src, 'a.txt')));
    expect(await sha256File(join(target, src, 'sub', 'b.txt'))).toBe(await sha256File(join(src, 'sub', 'b.txt')));
    expect(await readFile(join(target, 'unrelated.txt'), 'utf8')).toBe('still here\n');
  });

  it('refuses a restore target that is a file', async () => {
    const file = join(base, 'a-file');
    await writeFile(file, 'x');
    const r = await runCli(['restore', 'latest', '--target', file, '--force'], cli);
    expect(r.code).toBe(1);
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it('exits 2 for usage errors: no repository given, restore without --target, unknown snapshot', async () => {
    const noRepo = await runCli(['snapshots'], { passwordFile: cli.passwordFile });
    expect(noRepo.code).toBe(2);
    expect(noRepo.stderr).toMatch(/repository/);
    expect((await runCli(['restore', 'latest'], cli)).code).toBe(2);
    expect((await runCli(['restore', 'ffffffff', '--target', join(base, 'x')], cli)).code).toBe(2);
    expect((await runCli(['no-such-command'], cli)).code).toBe(2);
  });
});
