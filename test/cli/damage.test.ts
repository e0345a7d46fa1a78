import { existsSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, flipByte, listPacks, runCli, runOk, sha256File, writeRandomFile, type CliOptions } from '../support/cli.js';
import { backupId, initRepoWithSource } from '../support/repo-setup.js';

const MiB = 1024 * 1024;

/** Names of leftover restore temp files anywhere under `dir`. */
async function restoreTemps(dir: string): Promise<string[]> {
  const all = await readdir(dir, { recursive: true });
  return all.filter((p) => basename(p).startsWith('.owb-restore-'));
}

/**
 * Two snapshots: the second holds a new version of victim.bin, whose blobs sit in a data pack of their own.
 * Each test damages one byte, checks, and flips the byte back, so the repository is whole between tests.
 */
describe('a damaged pack', () => {
  let base: string;
  let src: string;
  let cli: CliOptions;
  let snap1: string;
  let snap2: string;
  let v1Sha: string;
  let v2Sha: string;
  /** Packs written by the second backup: the data pack of victim.bin v2, and its tree pack. */
  let dataPack: string;
  let treePack: string;

  /** Flips a byte, runs `fn`, and flips it back whatever happens. */
  async function withFlip<T>(pack: string, offset: number, fn: () => Promise<T>): Promise<T> {
    await flipByte(pack, offset);
    try {
      return await fn();
    } finally {
      await flipByte(pack, offset);
    }
  }

  beforeAll(async () => {
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-damage-',
      password: 'damage',
      fill: async (dir) => {
        await writeRandomFile(join(dir, 'victim.bin'), 3 * MiB, 'v1');
        await writeFile(join(dir, 'other.txt'), 'an innocent bystander\n');
      },
    }));
    v1Sha = await sha256File(join(src, 'victim.bin'));
    snap1 = await backupId(cli, src);
    const packsBefore = new Set(await listPacks(cli.repo!));

    await writeRandomFile(join(src, 'victim.bin'), 3 * MiB, 'v2');
    v2Sha = await sha256File(join(src, 'victim.bin'));
    snap2 = await backupId(cli, src);
    const added = (await listPacks(cli.repo!)).filter((p) => !packsBefore.has(p));
    expect(added).toHaveLength(2);
    const sized = await Promise.all(added.map(async (p) => ({ p, size: (await stat(p)).size })));
    sized.sort((a, b) => b.size - a.size);
    dataPack = sized[0]!.p;
    treePack = sized[1]!.p;
    expect(sized[0]!.size).toBeGreaterThan(3 * MiB);
    expect(sized[1]!.size).toBeLessThan(64 * 1024);
  });
  afterAll(cleanupTemp);

  it('is whole before any damage: check --read-data passes', async () => {
    const r = await runCli(['check', '--read-data'], cli);
    expect(r.code, r.stderr).toBe(0);
  });

  it('makes check --read-data fail for a flipped byte anywhere in any pack', async () => {
    const packs = await listPacks(cli.repo!);
    expect(packs.length).toBe(4);
    for (const pack of packs) {
      const size = (await stat(pack)).size;
      // Blob area start (a nonce), the middle, inside the sealed header near the end, and the header length field.
      for (const offset of [0, Math.floor(size / 2), size - 10, size - 1]) {
        const r = await withFlip(pack, offset, () => runCli(['check', '--read-data'], cli));
        expect(r.code, `flip at ${offset} of ${basename(pack)} (${size} bytes) went unnoticed`).toBe(1);
        expect(r.stderr).toContain(basename(pack).slice(0, 12));
      }
    }
  });

  it('leaves plain check passing for a flip inside a data blob (only --read-data reads blob bytes)', async () => {
    // Without --read-data, check verifies index files, snapshots, every tree, and that each indexed pack
    // exists with at least the size the index says. Data blob bytes are never read, so a flip inside one
    // is invisible to it: that is the point of --read-data.
    const r = await withFlip(dataPack, 100, () => runCli(['check'], cli));
    expect(r.code, r.stderr).toBe(0);
  });

  it('makes check --read-data fail for a byte flipped in the header area near the end of a data pack', async () => {
    const size = (await stat(dataPack)).size;
    const r = await withFlip(dataPack, size - 20, () => runCli(['check', '--read-data'], cli));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/damaged|header|authentication/);
  });

  it('makes even plain check fail when a tree pack is damaged', async () => {
    const plain = await withFlip(treePack, 100, () => runCli(['check'], cli));
    expect(plain.code).toBe(1);
    const full = await withFlip(treePack, 100, () => runCli(['check', '--read-data'], cli));
    expect(full.code).toBe(1);
  });

  it('fails a restore loudly and leaves neither a wrong file nor a temp file behind', async () => {
    const target = join(base, 'restore-fresh');
    const r = await withFlip(dataPack, 100, () => runCli(['restore', snap2, '--target', target], cli));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('victim.bin');
    const restoredSrc = join(target, src);
    expect(existsSync(join(restoredSrc, 'victim.bin'))).toBe(false);
    // Everything undamaged is still restored.
    expect(await sha256File(join(restoredSrc, 'other.txt'))).toBe(await sha256File(join(src, 'other.txt')));
    expect(await restoreTemps(target)).toEqual([]);
  });

  it('keeps the old good copy when a --force restore over it hits the damaged pack', async () => {
    const target = join(base, 'restore-over-good');
    await runOk(['restore', snap1, '--target', target], cli);
    const victim = join(target, src, 'victim.bin');
    expect(await sha256File(victim)).toBe(v1Sha);

    const r = await withFlip(dataPack, 100, () => runCli(['restore', snap2, '--target', target, '--force'], cli));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('victim.bin');
    expect(await sha256File(victim)).toBe(v1Sha);
    expect(await restoreTemps(target)).toEqual([]);

    // Undamaged again, the same restore replaces it with the new version.
    await runOk(['restore', snap2, '--target', target, '--force'], cli);
    expect(await sha256File(victim)).toBe(v2Sha);
    expect(await restoreTemps(target)).toEqual([]);
  });
});
