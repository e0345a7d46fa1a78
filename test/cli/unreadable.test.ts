import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, giveToNobody, IS_ROOT, makeTemp, NOBODY, runCli, runOk, writePassword, type CliOptions } from '../support/cli.js';

/**
 * Root reads a chmod 000 file anyway, so under root (as in CI) every CLI run here switches to an unprivileged
 * user with setpriv; everything it must reach is handed to that user first.
 */
describe('a source file that cannot be read', () => {
  let base: string;
  let src: string;
  let cli: CliOptions;

  beforeAll(async () => {
    base = await makeTemp('owb-unreadable-');
    src = join(base, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'readable.txt'), 'fine\n');
    await writeFile(join(src, 'sub', 'also-readable.txt'), 'also fine\n');
    await writeFile(join(src, 'sub', 'locked.txt'), 'you cannot see me\n');
    const passwordFile = await writePassword(base, 'unreadable test');
    if (IS_ROOT) {
      for (const p of [base, src, join(src, 'sub'), join(src, 'readable.txt'), join(src, 'sub', 'also-readable.txt'), join(src, 'sub', 'locked.txt'), passwordFile]) {
        await giveToNobody(p);
      }
    }
    await chmod(join(src, 'sub', 'locked.txt'), 0o000);
    cli = { repo: join(base, 'repo'), passwordFile, ...(IS_ROOT ? { asUser: NOBODY } : {}) };
    await runOk(['init'], cli);
  });
  afterAll(cleanupTemp);

  it('warns naming the file, exits 3, and writes a snapshot of everything else', async () => {
    const r = await runCli(['backup', src], cli);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(join(src, 'sub', 'locked.txt'));
    expect(r.stderr).toMatch(/warning: cannot read .*locked\.txt: EACCES/);
    expect(r.stderr).toMatch(/1 file\(s\) could not be read/);
    expect(r.stderr).not.toContain('readable.txt');

    const snaps = (await runOk(['--json', 'snapshots'], cli)).json as { id: string }[];
    expect(snaps).toHaveLength(1);
    // The CLI really ran unprivileged: it created the repository as that user.
    if (IS_ROOT) expect((await stat(cli.repo!)).uid).toBe(NOBODY);

    const target = join(base, 'restored');
    await runOk(['restore', snaps[0]!.id, '--target', target], cli);
    const root = join(target, src);
    expect(await readFile(join(root, 'readable.txt'), 'utf8')).toBe('fine\n');
    expect(await readFile(join(root, 'sub', 'also-readable.txt'), 'utf8')).toBe('also fine\n');
    expect((await readdir(join(root, 'sub'))).sort()).toEqual(['also-readable.txt']);
  });

  it('reports exit 3 with --json too, after printing the one JSON document with the warning', async () => {
    const r = await runCli(['--json', 'backup', src], cli);
    expect(r.code).toBe(3);
    const json = r.json as { snapshot_id: string; warnings: string[] };
    expect(json.snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    expect(json.warnings.join('\n')).toContain('locked.txt');
    expect(r.stderr).toContain('locked.txt');
  });
});
