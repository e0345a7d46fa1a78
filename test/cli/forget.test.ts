import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { runForget } from '../../src/jobs/forget.js';
import { Repository } from '../../src/repo/repository.js';
import { listSnapshots, type SnapshotJson } from '../../src/repo/snapshot.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { cleanupTemp, runCli, runOk, type CliOptions } from '../support/cli.js';
import { backupId, initRepoWithSource } from '../support/repo-setup.js';

/**
 * forget against real local repositories. Backup times cannot be chosen through the CLI, so each repository
 * holds two real snapshots (hosts h1 and h2, taken now) plus snapshot files written through the library with
 * chosen times and hosts, all pointing at the first real snapshot's tree so that check still passes.
 *
 * With --keep-daily 2 (zone UTC):
 *   h1, [src]:        R1 (today), s4 (3 Jan) kept; s3, s2, s1 removed (the two days are used up by then)
 *   h2, [src]:        R2 (today), t2 (newest of 1 Jan) kept; t1 removed
 *   h1, [/elsewhere]: o1 kept
 */
const PASSWORD = 'forget password';
const SYNTHETIC: { name: string; time: string; host: string; tags: string[]; elsewhere?: boolean }[] = [
  { name: 's1', time: '2025-01-01T10:00:00.000Z', host: 'h1', tags: [] },
  { name: 's2', time: '2025-01-02T09:00:00.000Z', host: 'h1', tags: [] },
  { name: 's3', time: '2025-01-02T18:00:00.000Z', host: 'h1', tags: [] },
  { name: 's4', time: '2025-01-03T08:00:00.000Z', host: 'h1', tags: [] },
  { name: 't1', time: '2025-01-01T10:00:00.000Z', host: 'h2', tags: ['x'] },
  { name: 't2', time: '2025-01-01T12:00:00.000Z', host: 'h2', tags: ['x'] },
  { name: 'o1', time: '2025-01-01T10:00:00.000Z', host: 'h1', tags: [], elsewhere: true },
];
const REMOVED = ['s1', 's2', 's3', 't1'];
const KEPT = ['R1', 'R2', 's4', 't2', 'o1'];

interface Seeded {
  cli: CliOptions;
  repoPath: string;
  src: string;
  /** Name (R1, R2, s1…) → snapshot id. */
  ids: Record<string, string>;
}

async function seed(label: string): Promise<Seeded> {
  const { src, cli } = await initRepoWithSource({
    prefix: `owb-forget-${label}-`,
    password: PASSWORD,
    fill: (dir) => writeFile(join(dir, 'file.txt'), 'forget me not\n'),
    cli: { env: { TZ: 'UTC' } },
  });
  const repoPath = cli.repo;
  const ids: Record<string, string> = {
    R1: await backupId(cli, '--host', 'h1', src),
    R2: await backupId(cli, '--host', 'h2', '--tag', 'x', src),
  };

  const backend = await openBackend(repoPath);
  try {
    const repo = await Repository.open(backend, PASSWORD);
    const { parent: _parent, ...template } = await repo.loadJson<SnapshotJson>('snapshots', ids.R1!);
    for (const s of SYNTHETIC) {
      const json: SnapshotJson = { ...template, time: s.time, hostname: s.host, tags: s.tags, paths: s.elsewhere ? ['/elsewhere'] : template.paths };
      ids[s.name] = await repo.saveJson('snapshots', json);
    }
  } finally {
    await backend.close();
  }
  return { cli, repoPath, src, ids };
}

function namesOf(ids: Record<string, string>, list: string[]): string[] {
  const byId = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
  return list.map((id) => byId.get(id) ?? `unknown ${id.slice(0, 8)}`).sort();
}

async function storedIds(repoPath: string): Promise<string[]> {
  return (await readdir(join(repoPath, 'snapshots'))).filter((n) => !n.startsWith('.')).sort();
}

async function withRepo<T>(repoPath: string, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const backend = await openBackend(repoPath);
  try {
    return await fn(await Repository.open(backend, PASSWORD));
  } finally {
    await backend.close();
  }
}

