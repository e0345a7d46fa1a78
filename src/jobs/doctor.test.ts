import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../config/schema.js';
import {
  backupAgeItem,
  backupEntryFor,
  configSecretsItem,
  crontabRunsOwb,
  cronIntervalMs,
  drillItem,
  findInlineSecrets,
  findScheduleEvidence,
  formatAge,
  redactUrl,
  scheduleItem,
  secretFileItem,
  secretFilesOf,
  stagingItem,
  type DoctorRepo,
} from './doctor.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = new Date('2025-06-10T12:00:00.000Z'); // a Tuesday

describe('formatAge', () => {
  it.each([
    [0, '0m'],
    [45 * MIN, '45m'],
    [HOUR, '1h'],
    [5 * HOUR + 10 * MIN, '5h 10m'],
    [3 * DAY, '3d'],
    [3 * DAY + 4 * HOUR + 59 * MIN, '3d 4h'],
  ])('%d ms → %s', (ms, text) => expect(formatAge(ms)).toBe(text));
});

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

describe('backupAgeItem', () => {
  const hourly = { cron: '0 * * * *', intervalMs: HOUR };
  const at = (ms: number): Date => new Date(NOW.getTime() - ms);

  it('judges against the schedule: over 1.5 intervals warns, over 3 fails', () => {
    expect(backupAgeItem('main', at(HOUR), NOW, hourly).status).toBe('PASS');
    expect(backupAgeItem('main', at(1.5 * HOUR), NOW, hourly).status).toBe('PASS');
    expect(backupAgeItem('main', at(1.5 * HOUR + MIN), NOW, hourly).status).toBe('WARN');
    expect(backupAgeItem('main', at(3 * HOUR), NOW, hourly).status).toBe('WARN');
    const fail = backupAgeItem('main', at(3 * HOUR + MIN), NOW, hourly);
    expect(fail).toMatchObject({ name: 'backup age main', status: 'FAIL' });
    expect(fail.detail).toContain('3h 1m old');
    expect(fail.detail).toContain('every 1h');
    expect(fail.fix).toBeTruthy();
  });

  it('without a schedule warns after 2 days and fails after 7', () => {
    expect(backupAgeItem('x', at(2 * DAY), NOW).status).toBe('PASS');
    expect(backupAgeItem('x', at(2 * DAY + MIN), NOW).status).toBe('WARN');
    expect(backupAgeItem('x', at(7 * DAY), NOW).status).toBe('WARN');
    expect(backupAgeItem('x', at(7 * DAY + MIN), NOW).status).toBe('FAIL');
  });

  it('fails when there is no snapshot at all', () => {
    expect(backupAgeItem('x', undefined, NOW, hourly)).toMatchObject({ status: 'FAIL', detail: 'no snapshots' });
  });
});

describe('drillItem', () => {
  const drill = (ms: number) => ({ time: new Date(NOW.getTime() - ms).toISOString(), snapshot_id: 'abcdef0123456789' });
  it('warns when none is recorded or after 14 days, fails after 60', () => {
    expect(drillItem(undefined, NOW)).toMatchObject({ status: 'WARN', detail: 'no restore drill recorded' });
    expect(drillItem(drill(14 * DAY), NOW)).toMatchObject({ status: 'PASS', detail: 'last successful drill 14d ago (snapshot abcdef01)' });
    expect(drillItem(drill(14 * DAY + HOUR), NOW).status).toBe('WARN');
    expect(drillItem(drill(60 * DAY), NOW).status).toBe('WARN');
    expect(drillItem(drill(60 * DAY + HOUR), NOW).status).toBe('FAIL');
    expect(drillItem(new Error('bad json'), NOW).status).toBe('WARN');
    expect(drillItem({ time: 'yesterday', snapshot_id: 'x' }, NOW).status).toBe('WARN');
  });
});

describe('secretFileItem', () => {
  const ref = { label: 'repositories.main.password_file', path: '/etc/owb/pw' };
  it('fails world-readable files, warns group-readable ones', () => {
    expect(secretFileItem(ref, { mode: 0o100600 })).toEqual({ name: 'secret file repositories.main.password_file', status: 'PASS', detail: '/etc/owb/pw (mode 600)' });
    expect(secretFileItem(ref, { mode: 0o100400 }).status).toBe('PASS');
    expect(secretFileItem(ref, { mode: 0o100640 })).toMatchObject({ status: 'WARN', fix: 'chmod 600 /etc/owb/pw' });
    expect(secretFileItem(ref, { mode: 0o100644 })).toMatchObject({ status: 'FAIL', detail: '/etc/owb/pw is readable by every user (mode 644)' });
    expect(secretFileItem(ref, { mode: 0o100604 }).status).toBe('FAIL');
    expect(secretFileItem(ref, { error: 'ENOENT' })).toMatchObject({ status: 'WARN', detail: '/etc/owb/pw: cannot check (ENOENT)' });
  });
});

