import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, runOk, sha256File, treeBytes, writeRandomFile, type CliOptions } from '../support/cli.js';
import { initRepoWithSource } from '../support/repo-setup.js';

const MiB = 1024 * 1024;
const BIG = 200 * MiB;

interface BackupJson {
  snapshot_id: string;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_added: number;
  data_added_packed: number;
  duration_s: number;
}

/** One 200 MiB random file, backed up once in beforeAll; each test backs up again after its change. */
describe('deduplication across backups', () => {
  let base: string;
  let src: string;
  let big: string;
  let cli: CliOptions;
  let first: BackupJson;

  async function backup(): Promise<{ json: BackupJson; repoGrowth: number }> {
    const before = await treeBytes(cli.repo!);
    const json = (await runOk(['--json', 'backup', src], cli)).json as BackupJson;
    return { json, repoGrowth: (await treeBytes(cli.repo!)) - before };
  }

  beforeAll(async () => {
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-dedup-',
      password: 'dedup password',
      fill: (dir) => writeRandomFile(join(dir, 'big.bin'), BIG, 'dedup'),
    }));
    big = join(src, 'big.bin');
    first = (await backup()).json;
  });
  afterAll(cleanupTemp);

  it('stores the first backup of incompressible data at about its size', () => {
    expect(first.files_new).toBe(1);
    expect(first.data_added).toBeGreaterThanOrEqual(BIG);
    expect(first.data_added_packed).toBeGreaterThan(BIG);
    expect(first.data_added_packed).toBeLessThan(BIG * 1.01);
  });

  it('adds under 1 % of the data size for a second backup of unchanged data', async () => {
    const { json, repoGrowth } = await backup();
    expect(json.files_unmodified).toBe(1);
    expect(json.files_new + json.files_changed).toBe(0);
    expect(json.data_added_packed).toBeLessThan(BIG / 100);
    expect(repoGrowth).toBeGreaterThan(0); // a snapshot was written
    expect(repoGrowth).toBeLessThan(BIG / 100);
  });

  it('adds under 1 % when unchanged data is re-read with --force (content dedup, not just metadata)', async () => {
    const before = await treeBytes(cli.repo!);
    const json = (await runOk(['--json', 'backup', '--force', src], cli)).json as BackupJson;
    expect(json.files_unmodified).toBe(0);
    expect(json.data_added_packed).toBeLessThan(BIG / 100);
    expect((await treeBytes(cli.repo!)) - before).toBeLessThan(BIG / 100);
  });

  it('adds under 5 MiB after a 1 MiB change in the middle of a 200 MiB file', async () => {
    const patch = createCipheriv('aes-256-ctr', createHash('sha256').update('patch').digest(), Buffer.alloc(16)).update(Buffer.alloc(MiB));
    const fh = await open(big, 'r+');
    await fh.write(patch, 0, MiB, 100 * MiB);
    await fh.close();
    const { json, repoGrowth } = await backup();
    expect(json.files_changed).toBe(1);
    expect(json.data_added).toBeGreaterThanOrEqual(MiB);
    expect(json.data_added_packed).toBeLessThan(5 * MiB);
    expect(repoGrowth).toBeLessThan(5 * MiB);

    // And the changed file restores exactly.
    const target = join(base, 'restored');
    await runOk(['restore', 'latest', '--target', target], cli);
    expect(await sha256File(join(target, big))).toBe(await sha256File(big));
  });
});
