import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeNode } from '../../src/repo/tree.js';
import { cleanupTemp, loadDist, makeTemp, runCli, runOk, type CliOptions } from '../support/cli.js';
import { initRepo } from '../support/repo-setup.js';

type RepositoryModule = typeof import('../../src/repo/repository.js');
type LocalModule = typeof import('../../src/storage/local.js');
type TreeModule = typeof import('../../src/repo/tree.js');

const PWNED = Buffer.from('written by a hostile snapshot\n');
const META = { mode: 0o644, mtime: '1700000000000000000', ctime: '1700000000000000000', inode: 1, uid: 0, gid: 0 };

/** Builders for tree nodes, bound to the repository that holds their blobs. */
interface NodeKit {
  file: (name: string) => TreeNode;
  dir: (name: string, subtree: string) => TreeNode;
  link: (name: string, target: string) => TreeNode;
  /** A subtree holding one file, for directories that try to escape. */
  escapeeTree: string;
  /** A subtree holding one file named "pwned". */
  pwnedTree: string;
}

/** One hostile case: the extra root entries, and the text stderr must contain to name the refused entry. */
interface HostileCase {
  title: string;
  names: string;
  /** True when the rest of the tree should still be restored (only the bad entry is refused). */
  restoresRest: boolean;
  nodes: (outside: string, k: NodeKit) => TreeNode[];
}

const CASES: HostileCase[] = [
  { title: 'a directory named ".."', names: '".."', restoresRest: true, nodes: (_, k) => [k.dir('..', k.escapeeTree)] },
  { title: 'a file named "../escape"', names: '../escape', restoresRest: true, nodes: (_, k) => [k.file('../escape')] },
  { title: 'a file named "../../escape"', names: '../../escape', restoresRest: true, nodes: (_, k) => [k.file('../../escape')] },
  { title: 'a file named "a/b"', names: 'a/b', restoresRest: true, nodes: (_, k) => [k.file('a/b')] },
  { title: 'an absolute name', names: '/abs-escape', restoresRest: true, nodes: (outside, k) => [k.file(`${outside}/abs-escape`)] },
  { title: 'an empty name', names: 'empty name', restoresRest: true, nodes: (_, k) => [k.file('')] },
  { title: 'a directory named "."', names: '"."', restoresRest: true, nodes: (_, k) => [k.dir('.', k.escapeeTree)] },
  // A symlink and a directory of the same name: restoring the link first and then the directory "into" it
  // would write through the link. The duplicate must be refused as such, in either order.
  {
    title: 'a symlink "evil" to the outside, then a directory "evil"',
    names: 'evil',
    restoresRest: false,
    nodes: (outside, k) => [k.link('evil', outside), k.dir('evil', k.pwnedTree)],
  },
  {
    title: 'a directory "evil", then a symlink "evil" to the outside',
    names: 'evil',
    restoresRest: false,
    nodes: (outside, k) => [k.dir('evil', k.pwnedTree), k.link('evil', outside)],
  },
];

/** Where each case restores: `outside/` must stay empty, and nothing may appear beside `target/`. */
function caseDir(base: string, title: string): string {
  return join(base, `case-${CASES.findIndex((c) => c.title === title)}`);
}

/**
 * A damaged or hostile repository must never make restore write outside its target. Each snapshot here is
 * built with the library (the compiled one the CLI runs), bypassing the archiver, which would never produce
 * such names.
 */
