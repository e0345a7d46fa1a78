/**
 * Operator mistakes and damaged repositories that used to pass silently or be misreported (the reliability issue):
 * each case gets a clear one-line error, the contract's exit code, and never a hidden loss.
 */
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, flipByte, makeTemp, runCli, runOk, writePassword } from '../support/cli.js';

afterAll(cleanupTemp);

/** A repository with two snapshots of a small folder, the newer one second. */
async function twoSnapshots(): Promise<{ dir: string; repo: string; cli: { repo: string; passwordFile: string }; ids: string[] }> {
  const dir = await makeTemp('owb-rel-');
  const repo = join(dir, 'repo');
  const src = join(dir, 'src');
  const cli = { repo, passwordFile: await writePassword(dir, 'pw') };
  await runOk(['init'], cli);
  await runOk(['backup', await mkSrc(src, 'one')], cli);
  const first = ((await runOk(['snapshots', '--json'], cli)).json as { id: string }[])[0]!.id;
  await writeFile(join(src, 'f.txt'), 'two\n');
  const second = (((await runOk(['backup', src, '--json'], cli)).json as { snapshot_id: string }).snapshot_id);
  return { dir, repo, cli, ids: [first, second] };
}

async function mkSrc(src: string, content: string): Promise<string> {
  await rm(src, { recursive: true, force: true });
  const { mkdir } = await import('node:fs/promises');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'f.txt'), `${content}\n`);
  return src;
}

describe('a damaged snapshot file is reported, never hidden', () => {
  let s: Awaited<ReturnType<typeof twoSnapshots>>;
  beforeAll(async () => {
    s = await twoSnapshots();
    await truncate(join(s.repo, 'snapshots', s.ids[1]!), 10);
  });

  it('snapshots lists the good one, warns about the damaged one and exits 1', async () => {
    const r = await runCli(['snapshots'], s.cli);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(s.ids[0]!.slice(0, 8));
    expect(r.stderr).toContain(`snapshot ${s.ids[1]!.slice(0, 8)} cannot be read (damaged)`);
  });

  it('snapshots --json lists the damaged one as damaged, in the one document, and exits 1', async () => {
    const r = await runCli(['snapshots', '--json'], s.cli);
    expect(r.code).toBe(1);
    const rows = r.json as { id: string; damaged?: boolean }[];
    expect(rows.map((x) => [x.id, x.damaged ?? false])).toEqual([
      [s.ids[0], false],
      [s.ids[1], true],
    ]);
  });

  it('restore latest refuses (the damaged one may be the newest) instead of restoring an older snapshot', async () => {
    const target = join(s.dir, 'latest');
    const r = await runCli(['restore', 'latest', '--target', target], s.cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to pick "latest"/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('restore of the damaged id says it is damaged; the good id still restores', async () => {
    const r = await runCli(['restore', s.ids[1]!.slice(0, 8), '--target', join(s.dir, 'bad')], s.cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`snapshot ${s.ids[1]!.slice(0, 8)} is damaged`);
    await runOk(['restore', s.ids[0]!, '--target', join(s.dir, 'good')], s.cli);
  });
});

describe('damage is not reported as a wrong password', () => {
  it('a flipped byte in config: exit 1 with a damage message, not 12', async () => {
    const s = await twoSnapshots();
    await flipByte(join(s.repo, 'config'), 20);
    const r = await runCli(['snapshots'], s.cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config .*damaged/);
    expect(r.stderr).not.toMatch(/wrong password/);
  });

  it('every key file unreadable (not JSON): exit 1 naming the damaged key, not 12', async () => {
    const s = await twoSnapshots();
    for (const k of await readdir(join(s.repo, 'keys'))) await writeFile(join(s.repo, 'keys', k), 'garbage');
    const r = await runCli(['snapshots'], s.cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no key file can be read: keys\/[0-9a-f]{8}/);
  });

  it('a wrong password is still exit 12', async () => {
    const s = await twoSnapshots();
    const r = await runCli(['snapshots'], { ...s.cli, passwordFile: await writePassword(s.dir, 'not it', 'wrong') });
    expect(r.code).toBe(12);
  });
});

describe('init over a repository that lost its config', () => {
  it('refuses, says what it found and how to recover, and leaves every file in place', async () => {
    const s = await twoSnapshots();
    await rm(join(s.repo, 'config'));
    const before = (await readdir(join(s.repo, 'snapshots'))).sort();
    const r = await runCli(['init'], s.cli);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds .*2 snapshot\(s\).* but no config/);
    expect(r.stderr).toMatch(/Put the config file back/);
    expect((await readdir(join(s.repo, 'snapshots'))).sort()).toEqual(before);
    await expect(readFile(join(s.repo, 'config'))).rejects.toThrow(/ENOENT/);
  });
});

describe('--json failures print one JSON error document', () => {
  it('for a missing repository (exit 10) and for a usage error (exit 2)', async () => {
    const dir = await makeTemp('owb-rel-json-');
    const missing = await runCli(['snapshots', '--json'], { repo: join(dir, 'none'), passwordFile: await writePassword(dir, 'pw') });
    expect(missing.code).toBe(10);
    expect(missing.json).toEqual({ error: { message: expect.stringContaining('no repository at'), exit_code: 10, type: 'RepoNotFoundError' } });
    const usage = await runCli(['snapshots', '--json', '--no-such-flag'], {});
    expect(usage.code).toBe(2);
    expect((usage.json as { error: { exit_code: number } }).error.exit_code).toBe(2);
  });
});

describe('password files are bytes', () => {
  it('a binary password does not open with its high bytes replaced; one trailing newline is ignored, two are not', async () => {
    const dir = await makeTemp('owb-rel-pw-');
    const binary = Buffer.from([0x70, 0x77, 0x80, 0x81, 0xc3, 0x28, 0xfe, 0xff, 0x9a, 0x41]);
    const pw = join(dir, 'binary');
    await writeFile(pw, binary);
    const cli = { repo: join(dir, 'repo'), passwordFile: pw };
    await runOk(['init'], cli);
    const flattened = join(dir, 'flattened');
    await writeFile(flattened, Buffer.from(binary.map((b) => (b >= 0x80 ? 0xff : b))));
    expect((await runCli(['snapshots'], { ...cli, passwordFile: flattened })).code).toBe(12);
    const newline = join(dir, 'newline');
    await writeFile(newline, Buffer.concat([binary, Buffer.from('\n')]));
    await runOk(['snapshots'], { ...cli, passwordFile: newline });
    const twoNewlines = join(dir, 'two-newlines');
    await writeFile(twoNewlines, Buffer.concat([binary, Buffer.from('\n\n')]));
    expect((await runCli(['snapshots'], { ...cli, passwordFile: twoNewlines })).code).toBe(12);
    // The same bytes through OWB_PASSWORD_FILE open it too.
    await runOk(['snapshots'], { repo: cli.repo, env: { OWB_PASSWORD_FILE: pw } });
  });

  it('a text password still opens whichever way it is spelled (NFC and NFD, file or variable)', async () => {
    const dir = await makeTemp('owb-rel-pw-');
    const cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'caf\u00e9') };
    await runOk(['init'], cli);
    await runOk(['snapshots'], { ...cli, passwordFile: await writePassword(dir, 'cafe\u0301', 'nfd') });
    await runOk(['snapshots'], { repo: cli.repo, env: { OWB_PASSWORD: 'caf\u00e9' } });
  });
});

