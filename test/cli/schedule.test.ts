import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, cleanupTemp, IS_ROOT, makeTemp, runCli, writePassword } from '../support/cli.js';

/**
 * `owb schedule install` through the real CLI: units written into a temp --dir and read back (and checked by
 * `systemd-analyze verify` where this machine has it), crontab text printed, and refusals that write nothing.
 */
const SECRET = 'never-in-a-unit-0451';
// Required, never skipped: npm test installs it (Debian package systemd); a missing checker fails loudly here.
if (spawnSync('systemd-analyze', ['--version']).status !== 0) throw new Error('systemd-analyze is required by these tests: apt-get install systemd');

let root: string;
let cfg: string;
let state: string;

beforeAll(async () => {
  root = await makeTemp('owb-schedule-');
  state = join(root, 'state');
  const pw = await writePassword(root, SECRET);
  cfg = join(root, 'owb.yaml');
  await writeFile(
    cfg,
    [
      `state_dir: ${state}`,
      'default_repository: main',
      'repositories:',
      `  main: { url: ${join(root, 'repo')}, password_file: ${pw} }`,
      `  nas: { url: ${join(root, 'nas')} }`,
      'schedule:',
      '  - { job: backup, cron: "0 3 * * *", timezone: Europe/Berlin }',
      '  - { job: forget, cron: "30 4 * * sun", args: { keep_daily: 7, keep_weekly: 4, prune: true } }',
      '  - { job: check, cron: "0 5 1 * mon", repository: nas }',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
});
afterAll(cleanupTemp);

/** The env of every run: OWB_PASSWORD set in the installing shell must not leak into units. */
const env = { OWB_PASSWORD: SECRET, DOCKER_HOST: undefined };

describe('owb schedule install --systemd', () => {
  it('writes a service and a timer per entry into --dir, and says how to enable them', async () => {
    const dir = join(root, 'units');
    const r = await runCli(['--config', cfg, 'schedule', 'install', '--systemd', '--dir', dir], { env });
    expect(r.code, r.stderr).toBe(0);
    const names = ['owb-backup-1', 'owb-forget-1', 'owb-check-1'];
    expect((await readdir(dir)).sort()).toEqual(names.flatMap((n) => [`${n}.service`, `${n}.timer`]).sort());
    for (const n of names) expect(r.stdout).toContain(`wrote ${join(dir, `${n}.timer`)}`);
    const ctl = IS_ROOT ? 'systemctl' : 'systemctl --user';
    expect(r.stdout).toContain(`next: ${ctl} daemon-reload && ${ctl} enable --now owb-backup-1.timer owb-forget-1.timer owb-check-1.timer`);
    expect(r.stderr).toContain('schedule entry 3 (check): repository nas has no password_file in the config');

    const entry = realpathSync(CLI_PATH);
    const flock = spawnSync('sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).stdout.trim();
    const backupSvc = await readFile(join(dir, 'owb-backup-1.service'), 'utf8');
    expect(backupSvc).toContain('Type=oneshot\n');
    expect(backupSvc).toContain(`Environment="OWB_CONFIG=${cfg}"\n`);
    expect(backupSvc).toContain(`ExecStart=${flock} -n ${join(state, 'owb.lock')} ${process.execPath} ${entry} --quiet backup\n`);
    expect(await readFile(join(dir, 'owb-backup-1.timer'), 'utf8')).toContain('OnCalendar=*-*-* 03:00:00 Europe/Berlin\nPersistent=true\n');
    expect(await readFile(join(dir, 'owb-forget-1.service'), 'utf8')).toContain(`${entry} --quiet forget --keep-daily 7 --keep-weekly 4 --prune\n`);
    expect(await readFile(join(dir, 'owb-forget-1.timer'), 'utf8')).toContain('OnCalendar=Sun *-*-* 04:30:00\n');
    expect(await readFile(join(dir, 'owb-check-1.service'), 'utf8')).toContain(`${entry} --quiet --repo nas check\n`);
    expect(await readFile(join(dir, 'owb-check-1.timer'), 'utf8')).toContain('OnCalendar=*-*-01 05:00:00\nOnCalendar=Mon *-*-* 05:00:00\n');

    const all = await Promise.all((await readdir(dir)).map((n) => readFile(join(dir, n), 'utf8')));
    expect(all.join('\n')).not.toContain(SECRET);
    expect(all.join('\n')).not.toContain('OWB_PASSWORD');
  });

  it('writes units systemd-analyze verify accepts', async () => {
    const dir = join(root, 'units-verify');
    expect((await runCli(['--config', cfg, 'schedule', 'install', '--systemd', '--dir', dir], { env })).code).toBe(0);
    const files = (await readdir(dir)).sort().map((n) => join(dir, n));
    const v = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' });
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
  });

  it('--daemon writes one owb-daemon.service and names the timers left from before', async () => {
    const dir = join(root, 'units');
    const r = await runCli(['--json', '--config', cfg, 'schedule', 'install', '--systemd', '--daemon', '--dir', dir], { env });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json as { format: string; dir: string; files: string[]; stale: string[]; next_command: string };
    expect(doc.files).toEqual([join(dir, 'owb-daemon.service')]);
    expect(doc.stale).toEqual(['owb-backup-1.service', 'owb-backup-1.timer', 'owb-check-1.service', 'owb-check-1.timer', 'owb-forget-1.service', 'owb-forget-1.timer']);
    expect(doc.next_command).toMatch(/enable --now owb-daemon\.service$/);
    const unit = await readFile(join(dir, 'owb-daemon.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${realpathSync(CLI_PATH)} daemon\n`);
    expect(unit).toContain(`WantedBy=${IS_ROOT ? 'multi-user.target' : 'default.target'}`);
  });

  it('refuses a cron expression systemd cannot express, writing nothing', async () => {
    const bad = join(root, 'bad.yaml');
    await writeFile(bad, `state_dir: ${state}\nschedule:\n  - { job: backup, cron: "0 3 * * *" }\n  - { job: check, cron: "0 3 L * *" }\n`);
    const dir = join(root, 'units-bad');
    const r = await runCli(['--config', bad, 'schedule', 'install', '--systemd', '--dir', dir], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot convert cron "0 3 L * *" to a systemd OnCalendar: "L" in the day of month field');
    expect(await readdir(dir).catch(() => 'absent')).toBe('absent');
  });
});

describe('owb schedule install --cron', () => {
  it('prints one crontab line per entry with PATH, flock and CRON_TZ', async () => {
    const r = await runCli(['--config', cfg, 'schedule', 'install', '--cron'], { env });
    expect(r.code, r.stderr).toBe(0);
    const user = IS_ROOT ? 'root ' : '';
    const run = `OWB_CONFIG=${cfg} ${spawnSync('sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).stdout.trim()} -n ${join(state, 'owb.lock')} ${process.execPath} ${realpathSync(CLI_PATH)} --quiet`;
    const lines = r.stdout.split('\n');
    const std = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
    expect(lines).toContain(`PATH=${[...new Set([dirname(process.execPath), ...std])].join(':')}`);
    expect(lines).toContain('SHELL=/bin/sh');
    const jobs = lines.filter((l) => /^[0-9*@]/.test(l) || l.startsWith('CRON_TZ='));
    expect(jobs).toEqual([
      `30 4 * * sun ${user}${run} forget --keep-daily 7 --keep-weekly 4 --prune`,
      `0 5 1 * mon ${user}${run} --repo nas check`,
      'CRON_TZ=Europe/Berlin',
      `0 3 * * * ${user}${run} backup`,
    ]);
    expect(r.stdout).not.toContain(SECRET);
  });

  it('refuses flags that do not fit and a config without a schedule', async () => {
    expect((await runCli(['--config', cfg, 'schedule', 'install'])).code).toBe(2);
    expect((await runCli(['--config', cfg, 'schedule', 'install', '--cron', '--systemd'])).code).toBe(2);
    expect((await runCli(['--config', cfg, 'schedule', 'install', '--cron', '--daemon'])).code).toBe(2);
    const empty = join(root, 'empty.yaml');
    await writeFile(empty, `state_dir: ${state}\n`);
    const r = await runCli(['--config', empty, 'schedule', 'install', '--cron']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no schedule: entries in ${empty}`);
  });
});