describe('restore from a hostile repository', () => {
  let base: string;
  let cli: CliOptions;
  const snapshotIds = new Map<string, string>();
  let dataSnapshot: string;

  beforeAll(async () => {
    base = await makeTemp('owb-hostile-');
    cli = await initRepo(base, 'hostile');

    const { Repository } = await loadDist<RepositoryModule>('repo/repository.js');
    const { LocalBackend } = await loadDist<LocalModule>('storage/local.js');
    const { encodeTree } = await loadDist<TreeModule>('repo/tree.js');
    const backend = new LocalBackend(cli.repo!);
    const repo = await Repository.open(backend, 'hostile');
    await repo.loadIndex();
    const content = await repo.saveBlob('data', PWNED);
    const file = (name: string): TreeNode => ({ name, type: 'file', ...META, size: PWNED.length, content: [content] });
    const dir = (name: string, subtree: string): TreeNode => ({ name, type: 'dir', ...META, mode: 0o755, subtree });
    const link = (name: string, target: string): TreeNode => ({ name, type: 'symlink', ...META, mode: 0o777, linktarget: target });
    /** A raw tree blob: JSON.stringify keeps whatever nodes it is given, duplicates included. */
    const rawTree = (nodes: TreeNode[]): Promise<string> => repo.saveBlob('tree', Buffer.from(JSON.stringify({ nodes })));
    const kit: NodeKit = {
      file,
      dir,
      link,
      escapeeTree: await rawTree([file('escaped-through-dotdot')]),
      pwnedTree: await rawTree([file('pwned')]),
    };
    const roots: { c: HostileCase; tree: string }[] = [];
    for (const c of CASES) {
      const outside = join(caseDir(base, c.title), 'outside');
      await mkdir(outside, { recursive: true });
      roots.push({ c, tree: await rawTree([file('ok.txt'), ...c.nodes(outside, kit)]) });
    }

    // A normal tree with a real directory "data", for restores into targets that hold symlinks.
    const nested = encodeTree([file('deep.txt')]);
    const dataTree = encodeTree([file('f1.txt'), file('f2.txt'), dir('nested', await repo.saveBlob('tree', nested))]);
    const dataRoot = await repo.saveBlob('tree', encodeTree([dir('data', await repo.saveBlob('tree', dataTree))]));

    await repo.flush();
    let i = 0;
    const snapshot = (tree: string, tag: string): Promise<string> =>
      repo.saveJson('snapshots', {
        time: new Date(Date.UTC(2024, 0, 1, 0, 0, i++)).toISOString(),
        hostname: 'hostile',
        username: 'mallory',
        paths: ['/hostile'],
        tags: [tag],
        tree,
        program_version: 'test',
      });
    for (const { c, tree } of roots) snapshotIds.set(c.title, await snapshot(tree, c.title));
    dataSnapshot = await snapshot(dataRoot, 'data');
    await backend.close();
  });
  afterAll(cleanupTemp);

  it.each(CASES)('refuses $title, names it, and writes nothing outside the target', async (c) => {
    const dir = caseDir(base, c.title);
    const outside = join(dir, 'outside');
    const target = join(dir, 'target');
    const r = await runCli(['restore', snapshotIds.get(c.title)!, '--target', target], cli);
    expect(r.code, 'exit code').toBe(1);
    expect(await readdir(outside), 'wrote outside').toEqual([]);
    expect((await readdir(dir)).sort(), 'wrote beside the target').toEqual(['outside', 'target']);
    expect(await readdir(base)).not.toContain('escape');
    if (c.restoresRest) {
      expect(await readFile(join(target, 'ok.txt'))).toEqual(PWNED);
      expect((await readdir(target)).sort(), 'only ok.txt belongs in the target').toEqual(['ok.txt']);
    }
    expect(r.stderr, 'stderr should name the refused entry').toContain(c.names);
  });

  it('check reports a hostile snapshot as damage', async () => {
    const r = await runCli(['check'], cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unsafe/);
    expect(r.stderr).toMatch(/twice/);
  });

  it('replaces a symlink "data -> outside" in a --force target with a real directory', async () => {
    const outside = join(base, 'sym-outside-1');
    const target = join(base, 'sym-target-1');
    await mkdir(outside);
    await mkdir(target);
    await symlink(outside, join(target, 'data'));
    await runOk(['restore', dataSnapshot, '--target', target, '--force'], cli);
    expect(await readdir(outside)).toEqual([]);
    expect((await lstat(join(target, 'data'))).isDirectory()).toBe(true);
    expect((await readdir(join(target, 'data'))).sort()).toEqual(['f1.txt', 'f2.txt', 'nested']);
    expect(await readFile(join(target, 'data', 'nested', 'deep.txt'))).toEqual(PWNED);
  });

  it('replaces deeper symlinks to the outside, for directories and files alike, without writing through them', async () => {
    const outside = join(base, 'sym-outside-2');
    const target = join(base, 'sym-target-2');
    await mkdir(outside);
    await mkdir(join(target, 'data'), { recursive: true });
    await writeFile(join(outside, 'victim.txt'), 'original\n');
    await symlink(join(outside, 'victim.txt'), join(target, 'data', 'f1.txt'));
    await symlink(outside, join(target, 'data', 'nested'));
    await runOk(['restore', dataSnapshot, '--target', target, '--force'], cli);
    expect(await readdir(outside)).toEqual(['victim.txt']);
    expect(await readFile(join(outside, 'victim.txt'), 'utf8')).toBe('original\n');
    expect((await lstat(join(target, 'data', 'f1.txt'))).isFile()).toBe(true);
    expect(await readFile(join(target, 'data', 'f1.txt'))).toEqual(PWNED);
    expect((await lstat(join(target, 'data', 'nested'))).isDirectory()).toBe(true);
    expect(await readFile(join(target, 'data', 'nested', 'deep.txt'))).toEqual(PWNED);
  });
});
