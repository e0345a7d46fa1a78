import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, describeTree, runCli, runOk, type CliOptions } from '../support/cli.js';
import { initRepoWithSource } from '../support/repo-setup.js';

/** Every path restored under `target`, relative to the restored copy of `src` (which is ''). */
async function restoredPaths(target: string, src: string): Promise<string[]> {
  return [...(await describeTree(join(target, src))).keys()].sort();
}

describe('restore --include', () => {
  let base: string;
  let src: string;
  let cli: CliOptions;

  beforeAll(async () => {
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-include-',
      password: 'include',
      fill: async (dir) => {
        await mkdir(join(dir, 'a', 'keep', 'sub'), { recursive: true });
        await mkdir(join(dir, 'a', 'other'), { recursive: true });
        await mkdir(join(dir, 'b'), { recursive: true });
        await writeFile(join(dir, 'a', 'keep', 'x.txt'), 'x\n');
        await writeFile(join(dir, 'a', 'keep', 'sub', 'y.md'), 'y\n');
        await writeFile(join(dir, 'a', 'other', 'z.txt'), 'z\n');
        await writeFile(join(dir, 'a', 'top.md'), 'top\n');
        await writeFile(join(dir, 'b', 'w.txt'), 'w\n');
        await writeFile(join(dir, 'root.txt'), 'root\n');
      },
    }));
    await runOk(['backup', src], cli);
  });
  afterAll(cleanupTemp);

  it('restores only a matching directory, everything below it, and the directories on the way', async () => {
    const target = join(base, 't1');
    await runOk(['restore', 'latest', '--target', target, '--include', `${src}/a/keep`], cli);
    expect(await restoredPaths(target, src)).toEqual(['', 'a', 'a/keep', 'a/keep/sub', 'a/keep/sub/y.md', 'a/keep/x.txt']);
  });

  it('restores only files matching a relative glob, wherever they are', async () => {
    const target = join(base, 't2');
    await runOk(['restore', 'latest', '--target', target, '--include', '*.md'], cli);
    expect(await restoredPaths(target, src)).toEqual(['', 'a', 'a/keep', 'a/keep/sub', 'a/keep/sub/y.md', 'a/top.md']);
  });

  it('takes several patterns (a union)', async () => {
    const target = join(base, 't3');
    await runOk(['restore', 'latest', '--target', target, '--include', `${src}/b`, '--include', `${src}/root.txt`], cli);
    expect(await restoredPaths(target, src)).toEqual(['', 'b', 'b/w.txt', 'root.txt']);
  });

  it('restores nothing, and creates no directories, when no path matches', async () => {
    const target = join(base, 't4');
    const r = await runCli(['--json', 'restore', 'latest', '--target', target, '--include', '/no/such/path'], cli);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ files_restored: 0, dirs_restored: 0 });
    expect((await describeTree(target)).size).toBe(1);
  });
});
