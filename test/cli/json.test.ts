import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, hasProgressCodes, runCli, writeRandomFile, type CliOptions, type CliResult } from '../support/cli.js';
import { initRepoWithSource } from '../support/repo-setup.js';

/** Asserts a clean --json run: exit 0, stdout is exactly one JSON document, no progress codes anywhere. */
function expectOneJson(r: CliResult, what: string): unknown {
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
  expect(r.json, `${what}: stdout is not one JSON document:\n${r.stdout}`).toBeDefined();
  // JSON.parse accepts exactly one value; a second document or stray text would have made it undefined.
  expect(r.stdout.trim()).toMatch(/^[[{][\s\S]*[\]}]$/);
  expect(hasProgressCodes(r.stdout), `${what}: progress codes on stdout`).toBe(false);
  expect(hasProgressCodes(r.stderr), `${what}: progress codes on stderr`).toBe(false);
  expect(r.stderr, `${what}: --json run printed on stderr`).toBe('');
  return r.json;
}

describe('--json output and non-TTY output', () => {
  let base: string;
  let src: string;
  let cli: CliOptions;
  let snapshotId: string;

  beforeAll(async () => {
    // The first test runs init itself.
    ({ base, src, cli } = await initRepoWithSource({
      prefix: 'owb-json-',
      password: 'json password',
      init: false,
      fill: async (dir) => {
        await mkdir(join(dir, 'dir'), { recursive: true });
        await writeFile(join(dir, 'dir', 'small.txt'), 'small\n');
        // Big enough that a progress line would be drawn if the CLI drew one without a TTY.
        await writeRandomFile(join(dir, 'big.bin'), 24 * 1024 * 1024, 'json');
        await symlink('dir/small.txt', join(dir, 'link'));
      },
    }));
  });
  afterAll(cleanupTemp);

  it('init prints {id, location, version}', async () => {
    const json = expectOneJson(await runCli(['--json', 'init'], cli), 'init') as Record<string, unknown>;
    expect(json.id).toMatch(/^[0-9a-f]{64}$/);
    expect(json.location).toBe(cli.repo);
    expect(json.version).toBe(2); // new repositories are format 2
  });

  it('backup prints the contract fields', async () => {
    const json = expectOneJson(await runCli(['--json', 'backup', '--tag', 'nightly', src], cli), 'backup') as Record<string, unknown>;
    for (const k of ['files_new', 'files_changed', 'files_unmodified', 'data_added', 'data_added_packed', 'duration_s']) {
      expect(typeof json[k], k).toBe('number');
    }
    expect(json.snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    expect(json.files_new).toBe(2);
    expect(json.data_added as number).toBeGreaterThanOrEqual(24 * 1024 * 1024);
    snapshotId = json.snapshot_id as string;
  });

  it('snapshots prints an array of {id, short_id, time, hostname, paths, tags}', async () => {
    const json = expectOneJson(await runCli(['--json', 'snapshots'], cli), 'snapshots') as Record<string, unknown>[];
    expect(json).toHaveLength(1);
    const s = json[0]!;
    expect(s).toMatchObject({ id: snapshotId, short_id: snapshotId.slice(0, 8), hostname: hostname(), paths: [src], tags: ['nightly'] });
    expect(new Date(s.time as string).toISOString()).toBe(s.time);
  });

  it('ls prints an array of entries', async () => {
    const json = expectOneJson(await runCli(['--json', 'ls', 'latest', src], cli), 'ls') as Record<string, unknown>[];
    const paths = json.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining([src, `${src}/big.bin`, `${src}/dir`, `${src}/dir/small.txt`, `${src}/link`]));
    expect(json.find((e) => e.path === `${src}/link`)).toMatchObject({ type: 'symlink', linktarget: 'dir/small.txt' });
    expect(json.find((e) => e.path === `${src}/big.bin`)).toMatchObject({ type: 'file', size: 24 * 1024 * 1024 });
  });

  it('restore prints one summary', async () => {
    const target = join(base, 'restored');
    const json = expectOneJson(await runCli(['--json', 'restore', 'latest', '--target', target], cli), 'restore') as Record<string, unknown>;
    expect(json).toMatchObject({ snapshot_id: snapshotId, target, files_restored: 2, symlinks_restored: 1 });
    expect(json.bytes_restored).toBe(24 * 1024 * 1024 + 6);
  });

  it('check prints one result, with and without --read-data', async () => {
    const plain = expectOneJson(await runCli(['--json', 'check'], cli), 'check') as Record<string, unknown>;
    expect(plain).toMatchObject({ ok: true, errors: [], snapshots: 1 });
    const full = expectOneJson(await runCli(['--json', 'check', '--read-data'], cli), 'check --read-data') as Record<string, unknown>;
    expect(full).toMatchObject({ ok: true, errors: [] });
    expect(full.packs_read as number).toBeGreaterThanOrEqual(2);
  });

  it('key list and unlock print one document each', async () => {
    const keys = expectOneJson(await runCli(['--json', 'key', 'list'], cli), 'key list') as Record<string, unknown>[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ current: true });
    expect(expectOneJson(await runCli(['--json', 'unlock'], cli), 'unlock')).toEqual({ removed: [] });
  });

  it('prints no progress codes without --json either when stdout and stderr are not terminals', async () => {
    await writeRandomFile(join(src, 'big.bin'), 24 * 1024 * 1024, 'json-changed');
    const runs = [
      await runCli(['backup', src], cli),
      await runCli(['restore', 'latest', '--target', join(base, 'restored-human')], cli),
      await runCli(['check', '--read-data'], cli),
      await runCli(['snapshots'], cli),
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(hasProgressCodes(r.stdout)).toBe(false);
      expect(hasProgressCodes(r.stderr)).toBe(false);
    }
    expect(runs[0]!.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);
  });
});