describe('runForget (library)', () => {
  let s: Seeded;

  beforeAll(async () => {
    s = await seed('lib');
  });
  afterAll(async () => {
    await cleanupTemp();
  });

  it('refuses an empty policy, ids mixed with a policy, and unknown ids, removing nothing', async () => {
    const before = await storedIds(s.repoPath);
    await withRepo(s.repoPath, async (repo) => {
      await expect(runForget(repo, {})).rejects.toThrow('no policy given: refusing to remove all snapshots');
      await expect(runForget(repo, { policy: { keepDaily: 0 } })).rejects.toThrow(UsageError);
      await expect(runForget(repo, { ids: [s.ids.s1!], policy: { keepLast: 1 } })).rejects.toThrow('not both');
      await expect(runForget(repo, { ids: ['ffffffffff'] })).rejects.toThrow(UsageError);
      await expect(runForget(repo, { policy: { keepTags: ['nothing-has-this'] }, timeZone: 'UTC' })).rejects.toThrow('refusing to delete last snapshot');
    });
    expect(await storedIds(s.repoPath)).toEqual(before);
  });

  it('dry run reports per group and removes nothing', async () => {
    const before = await storedIds(s.repoPath);
    const report = await withRepo(s.repoPath, (repo) => runForget(repo, { policy: { keepDaily: 2 }, dryRun: true, timeZone: 'UTC' }));
    expect(report.dryRun).toBe(true);
    expect(namesOf(s.ids, report.removed)).toEqual([...REMOVED].sort());
    expect(report.groups).toHaveLength(3);
    const h2 = report.groups.find((g) => g.key.hostname === 'h2')!;
    expect(h2.key).toEqual({ hostname: 'h2', paths: [s.src], tags: null });
    expect(h2.keep.map((k) => [k.snapshot.id, k.reasons])).toEqual([
      [s.ids.R2, ['daily snapshot']],
      [s.ids.t2, ['daily snapshot']],
    ]);
    expect(h2.remove.map((r) => r.id)).toEqual([s.ids.t1]);
    expect(await storedIds(s.repoPath)).toEqual(before);
  });

  it('filters by host before applying the policy', async () => {
    const report = await withRepo(s.repoPath, (repo) =>
      runForget(repo, { policy: { keepLast: 1 }, filter: { hosts: ['h2'], tags: ['x'] }, dryRun: true, timeZone: 'UTC' }),
    );
    expect(report.groups.map((g) => g.key.hostname)).toEqual(['h2']);
    expect(namesOf(s.ids, report.removed)).toEqual(['t1', 't2']);
    const none = await withRepo(s.repoPath, (repo) => runForget(repo, { policy: { keepLast: 1 }, filter: { tags: ['x,y'] }, dryRun: true }));
    expect(none.groups).toEqual([]);
  });

  it('removes exactly the snapshots the policy drops', async () => {
    const report = await withRepo(s.repoPath, (repo) => runForget(repo, { policy: { keepDaily: 2 }, timeZone: 'UTC' }));
    expect(namesOf(s.ids, report.removed)).toEqual([...REMOVED].sort());
    const left = await withRepo(s.repoPath, (repo) => listSnapshots(repo));
    expect(namesOf(s.ids, left.map((x) => x.id))).toEqual([...KEPT].sort());
    // A second run finds nothing more to remove.
    const again = await withRepo(s.repoPath, (repo) => runForget(repo, { policy: { keepDaily: 2 }, timeZone: 'UTC' }));
    expect(again.removed).toEqual([]);
  });

  it('removes explicit ids given as unique prefixes', async () => {
    const report = await withRepo(s.repoPath, (repo) => runForget(repo, { ids: [s.ids.o1!.slice(0, 12), s.ids.o1!] }));
    expect(report.removed).toEqual([s.ids.o1]);
    expect(report.groups).toEqual([expect.objectContaining({ keep: [], remove: [expect.objectContaining({ id: s.ids.o1 })] })]);
    expect(await storedIds(s.repoPath)).not.toContain(s.ids.o1);
  });
});

