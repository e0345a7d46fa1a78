import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { crontabRunsOwb, cronIntervalMs, findScheduleEvidence, scheduleItem } from './schedule.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = new Date('2025-06-10T12:00:00.000Z'); // a Tuesday

describe('cronIntervalMs', () => {
  it('is the gap between the two previous runs', () => {
    expect(cronIntervalMs('0 * * * *', undefined, NOW)).toBe(HOUR);
    expect(cronIntervalMs('*/15 * * * *', 'UTC', NOW)).toBe(15 * MIN);
    expect(cronIntervalMs('30 2 * * *', 'Europe/Berlin', NOW)).toBe(DAY);
    // Weekdays only: on Tuesday the last gap is Mon→Tue, on Monday it is Fri→Mon.
    expect(cronIntervalMs('0 3 * * 1-5', 'UTC', NOW)).toBe(DAY);
    expect(cronIntervalMs('0 3 * * 1-5', 'UTC', new Date('2025-06-09T12:00:00Z'))).toBe(3 * DAY);
  });

  it('throws on malformed expressions and 6-field ones', () => {
    expect(() => cronIntervalMs('not cron', undefined, NOW)).toThrow();
    expect(() => cronIntervalMs('0 0 3 * * *', undefined, NOW)).toThrow(/5 parts/);
    expect(() => cronIntervalMs('61 * * * *', undefined, NOW)).toThrow();
  });
});

describe('scheduleItem', () => {
  const cfg = ConfigSchema.parse({ schedule: [{ job: 'backup', cron: '0 3 * * *' }, { job: 'prune', cron: '0 4 * * 0', timezone: 'Europe/Berlin' }] });
  it('warns without entries or without anything running them, passes with evidence', () => {
    expect(scheduleItem([], [], NOW)).toMatchObject({ status: 'WARN', detail: 'the config has no schedule: entries' });
    expect(scheduleItem(cfg.schedule, [], NOW)).toMatchObject({ status: 'WARN', detail: '2 schedule entries, but no owb timer, crontab line or running daemon found' });
    expect(scheduleItem(cfg.schedule, ['daemon running (pid 7)'], NOW)).toMatchObject({ status: 'PASS', detail: '2 schedule entries; daemon running (pid 7)' });
  });

  it('fails invalid cron expressions and zones', () => {
    const bad = ConfigSchema.parse({ schedule: [{ job: 'backup', cron: '0 25 * * *' }, { job: 'check', cron: '0 1 * * *', timezone: 'Mars/Olympus' }] });
    const item = scheduleItem(bad.schedule, ['daemon running (pid 7)'], NOW);
    expect(item.status).toBe('FAIL');
    expect(item.detail).toContain('entry 1 (backup) "0 25 * * *"');
    expect(item.detail).toContain('entry 2 (check) "0 1 * * *" Mars/Olympus');
  });
});

describe('crontabRunsOwb', () => {
  it('counts job lines only', () => {
    expect(crontabRunsOwb('0 3 * * * root OWB_CONFIG=/etc/owb/config.yaml /usr/bin/node /opt/owb/dist/cli/main.js --quiet backup\n')).toBe(true);
    expect(crontabRunsOwb('# 0 3 * * * owb backup\nOWB_X=1\n')).toBe(false);
    expect(crontabRunsOwb('0 3 * * * /usr/bin/cowboy\n')).toBe(false);
  });
});

describe('findScheduleEvidence', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-doctor-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds enabled timers, crontab lines and a live daemon, and ignores a dead pid', async () => {
    const sys = join(dir, 'system');
    await mkdir(join(sys, 'timers.target.wants'), { recursive: true });
    await writeFile(join(sys, 'owb-backup-1.timer'), '[Timer]\n');
    await symlink(join(sys, 'owb-backup-1.timer'), join(sys, 'timers.target.wants', 'owb-backup-1.timer'));
    await symlink('/dev/null', join(sys, 'timers.target.wants', 'other.timer'));
    await mkdir(join(dir, 'cron.d'));
    await writeFile(join(dir, 'cron.d', 'owb'), '0 3 * * * root /usr/bin/node /opt/owb/dist/cli/main.js backup\n');
    await writeFile(join(dir, 'cron.d', 'unrelated'), '0 3 * * * root /usr/bin/true\n');
    const pidFile = join(dir, 'daemon.pid');
    await writeFile(pidFile, `${process.pid}\n`);
    const probe = { systemdDirs: [sys, join(dir, 'missing')], cronPaths: [join(dir, 'cron.d'), join(dir, 'no-crontab')], userCrontab: false, pidFile };
    expect(await findScheduleEvidence(probe)).toEqual([
      `systemd unit owb-backup-1.timer enabled (${join(sys, 'timers.target.wants')})`,
      `crontab ${join(dir, 'cron.d', 'owb')}`,
      `daemon running (pid ${process.pid})`,
    ]);

    // A pid that surely is gone: a child that has exited and been reaped.
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => child.on('close', r));
    await writeFile(pidFile, `${child.pid}\n`);
    await rm(join(dir, 'cron.d', 'owb'));
    await rm(join(sys, 'timers.target.wants', 'owb-backup-1.timer'));
    expect(await findScheduleEvidence(probe)).toEqual([]);
  });
});
