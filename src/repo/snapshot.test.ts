import { beforeAll, describe, expect, it } from 'vitest';
import { DamagedRepoError, ExitCode, UsageError } from '../errors.js';
import { MemoryBackend } from '../storage/memory.js';
import { Repository } from './repository.js';
import { findSnapshot, listSnapshots, type Snapshot, type SnapshotJson } from './snapshot.js';

function snap(id: string, time: string, extra: Partial<Snapshot> = {}): Snapshot {
  return { id, time, hostname: 'h1', username: 'u', paths: ['/srv/data'], tags: [], tree: 't'.repeat(64), program_version: '0', ...extra };
}

const ALL: Snapshot[] = [
  snap('aaaa1111'.padEnd(64, '0'), '2024-01-01T00:00:00.000Z', { tags: ['daily'] }),
  snap('aaaa2222'.padEnd(64, '0'), '2024-01-02T00:00:00.000Z', { hostname: 'h2' }),
  snap('bbbb3333'.padEnd(64, '0'), '2024-01-03T00:00:00.000Z', { paths: ['/other'], tags: ['daily', 'manual'] }),
  snap('cccc4444'.padEnd(64, '0'), '2024-01-04T00:00:00.000Z'),
];

describe('findSnapshot', () => {
  it('resolves "latest" to the last one', () => {
    expect(findSnapshot(ALL, 'latest').id).toBe(ALL[3]!.id);
  });

  it('resolves "latest" within a filter of host, paths and tags', () => {
    expect(findSnapshot(ALL, 'latest', { hostname: 'h2' }).id).toBe(ALL[1]!.id);
    expect(findSnapshot(ALL, 'latest', { paths: ['/srv/data'] }).id).toBe(ALL[3]!.id);
    expect(findSnapshot(ALL, 'latest', { paths: ['/other'] }).id).toBe(ALL[2]!.id);
    expect(findSnapshot(ALL, 'latest', { tags: ['daily'] }).id).toBe(ALL[2]!.id);
    expect(findSnapshot(ALL, 'latest', { tags: ['daily', 'manual'] }).id).toBe(ALL[2]!.id);
    expect(findSnapshot(ALL, 'latest', { hostname: 'h1', tags: ['daily'], paths: ['/srv/data'] }).id).toBe(ALL[0]!.id);
  });

  it('matches paths as a set, in any order', () => {
    const multi = [snap('dd'.padEnd(64, '1'), '2024-02-01T00:00:00.000Z', { paths: ['/b', '/a'] })];
    expect(findSnapshot(multi, 'latest', { paths: ['/a', '/b'] }).id).toBe(multi[0]!.id);
    expect(() => findSnapshot(multi, 'latest', { paths: ['/a'] })).toThrow(UsageError);
  });

  it('fails "latest" with a usage error when nothing matches', () => {
    expect(() => findSnapshot([], 'latest')).toThrow(UsageError);
    expect(() => findSnapshot(ALL, 'latest', { hostname: 'nobody' })).toThrow(/no snapshot found/);
  });

  it('resolves a unique prefix and a full id', () => {
    expect(findSnapshot(ALL, 'b').id).toBe(ALL[2]!.id);
    expect(findSnapshot(ALL, 'aaaa2').id).toBe(ALL[1]!.id);
    expect(findSnapshot(ALL, ALL[3]!.id).id).toBe(ALL[3]!.id);
  });

  it('refuses an ambiguous prefix, an unknown one, and a ref that is not hex', () => {
    expect(() => findSnapshot(ALL, 'aaaa')).toThrow(/aaaa is ambiguous/);
    expect(() => findSnapshot(ALL, 'ffff')).toThrow(/no snapshot with id ffff/);
    expect(() => findSnapshot(ALL, '')).toThrow(UsageError);
    expect(() => findSnapshot(ALL, 'AAAA1111')).toThrow(/not a snapshot id/);
    expect(() => findSnapshot(ALL, '../aaaa')).toThrow(/not a snapshot id/);
    expect(() => findSnapshot(ALL, 'a'.repeat(65))).toThrow(UsageError);
    // Throws, and with the usage exit code (a try/catch would pass if nothing were thrown).
    const err = (() => {
      try {
        findSnapshot(ALL, 'aaaa');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
  });
});

describe('listSnapshots', () => {
  let repo: Repository;

  beforeAll(async () => {
    repo = await Repository.init(new MemoryBackend('snapshots'), 'pw');
  });

  it('is empty for a new repository', async () => {
    expect(await listSnapshots(repo)).toEqual([]);
  });

  it('loads every snapshot with its id, sorted by time whatever the save order', async () => {
    const base: Omit<SnapshotJson, 'time'> = { hostname: 'h', username: 'u', paths: ['/x'], tags: [], tree: 'f'.repeat(64), program_version: '0' };
    const late = await repo.saveJson('snapshots', { ...base, time: '2024-03-01T00:00:00.000Z' });
    const early = await repo.saveJson('snapshots', { ...base, time: '2024-01-01T00:00:00.000Z' });
    const middle = await repo.saveJson('snapshots', { ...base, time: '2024-02-01T00:00:00.000Z', tags: ['t'] });
    const list = await listSnapshots(repo);
    expect(list.map((s) => s.id)).toEqual([early, middle, late]);
    expect(list[1]).toMatchObject({ id: middle, tags: ['t'], paths: ['/x'] });
    expect(findSnapshot(list, 'latest').id).toBe(late);
  });

  it('leaves out a malformed snapshot and reports it, so the others still list', async () => {
    const before = (await listSnapshots(repo)).map((s) => s.id);
    const bad = [
      await repo.saveJson('snapshots', { time: '2024-04-01T00:00:00.000Z', hostname: 'h' }),
      await repo.saveJson('snapshots', { time: 'not a time', hostname: 'h', paths: [], tags: [], tree: 'f'.repeat(64) }),
      await repo.saveJson('snapshots', { time: '2024-04-01T00:00:00.000Z', hostname: 'h', paths: [], tags: [], tree: '../../x' }),
      await repo.saveJson('snapshots', { time: '2024-04-01T00:00:00.000Z', hostname: 'h', paths: [1], tags: [], tree: 'f'.repeat(64) }),
    ];
    const damaged: { id: string; err: Error }[] = [];
    const list = await listSnapshots(repo, (id, err) => damaged.push({ id, err }));
    expect(list.map((s) => s.id)).toEqual(before);
    expect(damaged.map((d) => d.id).sort()).toEqual([...bad].sort());
    for (const d of damaged) {
      expect(d.err).toBeInstanceOf(DamagedRepoError);
      expect(d.err.message).toContain(`snapshot ${d.id.slice(0, 8)} is malformed`);
    }
    for (const id of bad) await repo.backend.remove({ type: 'snapshots', name: id });
  });

  it('leaves out and reports a snapshot whose bytes do not match its name', async () => {
    const good = (await listSnapshots(repo))[0]!;
    const bytes = await repo.backend.load({ type: 'snapshots', name: good.id });
    const fake = 'e'.repeat(64);
    await repo.backend.save({ type: 'snapshots', name: fake }, bytes);
    const damaged: string[] = [];
    const list = await listSnapshots(repo, (id, err) => damaged.push(`${id}: ${err.message}`));
    expect(list.map((s) => s.id)).not.toContain(fake);
    expect(list.map((s) => s.id)).toContain(good.id);
    expect(damaged).toHaveLength(1);
    expect(damaged[0]).toMatch(/^e{64}: .*does not match its name/);
    await repo.backend.remove({ type: 'snapshots', name: fake });
  });
});