/** These run the real CLI; they pass once `registerForget` is wired into src/cli/main.ts. */
describe('owb forget (CLI)', () => {
  let s: Seeded;
  interface JsonGroup {
    group: { hostname: string | null; paths: string[] | null; tags: string[] | null };
    keep: { id: string; short_id: string; time: string; reasons: string[] }[];
    remove: { id: string; short_id: string; time: string }[];
  }

  beforeAll(async () => {
    s = await seed('cli');
  });
  afterAll(cleanupTemp);

  it('refuses without a policy, with ids mixed with a policy, and with a bad count, exit 2, nothing removed', async () => {
    const before = await storedIds(s.repoPath);
    const none = await runCli(['forget'], s.cli);
    expect(none.code, none.stderr).toBe(2);
    expect(none.stderr).toContain('no policy given: refusing to remove all snapshots');
    const mixed = await runCli(['forget', '--keep-last', '1', before[0]!.slice(0, 8)], s.cli);
    expect(mixed.code, mixed.stderr).toBe(2);
    const bad = await runCli(['forget', '--keep-daily', '-2'], s.cli);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('negative values other than -1');
    expect(await storedIds(s.repoPath)).toEqual(before);
  });

  it('--dry-run --json reports every group and removes nothing', async () => {
    const before = await storedIds(s.repoPath);
    const r = await runOk(['--json', 'forget', '--keep-daily', '2', '--dry-run'], s.cli);
    expect(r.stderr).toBe('');
    const groups = r.json as JsonGroup[];
    expect(groups.map((g) => g.group).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { hostname: 'h1', paths: ['/elsewhere'], tags: null },
      { hostname: 'h1', paths: [s.src], tags: null },
      { hostname: 'h2', paths: [s.src], tags: null },
    ]);
    const h1 = groups.find((g) => g.group.hostname === 'h1' && g.group.paths?.[0] === s.src)!;
    expect(h1.keep).toEqual([
      { id: s.ids.R1, short_id: s.ids.R1!.slice(0, 8), time: expect.any(String), reasons: ['daily snapshot'] },
      { id: s.ids.s4, short_id: s.ids.s4!.slice(0, 8), time: '2025-01-03T08:00:00.000Z', reasons: ['daily snapshot'] },
    ]);
    expect(h1.remove.map((x) => x.id)).toEqual([s.ids.s3, s.ids.s2, s.ids.s1]);
    expect(namesOf(s.ids, groups.flatMap((g) => g.remove.map((x) => x.id)))).toEqual([...REMOVED].sort());
    expect(namesOf(s.ids, groups.flatMap((g) => g.keep.map((x) => x.id)))).toEqual([...KEPT].sort());
    expect(await storedIds(s.repoPath)).toEqual(before);
    const listed = (await runOk(['--json', 'snapshots'], s.cli)).json as { id: string }[];
    expect(listed).toHaveLength(2 + SYNTHETIC.length);
  });

  it('human --dry-run output lists keep/remove with reasons', async () => {
    const r = await runOk(['forget', '--keep-daily', '2', '--keep-tag', 'x', '-n'], s.cli);
    const line = (name: string): string => r.stdout.split('\n').find((l) => l.startsWith(s.ids[name]!.slice(0, 8))) ?? '';
    expect(line('t1')).toMatch(/\bkeep\s+tag x$/);
    expect(line('t2')).toMatch(/\bkeep\s+tag x, daily snapshot$/);
    expect(line('s1')).toMatch(/\bremove\s*$/);
    expect(r.stdout).toContain(`snapshots of host h2, paths [${s.src}]:`);
    expect(r.stdout).toContain('3 snapshots would be removed (dry run)');
  });

  it('removes exactly the expected snapshots; snapshots and check agree', async () => {
    const r = await runOk(['--json', 'forget', '--keep-daily', '2'], s.cli);
    expect(namesOf(s.ids, (r.json as JsonGroup[]).flatMap((g) => g.remove.map((x) => x.id)))).toEqual([...REMOVED].sort());
    const listed = (await runOk(['--json', 'snapshots'], s.cli)).json as { id: string }[];
    expect(namesOf(s.ids, listed.map((x) => x.id))).toEqual([...KEPT].sort());
    expect(await storedIds(s.repoPath)).toEqual(KEPT.map((n) => s.ids[n]!).sort());
    await runOk(['check'], s.cli);
  });

  it('forgets explicit ids', async () => {
    const r = await runOk(['forget', s.ids.o1!.slice(0, 10), s.ids.t2!], s.cli);
    expect(r.stdout).toContain('2 snapshots removed');
    const listed = (await runOk(['--json', 'snapshots'], s.cli)).json as { id: string }[];
    expect(namesOf(s.ids, listed.map((x) => x.id))).toEqual(['R1', 'R2', 's4']);
    await runOk(['check'], s.cli);
  });
});
