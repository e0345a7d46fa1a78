import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from './redact.js';
import { JSONL_NAME } from './log-retention.js';
import { RunLog, type RunRecord } from './run-log.js';

const SECRET = 'Sup3r-Secret-Pw';
let root: string;
let dir: string;
let t: number;
const now = () => new Date(t);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'owb-runlog-'));
  dir = join(root, 'state', 'logs');
  t = Date.parse('2026-11-26T09:15:02.120Z');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function jsonl(): Promise<RunRecord[]> {
  const text = await readFile(join(dir, JSONL_NAME), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as RunRecord);
}

/** A failed backup run with steps, events, sizes and a secret in several places. */
async function failedRun() {
  const log = await RunLog.start({ dir, job: 'backup', redactor: new Redactor([SECRET]), now, host: 'nas1' });
  const capture = log.step('capture');
  log.event('container_down', { container: 'open-webui' });
  t += 411;
  log.event('container_up', { container: 'open-webui' });
  t += 839;
  capture(`staged via s3:https://AKIA:${SECRET}@s3.example/bucket`);
  const upload = log.step('upload');
  t += 125_500;
  upload({ ok: false, detail: 'HTTP 503' });
  log.step('index'); // never ends
  log.set('bytes_added', 12 * 1024 * 1024);
  log.set('bytes_stored', 512);
  log.set('downtime_s', 0.411);
  log.set('snapshot_id', '1a2b3c4d');
  t += 1000;
  const err = new Error(`upload failed: password=${SECRET}`, { cause: new Error('socket hang up') });
  return { log, finished: await log.finish({ ok: false, exitCode: 1, error: err }) };
}

