import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, collect, makeTemp, runOk, startCli, writePassword } from '../support/cli.js';

interface JsonLine {
  job: string;
  ok: boolean;
  time: string;
  duration_s: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The run records so far (none while the log does not exist yet). */
async function records(file: string): Promise<JsonLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
}

/** Polls until `done` holds for the records, however slow the machine (the test's own timeout bounds it). */
async function waitForRecords(file: string, done: (lines: JsonLine[]) => boolean): Promise<void> {
  while (!done(await records(file))) await sleep(100);
}

/** The real daemon: runs its schedule, never overlaps jobs, survives failing ones, reloads on SIGHUP, stops on SIGTERM. */
describe('owb daemon', () => {
  let dir: string;
  let config: string;
  const writeConfig = (tag: string): Promise<void> =>
    writeFile(
      config,
      [
        'default_repository: main',
        'repositories:',
        `  main: { url: ${join(dir, 'repo')}, password_file: ${join(dir, 'password')} }`,
        `state_dir: ${join(dir, 'state')}`,
        `logs: { dir: ${join(dir, 'logs')} }`,
        'schedule:',
        `  - { job: backup, cron: "*/2 * * * * *", args: { tag: ${tag}, paths: [${join(dir, 'src')}] } }`,
        `  - { job: check, cron: "*/3 * * * * *", repository: ${join(dir, 'no-such-repo')} }`,
        '',
      ].join('\n'),
    );

  beforeAll(async () => {
    dir = await makeTemp('owb-daemon-');
    await writePassword(dir, 'daemon-pw');
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'a.txt'), 'hello');
    config = join(dir, 'owb.yaml');
    await writeConfig('first');
    await runOk(['init'], { env: { OWB_CONFIG: config } });
  });
  afterAll(cleanupTemp);

  it('runs scheduled jobs without overlap, keeps going after failures, reloads on SIGHUP and stops on SIGTERM', async () => {
    const child = await startCli(['daemon', '--metrics-listen', '127.0.0.1:0'], { env: { OWB_CONFIG: config } });
    const done = collect(child, 170_000);
    const log = join(dir, 'logs', 'owb.jsonl');
    const okBackups = (ls: JsonLine[]): number => ls.filter((l) => l.job === 'backup' && l.ok).length;
    // Events, not sleeps: two backups and a failed check under the first config, then one more after the reload.
    await waitForRecords(log, (ls) => okBackups(ls) >= 2 && ls.some((l) => l.job === 'check'));
    await writeConfig('second');
    child.kill('SIGHUP');
    const tagged = async (tag: string): Promise<boolean> =>
      ((await runOk(['snapshots', '--json'], { env: { OWB_CONFIG: config } })).json as { tags: string[] }[]).some((x) => x.tags.includes(tag));
    while (!(await tagged('second'))) await sleep(200);
    await waitForRecords(log, (ls) => okBackups(ls) >= 3 && ls.filter((l) => l.job === 'check').length >= 2);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/config reloaded/);
    expect(r.stderr).toMatch(/check@.*FAILED/);

    const lines = await records(log);
    const backups = lines.filter((l) => l.job === 'backup');
    const checks = lines.filter((l) => l.job === 'check');
    expect(backups.filter((l) => l.ok).length).toBeGreaterThanOrEqual(3);
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks.every((l) => !l.ok)).toBe(true);
    // No two runs overlap in time.
    const spans = lines.map((l) => [Date.parse(l.time), Date.parse(l.time) + l.duration_s * 1000] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1] - 5);

    const snaps = (await runOk(['snapshots', '--json'], { env: { OWB_CONFIG: config } })).json as { tags: string[] }[];
    expect(snaps.some((s) => s.tags.includes('first'))).toBe(true);
    expect(snaps.some((s) => s.tags.includes('second'))).toBe(true);
  }, 180_000);
});
