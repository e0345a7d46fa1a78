import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JSONL_NAME, pruneLogs } from './log-retention.js';
import { Redactor } from './redact.js';
import { RunLog } from './run-log.js';
import { fileStamp } from './run-report.js';

let root: string;
let dir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'owb-logprune-'));
  dir = join(root, 'state', 'logs');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('pruneLogs', () => {
  /** Creates report files for the given days-ago values (plus unrelated files that must survive). */
  async function seed(daysAgo: number[], at: Date): Promise<string[]> {
    const names = daysAgo.map((d) => `${fileStamp(new Date(at.getTime() - d * 86400_000))}-backup.log`);
    await RunLog.start({ dir, job: 'x', redactor: new Redactor() }); // creates dir
    for (const n of names) await writeFile(join(dir, n), 'report\n');
    await writeFile(join(dir, JSONL_NAME), '{}\n');
    await writeFile(join(dir, 'notes.txt'), 'keep me\n');
    return names;
  }

  it('removes reports older than keep_days, never the jsonl or foreign files', async () => {
    const at = new Date('2026-11-26T12:00:00Z');
    const names = await seed([0, 1, 89.9, 90.1, 400], at);
    const { removed } = await pruneLogs(dir, { keepDays: 90, keepCount: 0, now: at });
    expect(removed).toEqual([names[4], names[3]]);
    expect((await readdir(dir)).sort()).toEqual([names[2], names[1], names[0], 'notes.txt', JSONL_NAME].sort());
  });

  it('keeps only the newest keep_count reports', async () => {
    const at = new Date('2026-11-26T12:00:00Z');
    const names = await seed([3, 0, 5, 1, 2], at);
    const { removed } = await pruneLogs(dir, { keepDays: 0, keepCount: 2, now: at });
    expect(removed).toEqual([names[2], names[0], names[4]]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.log')).sort()).toEqual([names[3], names[1]].sort());
  });

  it('applies both rules, removes stale temp files, and rotates a large jsonl', async () => {
    const at = new Date('2026-11-26T12:00:00Z');
    const names = await seed([0, 1, 2, 100], at);
    await writeFile(join(dir, '.tmp-old'), 'x');
    await utimes(join(dir, '.tmp-old'), new Date(at.getTime() - 2 * 86400_000), new Date(at.getTime() - 2 * 86400_000));
    await writeFile(join(dir, '.tmp-fresh'), 'x');
    await utimes(join(dir, '.tmp-fresh'), at, at);
    await writeFile(join(dir, JSONL_NAME), 'x'.repeat(2000));
    const { removed, rotated } = await pruneLogs(dir, { keepDays: 90, keepCount: 2, now: at, maxJsonlBytes: 1000 });
    expect(removed).toEqual(['.tmp-old', names[3], names[2]]);
    expect(rotated).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['.tmp-fresh', names[1], names[0], 'notes.txt', `${JSONL_NAME}.1`].sort());
  });

  it('is a no-op for a missing directory', async () => {
    expect(await pruneLogs(join(root, 'nope'), { keepDays: 1, keepCount: 1 })).toEqual({ removed: [], rotated: false });
  });
});