describe('RunLog', () => {
  it('writes a readable report with steps, durations, events, sizes and the error', async () => {
    const { finished } = await failedRun();
    expect(finished.reportPath).toBe(join(dir, '2026-11-26T09-15-02Z-backup.log'));
    const report = await readFile(finished.reportPath, 'utf8');
    expect(report).toBe(finished.report);
    const lines = report.split('\n');
    expect(lines[0]).toBe('owb backup: FAILED (exit 1)');
    expect(report).toContain('started    2026-11-26 09:15:02.120 UTC');
    expect(report).toContain('finished   2026-11-26 09:17:09.870 UTC');
    expect(report).toContain('duration   2m 07.8s');
    expect(report).toContain('host       nas1');
    const step = (name: string) => lines.find((l) => l.includes(` ${name} `))!;
    expect(step('capture')).toMatch(/^ {2}09:15:02\.120 {2}capture +1\.250 s {2}ok {2}staged via s3:https:\/\/AKIA:\*\*\*@s3\.example\/bucket$/);
    expect(step('upload')).toMatch(/^ {2}09:15:03\.370 {2}upload +2m 05\.5s {2}FAILED {2}HTTP 503$/);
    expect(step('index')).toMatch(/^ {2}09:17:08\.870 {2}index +- {2}UNFINISHED$/);
    expect(report).toMatch(/09:15:02\.120 {2}container_down {2}container=open-webui\n {2}09:15:02\.531 {2}container_up +container=open-webui/);
    expect(report).toMatch(/bytes_added +12\.00 MiB \(12582912 bytes\)/);
    expect(report).toMatch(/bytes_stored +512 B\n/);
    expect(report).toMatch(/downtime_s +0\.411 s/);
    expect(report).toMatch(/snapshot_id +1a2b3c4d/);
    expect(report).toContain('Result\n  failure, exit code 1');
    expect(report).toContain('Error\n  upload failed: password=***\n  caused by: socket hang up\n');
    expect(report).not.toContain(SECRET);
  });

  it('appends one parseable, redacted JSON line per run', async () => {
    const { log } = await failedRun();
    const ok = await RunLog.start({ dir, job: 'check', redactor: new Redactor(), now });
    ok.step('read')('all packs');
    t += 2500;
    await ok.finish({ ok: true, exitCode: 0 });
    const text = await readFile(join(dir, JSONL_NAME), 'utf8');
    expect(text).not.toContain(SECRET);
    const [first, second] = await jsonl();
    expect(first).toMatchObject({
      time: '2026-11-26T09:15:02.120Z',
      run_id: log.runId,
      job: 'backup',
      host: 'nas1',
      ok: false,
      exit_code: 1,
      duration_s: 127.75,
      values: { bytes_added: 12582912, bytes_stored: 512, downtime_s: 0.411, snapshot_id: '1a2b3c4d' },
      error: 'upload failed: password=***\ncaused by: socket hang up',
      report: '2026-11-26T09-15-02Z-backup.log',
    });
    expect(first!.steps).toEqual([
      { name: 'capture', start: '2026-11-26T09:15:02.120Z', duration_s: 1.25, ok: true, detail: 'staged via s3:https://AKIA:***@s3.example/bucket' },
      { name: 'upload', start: '2026-11-26T09:15:03.370Z', duration_s: 125.5, ok: false, detail: 'HTTP 503' },
      { name: 'index', start: '2026-11-26T09:17:08.870Z', duration_s: null, ok: null },
    ]);
    expect(first!.events).toEqual([
      { time: '2026-11-26T09:15:02.120Z', kind: 'container_down', detail: { container: 'open-webui' } },
      { time: '2026-11-26T09:15:02.531Z', kind: 'container_up', detail: { container: 'open-webui' } },
    ]);
    expect(second).toMatchObject({ job: 'check', ok: true, exit_code: 0, duration_s: 2.5, steps: [{ name: 'read', ok: true, detail: 'all packs' }] });
    expect(second!.error).toBeUndefined();
    expect(second!.run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second!.run_id).not.toBe(first!.run_id);
  });

  it('creates the directory 0700 and the files 0600, leaving no temp files', async () => {
    await failedRun();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, '2026-11-26T09-15-02Z-backup.log'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, JSONL_NAME))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(['2026-11-26T09-15-02Z-backup.log', JSONL_NAME]);
  });

  it('never overwrites a report: two runs in the same second get distinct files', async () => {
    for (let i = 0; i < 3; i++) {
      const log = await RunLog.start({ dir, job: 'back/up', redactor: new Redactor(), now });
      await log.finish({ ok: true, exitCode: 0 });
    }
    expect((await readdir(dir)).filter((n) => n.endsWith('.log')).sort()).toEqual([
      '2026-11-26T09-15-02Z-back_up.2.log',
      '2026-11-26T09-15-02Z-back_up.3.log',
      '2026-11-26T09-15-02Z-back_up.log',
    ]);
    expect((await jsonl()).map((r) => r.report)).toEqual([
      '2026-11-26T09-15-02Z-back_up.log',
      '2026-11-26T09-15-02Z-back_up.2.log',
      '2026-11-26T09-15-02Z-back_up.3.log',
    ]);
  });

  it('finish is idempotent and later step/event/set calls change nothing', async () => {
    const log = await RunLog.start({ dir, job: 'backup', redactor: new Redactor(), now });
    const done = log.step('late');
    const a = await log.finish({ ok: true, exitCode: 0 });
    done('after finish');
    log.event('container_up');
    log.set('bytes_added', 1);
    const b = await log.finish({ ok: false, exitCode: 1 });
    expect(b).toBe(a);
    expect(await jsonl()).toHaveLength(1);
    expect(a.record.steps[0]).toMatchObject({ name: 'late', ok: null });
    expect(a.record.events).toEqual([]);
  });

  it('rotates owb.jsonl to owb.jsonl.1 when it would pass the size limit', async () => {
    for (let i = 0; i < 3; i++) {
      const log = await RunLog.start({ dir, job: `j${i}`, host: 'h', redactor: new Redactor(), now, maxJsonlBytes: 1000 });
      log.set('filler', 'x'.repeat(200)); // each line is about 400 bytes: two fit in 1000, three do not
      await log.finish({ ok: true, exitCode: 0 });
      t += 1000;
    }
    const current = await jsonl();
    const rotated = (await readFile(join(dir, `${JSONL_NAME}.1`), 'utf8')).trimEnd().split('\n');
    expect(current.map((r) => r.job)).toEqual(['j2']);
    expect(rotated.map((l) => (JSON.parse(l) as RunRecord).job)).toEqual(['j0', 'j1']);
  });
});