describe('findInlineSecrets / configSecretsItem', () => {
  const yaml = [
    'repositories:', // 1
    '  main:', // 2
    '    url: /srv/backups', // 3
    '    password_file: /etc/owb/pw', // 4
    '  far:', // 5
    '    url: "sftp://backup:hunter2@nas:22/owb"', // 6
    'notify:', // 7
    '  - type: webhook', // 8
    '    url: https://hooks.example/x', // 9
    '    headers:', // 10
    '      X-Api-Key: s3cr3t', // 11
    '      Content-Type: text/plain', // 12
    '  - type: ntfy', // 13
    '    topic: t', // 14
    '    token_file: /etc/owb/ntfy', // 15
    'other:', // 16
    '  password:', // 17
    '',
  ].join('\n');

  it('names the line and key of each inline secret, never the value', () => {
    const hits = findInlineSecrets(yaml);
    expect(hits).toEqual(['line 6 (repositories.far.url: password in a URL)', 'line 11 (notify.0.headers.X-Api-Key)']);
    expect(hits.join(' ')).not.toMatch(/hunter2|s3cr3t/);
  });

  it('fails a config holding one, passes a clean one or none', () => {
    const bad = configSecretsItem('/etc/owb/config.yaml', yaml);
    expect(bad.status).toBe('FAIL');
    expect(bad.fix).toBe('use password_file / *_file settings instead');
    expect(configSecretsItem('/c.yaml', 'repositories:\n  a:\n    url: /x\n    password_file: /p\n')).toMatchObject({ status: 'PASS' });
    expect(configSecretsItem(undefined, undefined)).toMatchObject({ status: 'PASS', detail: 'no config file' });
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

describe('stagingItem', () => {
  it('needs 1.2 × the database and vector store', () => {
    expect(stagingItem('/s', 1200, 1000).status).toBe('PASS');
    expect(stagingItem('/s', 1199, 1000)).toMatchObject({ status: 'FAIL', name: 'staging space' });
    expect(stagingItem('/s', 0, 0).status).toBe('PASS');
  });
});

describe('backupEntryFor', () => {
  const cfg = ConfigSchema.parse({
    default_repository: 'main',
    repositories: { main: { url: '/a', copy_to: ['nas'] }, nas: { url: '/b' }, other: { url: '/c' }, side: { url: '/d' } },
    schedule: [
      { job: 'prune', cron: '0 5 * * *' },
      { job: 'backup', cron: '0 3 * * *' },
      { job: 'backup', cron: '0 */6 * * *', repository: 'side' },
    ],
  });
  const repo = (name: string): DoctorRepo => ({ label: name, name, url: cfg.repositories[name]!.url, copyTo: [] });
  it('finds the entry backing up to the repository, directly, by default or through copy_to', () => {
    expect(backupEntryFor(repo('main'), cfg)?.cron).toBe('0 3 * * *');
    expect(backupEntryFor(repo('side'), cfg)?.cron).toBe('0 */6 * * *');
    expect(backupEntryFor(repo('nas'), cfg)?.cron).toBe('0 3 * * *');
    expect(backupEntryFor(repo('other'), cfg)).toBeUndefined();
  });
  it('matches an unnamed repository only to entries without any repository', () => {
    const bare = ConfigSchema.parse({ schedule: [{ job: 'backup', cron: '0 3 * * *' }] });
    expect(backupEntryFor({ label: '/x', url: '/x', copyTo: [] }, bare)?.cron).toBe('0 3 * * *');
    expect(backupEntryFor({ label: '/x', url: '/x', copyTo: [] }, cfg)).toBeUndefined();
  });
});

describe('secretFilesOf', () => {
  it('collects password, key and token files from config, flags and env, once per path', () => {
    const cfg = ConfigSchema.parse({
      repositories: { a: { url: '/a', password_file: '/s/pw' }, b: { url: '/b', password_file: '/s/pw' } },
      source: { data_dir: '/d', secret_key_file: '/s/key' },
      notify: [{ type: 'ntfy', topic: 't', token_file: '/s/ntfy' }],
    });
    const env = { OWB_PASSWORD_FILE: '/s/env-pw', AWS_SECRET_ACCESS_KEY_FILE: '/s/aws', SOME_CONFIG_FILE: '/etc/x', OWB_PASSWORD: 'inline' };
    const refs = secretFilesOf(cfg, env, [{ label: '--password-file', path: '/s/flag' }]);
    expect(refs.map((r) => [r.label, r.path])).toEqual([
      ['repositories.a.password_file, repositories.b.password_file', '/s/pw'],
      ['source.secret_key_file', '/s/key'],
      ['notify.0.token_file', '/s/ntfy'],
      ['--password-file', '/s/flag'],
      ['OWB_PASSWORD_FILE', '/s/env-pw'],
      ['AWS_SECRET_ACCESS_KEY_FILE', '/s/aws'],
    ]);
  });
});

describe('redactUrl', () => {
  it('masks passwords in URLs only', () => {
    expect(redactUrl('sftp://u:pw@host/x')).toBe('sftp://u:***@host/x');
    expect(redactUrl('s3:https://host/bucket')).toBe('s3:https://host/bucket');
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
