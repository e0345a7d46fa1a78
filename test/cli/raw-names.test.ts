/**
 * Names and symlink targets are bytes. A file named `r\xff` beside one named `r\u{FFFD}` used to collide in the tree
 * (backup exit 0, then ls, restore and check rejected the whole directory, keep.db lost); invalid UTF-8 names were
 * skipped with a misleading ENOENT, and a link to `t\xffx` came back pointing to `t\u{FFFD}x`.
 */
import { cp, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, PROJECT_ROOT, runCli, runOk, writePassword } from '../support/cli.js';

afterAll(cleanupTemp);

const bytesPath = (dir: string, ...raw: Buffer[]): Buffer => Buffer.concat([Buffer.from(`${dir}/`), ...raw]);

/** x/keep.db, x/r\u{FFFD} (valid UTF-8), x/r\xff (not), x/d\xfe/inner.txt, x/link -> t\xffx. */
async function hostileFolder(root: string): Promise<string> {
  const x = join(root, 'x');
  await mkdir(x);
  await writeFile(join(x, 'keep.db'), 'k\n');
  await writeFile(join(x, 'r\uFFFD'), 'replacement character\n');
  await writeFile(bytesPath(x, Buffer.from([0x72, 0xff])), 'raw byte ff\n');
  await mkdir(bytesPath(x, Buffer.from([0x64, 0xfe])));
  await writeFile(bytesPath(x, Buffer.from([0x64, 0xfe]), Buffer.from('/inner.txt')), 'inside a raw-named folder\n');
  await symlink(Buffer.from([0x74, 0xff, 0x78]), join(x, 'link'));
  return x;
}

describe('names that are not UTF-8', () => {
  it('are backed up, listed, checked and restored as the bytes they are, next to look-alike UTF-8 names', async () => {
    const dir = await makeTemp('owb-raw-');
    const x = await hostileFolder(dir);
    const cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'pw') };
    await runOk(['init'], cli);
    const b = await runOk(['backup', x], cli);
    expect(b.stderr).not.toMatch(/cannot read|ENOENT/);
    await runOk(['check', '--read-data'], cli);
    const ls = await runOk(['ls', 'latest'], cli);
    expect(ls.stdout).toContain(`${x}/r\\xff`);
    expect(ls.stdout).toContain(`${x}/r\uFFFD`);
    expect(ls.stdout).toContain(`${x}/link -> t\\xffx`);

    const target = join(dir, 'restored');
    await runOk(['restore', 'latest', '--target', target], cli);
    const rx = join(target, x);
    const names = (await readdir(rx, { encoding: 'buffer' })).map((n) => n.toString('hex')).sort();
    expect(names).toEqual(['keep.db', 'link', 'r\uFFFD', 'r\xff', 'd\xfe'].map((n) => Buffer.from(n, n.includes('\uFFFD') ? 'utf8' : 'latin1').toString('hex')).sort());
    expect(await readFile(join(rx, 'keep.db'), 'utf8')).toBe('k\n');
    expect(await readFile(bytesPath(rx, Buffer.from([0x72, 0xff])), 'utf8')).toBe('raw byte ff\n');
    expect(await readFile(join(rx, 'r\uFFFD'), 'utf8')).toBe('replacement character\n');
    expect(await readFile(bytesPath(rx, Buffer.from([0x64, 0xfe]), Buffer.from('/inner.txt')), 'utf8')).toBe('inside a raw-named folder\n');
    expect(await readlink(join(rx, 'link'), { encoding: 'buffer' })).toEqual(Buffer.from([0x74, 0xff, 0x78]));
    expect((await lstat(join(rx, 'link'))).isSymbolicLink()).toBe(true);
  });

  it('into a format 1 repository: reported as unreadable (exit 3) with the reason, every other file saved', async () => {
    const dir = await makeTemp('owb-raw-v1-');
    const x = await hostileFolder(dir);
    const repo = join(dir, 'repo');
    await cp(join(PROJECT_ROOT, 'test', 'fixtures', 'golden', 'v1', 'repo'), repo, { recursive: true });
    const golden = JSON.parse(await readFile(join(PROJECT_ROOT, 'test', 'fixtures', 'golden', 'v1', 'expected.json'), 'utf8')) as { password: string };
    const cli = { repo, passwordFile: await writePassword(dir, golden.password) };
    const r = await runCli(['backup', x], cli);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/r\\xff: the name is not valid UTF-8, which a format 1 repository cannot store/);
    expect(r.stderr).toMatch(/link: the name is not valid UTF-8/);
    const target = join(dir, 'restored');
    await runOk(['restore', 'latest', '--target', target], cli);
    expect(await readFile(join(target, x, 'keep.db'), 'utf8')).toBe('k\n');
    expect(await readFile(join(target, x, 'r\uFFFD'), 'utf8')).toBe('replacement character\n');
    await runOk(['check', '--read-data'], cli);
  });
});