describe('objects that are not what they claim', () => {
  it('a FIFO in place of config or of a pack is refused at once, never waited on', async () => {
    const s = await twoSnapshots();
    const { execFileSync } = await import('node:child_process');
    const packs = (await readdir(join(s.repo, 'data'), { recursive: true })).filter((p) => /^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(p));
    for (const p of packs) {
      await rm(join(s.repo, 'data', p));
      execFileSync('mkfifo', [join(s.repo, 'data', p)]);
    }
    const check = await runCli(['check', '--read-data'], { ...s.cli, timeoutMs: 60_000 });
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toMatch(/missing from storage/); // listings hold regular files only
    const restore = await runCli(['restore', s.ids[1]!, '--target', join(s.dir, 'r')], { ...s.cli, timeoutMs: 60_000 });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/is not a regular file \(a FIFO\)/);
    await rm(join(s.repo, 'config'));
    execFileSync('mkfifo', [join(s.repo, 'config')]);
    const open = await runCli(['snapshots'], { ...s.cli, timeoutMs: 60_000 });
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/config is not a regular file \(a FIFO\)/);
  });

  it('a 1 GB config is refused before it is read (it used to take 3 GiB of memory)', async () => {
    const s = await twoSnapshots();
    await truncate(join(s.repo, 'config'), 1_000_000_000); // sparse: costs no disk
    const r = await runCli(['snapshots'], { ...s.cli, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config is 1000000000 bytes, more than a config object can be/);
  });

  it('a repository path that is a file: "no repository", exit 10', async () => {
    const dir = await makeTemp('owb-rel-file-');
    const file = join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    const r = await runCli(['snapshots'], { repo: file, passwordFile: await writePassword(dir, 'pw') });
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/no repository at .*not-a-folder/);
  });
});

describe('sparse files', () => {
  it('a sparse 1 GiB file restores sparse, with the same bytes', async () => {
    const dir = await makeTemp('owb-rel-sparse-');
    const { mkdir, open, stat } = await import('node:fs/promises');
    const src = join(dir, 'src');
    await mkdir(src);
    const file = join(src, 'disk.img');
    const fh = await open(file, 'w');
    await fh.write('head');
    await fh.write('middle', 512 * 1024 * 1024);
    await fh.truncate(1024 * 1024 * 1024);
    await fh.close();
    const cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'pw') };
    await runOk(['init'], cli);
    await runOk(['backup', src], cli);
    const target = join(dir, 'restored');
    await runOk(['restore', 'latest', '--target', target], cli);
    const restored = join(target, file);
    const st = await stat(restored);
    expect(st.size).toBe(1024 * 1024 * 1024);
    // Allocated blocks (512 B each): a dense copy would need 2 Mi of them.
    expect(st.blocks * 512).toBeLessThan(64 * 1024 * 1024);
    const rh = await open(restored, 'r');
    try {
      const b = Buffer.alloc(6);
      await rh.read(b, 0, 4, 0);
      expect(b.subarray(0, 4).toString()).toBe('head');
      await rh.read(b, 0, 6, 512 * 1024 * 1024);
      expect(b.toString()).toBe('middle');
    } finally {
      await rh.close();
    }
  }, 300_000);
});
