import { cp, mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, describeTree, diffTrees, makeTemp, runCli, runOk, treeBytes, writeRandomFile } from '../support/cli.js';
import { initRepo } from '../support/repo-setup.js';

/**
 * prune against a real repository: it frees what no snapshot needs, keeps everything the remaining
 * snapshots need, and a SIGKILL after ANY of its writes leaves a repository that check --read-data passes
 * and that a second prune completes.
 */
describe('prune', () => {
  let dir: string;
  let base: string;
  let pw: string;
  let src: string;

  beforeAll(async () => {
    dir = await makeTemp('owb-prune-');
    ({ repo: base, passwordFile: pw } = await initRepo(dir, 'prune-pw', { repo: 'base' }));
    src = join(dir, 'src');
    await mkdir(src);
    // Snapshot 1: 20 files; snapshot 2: half replaced; snapshot 3: more added. Small packs are forced by
    // many distinct files so several packs become partly used.
    for (let i = 0; i < 20; i++) await writeRandomFile(join(src, `a${i}.bin`), 400_000, `a${i}`);
    await runOk(['backup', src], { repo: base, passwordFile: pw });
    for (let i = 0; i < 10; i++) await unlink(join(src, `a${i}.bin`));
    for (let i = 0; i < 10; i++) await writeRandomFile(join(src, `b${i}.bin`), 900_000, `b${i}`);
    await runOk(['backup', src], { repo: base, passwordFile: pw });
    for (let i = 0; i < 5; i++) await writeRandomFile(join(src, `c${i}.bin`), 2_000_000, `c${i}`);
    await runOk(['backup', src], { repo: base, passwordFile: pw });
    // Forget the first snapshot by deleting its file (forget is tested on its own).
    const snaps = (await runOk(['snapshots', '--json'], { repo: base, passwordFile: pw })).json as { id: string }[];
    expect(snaps).toHaveLength(3);
    await rm(join(base, 'snapshots', snaps[0]!.id));
  }, 300_000);

  afterAll(cleanupTemp);

  it('frees unused data and keeps what the remaining snapshots need', async () => {
    const repo = join(dir, 'plain');
    await cp(base, repo, { recursive: true });
    const before = await treeBytes(repo);
    const dry = await runOk(['prune', '--dry-run', '--json'], { repo, passwordFile: pw });
    expect(await treeBytes(repo)).toBe(before);
    const planned = dry.json as { bytes_freed: number; packs_deleted: number; packs_repacked: number };
    expect(planned.bytes_freed).toBeGreaterThan(3_000_000);
    const res = (await runOk(['prune', '--json'], { repo, passwordFile: pw })).json as { bytes_freed: number; blobs_unused: number };
    expect(res.blobs_unused).toBeGreaterThan(0);
    const after = await treeBytes(repo);
    // The ten a0..a9 files (4 MB of random data) were only in the forgotten snapshot.
    expect(before - after).toBeGreaterThan(3_500_000);
    await runOk(['check', '--read-data'], { repo, passwordFile: pw });
    const out = join(dir, 'plain-out');
    await runOk(['restore', 'latest', '--target', out], { repo, passwordFile: pw });
    expect(diffTrees(await describeTree(src), await describeTree(join(out, src)))).toEqual([]);
    // Nothing left to do the second time.
    const again = (await runOk(['prune', '--json'], { repo, passwordFile: pw })).json as { bytes_freed: number };
    expect(again.bytes_freed).toBe(0);
  });

  it('survives SIGKILL after every single write', async () => {
    const expected = await describeTree(src);
    let completed = false;
    let kills = 0;
    for (let k = 1; k <= 80 && !completed; k++) {
      const repo = join(dir, `kill-${k}`);
      await cp(base, repo, { recursive: true });
      const r = await runCli(['prune'], { repo, passwordFile: pw, env: { OWB_FAULT_KILL_AFTER_WRITES: String(k) } });
      if (r.code === 0) {
        completed = true;
      } else {
        expect(r.signal, `prune with kill after ${k} writes: ${r.stderr}`).toBe('SIGKILL');
        kills++;
      }
      // Whatever moment it died at, the repository is intact and complete.
      const check = await runCli(['check', '--read-data', '--json'], { repo, passwordFile: pw });
      expect(check.code, `check after kill at write ${k}: ${check.stdout}${check.stderr}`).toBe(0);
      const out = join(dir, `kill-${k}-out`);
      await runOk(['restore', 'latest', '--target', out], { repo, passwordFile: pw });
      expect(diffTrees(expected, await describeTree(join(out, src)))).toEqual([]);
      // The next prune finishes the job (a stale lock of the dead process does not block it).
      await runOk(['prune'], { repo, passwordFile: pw });
      const clean = (await runOk(['check', '--json'], { repo, passwordFile: pw })).json as { warnings: string[] };
      expect(clean.warnings).toEqual([]);
      await rm(repo, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    }
    expect(completed).toBe(true);
    // Lock write, repacked packs, index writes, index deletes and pack deletes: many distinct points.
    expect(kills).toBeGreaterThanOrEqual(6);
  }, 600_000);

  it('forget --prune forgets and prunes under one lock, as one JSON document', async () => {
    const repo = join(dir, 'forget-prune');
    await cp(base, repo, { recursive: true });
    const before = await treeBytes(repo);
    const r = await runOk(['forget', '--keep-last', '1', '--prune', '--json'], { repo, passwordFile: pw });
    const doc = r.json as { forget: { remove: unknown[] }[]; prune: { bytes_freed: number } };
    expect(doc.forget[0]!.remove).toHaveLength(1);
    expect(doc.prune.bytes_freed).toBeGreaterThan(0);
    expect(await treeBytes(repo)).toBeLessThan(before);
    const snaps = (await runOk(['snapshots', '--json'], { repo, passwordFile: pw })).json as unknown[];
    expect(snaps).toHaveLength(1);
    await runOk(['check', '--read-data'], { repo, passwordFile: pw });
  });

  it('refuses to prune when a needed pack is missing', async () => {
    const repo = join(dir, 'missing');
    await cp(base, repo, { recursive: true });
    const subdirs = (await readdir(join(repo, 'data'))).filter((d) => !d.startsWith('.'));
    let removed = false;
    for (const d of subdirs) {
      const files = await readdir(join(repo, 'data', d));
      if (files.length > 0) {
        await unlink(join(repo, 'data', d, files[0]!));
        removed = true;
        break;
      }
    }
    expect(removed).toBe(true);
    const before = await treeBytes(repo);
    const r = await runCli(['prune'], { repo, passwordFile: pw });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to prune/);
    expect(await treeBytes(repo)).toBe(before);
  });
});
