import { Cron } from 'croner';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, type ScheduleEntry } from '../config/schema.js';
import {
  CronConvertError,
  cronToOnCalendar,
  enableCommand,
  entryArgs,
  mergeUserCrontab,
  renderCrontab,
  renderDaemonUnit,
  renderSystemdUnits,
  ScheduleEntryError,
  unattendedWarnings,
  validateCron,
  type RunPaths,
} from './schedule-install.js';

/** cron → OnCalendar values (time zone UTC where the row says so). */
const TABLE: [cron: string, expected: string[]][] = [
  ['0 3 * * *', ['*-*-* 03:00:00']],
  ['*/15 * * * *', ['*-*-* *:00/15:00']],
  ['0,30 * * * *', ['*-*-* *:00,30:00']],
  ['15 6,18 * * *', ['*-*-* 06,18:15:00']],
  ['0 */6 * * *', ['*-*-* 00/6:00:00']],
  ['0 9-17 * * mon-fri', ['Mon..Fri *-*-* 09..17:00:00']],
  ['30 2 * * 1-5', ['Mon..Fri *-*-* 02:30:00']],
  ['0 12 * * 0,6', ['Sat,Sun *-*-* 12:00:00']],
  ['0 12 * * 7', ['Sun *-*-* 12:00:00']],
  ['0 1 * * 1,3,5', ['Mon,Wed,Fri *-*-* 01:00:00']],
  ['0 1 * * 1-3,5', ['Mon..Wed,Fri *-*-* 01:00:00']],
  ['0 0 1 * *', ['*-*-01 00:00:00']],
  ['0 0 1-10/2 * *', ['*-*-01..09/2 00:00:00']],
  ['0 0 * */3 *', ['*-01/3-* 00:00:00']],
  ['5 4 * JAN,jul *', ['*-01,07-* 04:05:00']],
  ['0 0 1,15 * 1', ['*-*-01,15 00:00:00', 'Mon *-*-* 00:00:00']],
  ['10 2-4 * * *', ['*-*-* 02..04:10:00']],
  ['@daily', ['*-*-* 00:00:00']],
  ['@weekly', ['Sun *-*-* 00:00:00']],
  ['@monthly', ['*-*-01 00:00:00']],
  ['@hourly', ['*-*-* *:00:00']],
];

const REFUSED: [cron: string, timezone: string | undefined, why: RegExp][] = [
  ['0 3 L * *', undefined, /"L" in the day of month field is not standard cron/],
  ['0 3 15W * *', undefined, /"W" in the day of month field/],
  ['0 3 * * 5#2', undefined, /"#" in the day of week field/],
  ['0 3 ? * *', undefined, /"\?" in the day of month field/],
  ['@reboot', undefined, /@reboot is not a calendar time/],
  ['@fortnightly', undefined, /unknown macro/],
  ['0 3 * *', undefined, /expected 5 fields .* found 4/],
  ['0 0 3 * * *', undefined, /found 6/],
  ['60 * * * *', undefined, /minute 60 is outside 0-59/],
  ['0 3 * 13 *', undefined, /month 13 is outside 1-12/],
  ['0 3 * * funday', undefined, /"funday" is not a valid day of week value/],
  ['0 3 10-5 * *', undefined, /runs backwards/],
  ['0 3 5/10 * *', undefined, /a step needs "\*" or a range/],
  ['*/0 * * * *', undefined, /step 0/],
  ['0 3 */2 * mon', undefined, /stepped "\*" in one day field/],
  ['0 3 * * *', 'Mars/Olympus', /unknown time zone "Mars\/Olympus"/],
];

describe('cronToOnCalendar', () => {
  it.each(TABLE)('%s', (cron, expected) => {
    expect(cronToOnCalendar(cron)).toEqual(expected);
  });

  it('appends the time zone to every value', () => {
    expect(cronToOnCalendar('0 4 * * sun', 'Europe/Berlin')).toEqual(['Sun *-*-* 04:00:00 Europe/Berlin']);
    expect(cronToOnCalendar('0 0 1 * 1', 'UTC')).toEqual(['*-*-01 00:00:00 UTC', 'Mon *-*-* 00:00:00 UTC']);
  });

  it.each(REFUSED)('refuses %s (%s)', (cron, tz, why) => {
    let err: unknown;
    try {
      cronToOnCalendar(cron, tz);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CronConvertError);
    expect((err as Error).message).toContain(`cannot convert cron "${cron}" to a systemd OnCalendar: `);
    expect((err as Error).message).toMatch(why);
    expect((err as CronConvertError).exitCode).toBe(2);
  });

  it('validateCron accepts what cron accepts even when systemd cannot express it', () => {
    expect(() => validateCron('0 3 */2 * mon')).not.toThrow();
    expect(() => validateCron('0 3 L * *')).toThrow(CronConvertError);
  });
});

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** The next `n` elapses systemd computes for one OnCalendar value (in UTC). */
function systemdElapses(value: string, n: number): number[] {
  const r = spawnSync('systemd-analyze', ['calendar', `--iterations=${n}`, value], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LANG: 'C' } });
  if (r.status !== 0) throw new Error(`systemd-analyze rejected "${value}": ${r.stderr}`);
  return [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC/g)].map((m) => Date.parse(`${m[1]}T${m[2]}Z`));
}

describe.skipIf(!hasSystemdAnalyze)('cronToOnCalendar against systemd-analyze and croner', () => {
  it.each(TABLE)('%s fires when cron would', (cron) => {
    const n = 12;
    const t0 = Date.now();
    const union = [...new Set(cronToOnCalendar(cron, 'UTC').flatMap((v) => systemdElapses(v, n)))].sort((a, b) => a - b).slice(0, n);
    expect(union).toHaveLength(n);
    const job = new Cron(cron, { mode: '5-part', paused: true, timezone: 'UTC' });
    // systemd's first elapse is cron's first run after now (or a later one when a run passed meanwhile).
    expect(union[0]).toBeGreaterThanOrEqual(job.nextRun(new Date(t0))!.getTime());
    expect(union).toEqual(job.nextRuns(n, new Date(union[0]! - 1000)).map((d) => d.getTime()));
    job.stop();
  });
});

const PATHS: RunPaths = {
  configPath: '/etc/owb/config.yaml',
  nodePath: '/usr/bin/node',
  entryPath: '/opt/owb/dist/cli/main.js',
  stateDir: '/var/lib/owb',
  flockPath: '/usr/bin/flock',
  pathEnv: '/usr/bin:/bin',
};

const entries = (list: unknown[]): ScheduleEntry[] => ConfigSchema.parse({ schedule: list }).schedule;

describe('entryArgs', () => {
  it('turns args into flags after the job', () => {
    const [e] = entries([{ job: 'forget', cron: '0 5 * * *', repository: 'nas', args: { keep_daily: 7, prune: true, dry_run: false, tag: ['a', 'b'] } }]);
    expect(entryArgs(e!, 0)).toEqual(['--quiet', '--repo', 'nas', 'forget', '--keep-daily', '7', '--prune', '--tag', 'a', '--tag', 'b']);
  });

  it('refuses secret-looking args and keys that are not flag names', () => {
    const [secret, odd] = entries([
      { job: 'backup', cron: '0 3 * * *', args: { password: 'x' } },
      { job: 'backup', cron: '0 3 * * *', args: { 'a b': 1 } },
    ]);
    expect(() => entryArgs(secret!, 0)).toThrow(ScheduleEntryError);
    expect(() => entryArgs(secret!, 0)).toThrow('schedule entry 1: args.password looks like a secret');
    expect(() => entryArgs(odd!, 1)).toThrow('schedule entry 2: args key "a b" is not a flag name');
  });
});

describe('renderCrontab', () => {
  const list = entries([
    { job: 'backup', cron: '0 3 * * *', timezone: 'Europe/Berlin' },
    { job: 'prune', cron: '0 5 * * 0' },
    { job: 'check', cron: '30 4 * * *', timezone: 'Europe/Berlin', args: { read_data: true } },
  ]);

  it('writes a line per entry, zone-less entries first, then CRON_TZ groups', () => {
    expect(renderCrontab(list, PATHS, { user: 'root' })).toBe(
      [
        '# owb schedule, generated by "owb schedule install --cron" from /etc/owb/config.yaml.',
        '# Change the schedule: section of the config and run it again instead of editing these lines.',
        'SHELL=/bin/sh',
        'PATH=/usr/bin:/bin',
        '0 5 * * 0 root OWB_CONFIG=/etc/owb/config.yaml /usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet prune',
        'CRON_TZ=Europe/Berlin',
        '0 3 * * * root OWB_CONFIG=/etc/owb/config.yaml /usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet backup',
        '30 4 * * * root OWB_CONFIG=/etc/owb/config.yaml /usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet check --read-data',
        '',
      ].join('\n'),
    );
  });

  it('omits the user field for a user crontab, quotes for sh and escapes % for cron', () => {
    const text = renderCrontab(entries([{ job: 'backup', cron: '0 3 * * *', args: { tag: "it's 100%" } }]), { ...PATHS, configPath: '/home/a b/owb.yaml', dockerHost: 'unix:///run/docker.sock' });
    expect(text.split('\n')[4]).toBe(
      `0 3 * * * OWB_CONFIG='/home/a b/owb.yaml' DOCKER_HOST=unix:///run/docker.sock /usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet backup --tag 'it'\\''s 100\\%'`,
    );
  });

  it('refuses an invalid cron expression, naming the entry', () => {
    expect(() => renderCrontab(entries([{ job: 'backup', cron: '0 3 * * *' }, { job: 'check', cron: '0 3 * *' }]), PATHS)).toThrow(
      /^schedule entry 2: invalid cron "0 3 \* \*": expected 5 fields/,
    );
  });
});

describe('mergeUserCrontab', () => {
  it('keeps other lines and replaces the owb block, moving it to the end', () => {
    const old = 'MAILTO=me\n# BEGIN owb schedule\nold line\n# END owb schedule\n0 1 * * * /usr/bin/true\n';
    expect(mergeUserCrontab(old, 'new line\n')).toBe('MAILTO=me\n0 1 * * * /usr/bin/true\n# BEGIN owb schedule\nnew line\n# END owb schedule\n');
    expect(mergeUserCrontab('', 'x\n')).toBe('# BEGIN owb schedule\nx\n# END owb schedule\n');
  });
});

describe('renderSystemdUnits', () => {
  const list = entries([
    { job: 'backup', cron: '0 3 * * *', timezone: 'Europe/Berlin' },
    { job: 'backup', cron: '0 15 1 * 1' },
    { job: 'prune', cron: '0 5 * * sun', repository: 'nas', args: { tag: '50%' } },
  ]);

  it('writes a oneshot service and a persistent timer per entry, numbered per job', () => {
    const units = renderSystemdUnits(list, PATHS, { user: false });
    expect(units.map((u) => u.name)).toEqual([
      'owb-backup-1.service',
      'owb-backup-1.timer',
      'owb-backup-2.service',
      'owb-backup-2.timer',
      'owb-prune-1.service',
      'owb-prune-1.timer',
    ]);
    const svc = units[0]!.content;
    expect(svc).toContain('[Service]\nType=oneshot\n');
    expect(svc).toContain('Environment="OWB_CONFIG=/etc/owb/config.yaml"\nEnvironment="PATH=/usr/bin:/bin"\n');
    expect(svc).toContain('ExecStart=/usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet backup\n');
    expect(svc).toContain('After=network-online.target');
    expect(units[1]!.content).toContain('[Timer]\nOnCalendar=*-*-* 03:00:00 Europe/Berlin\nPersistent=true\nUnit=owb-backup-1.service\n');
    expect(units[1]!.content).toContain('[Install]\nWantedBy=timers.target\n');
    expect(units[3]!.content).toContain('OnCalendar=*-*-01 15:00:00\nOnCalendar=Mon *-*-* 15:00:00\n');
    expect(units[4]!.content).toContain('ExecStart=/usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node /opt/owb/dist/cli/main.js --quiet --repo nas prune --tag 50%%\n');
  });

  it('leaves network-online.target out of user units', () => {
    const [svc] = renderSystemdUnits(list.slice(0, 1), PATHS, { user: true });
    expect(svc!.content).not.toContain('network-online');
  });

  it('refuses the whole set when one entry cannot be converted', () => {
    expect(() => renderSystemdUnits(entries([{ job: 'backup', cron: '0 3 * * *' }, { job: 'check', cron: '0 3 L * *' }]), PATHS, { user: false })).toThrow(CronConvertError);
  });

  it('quotes paths with spaces and escapes $ and % in ExecStart', () => {
    const [svc] = renderSystemdUnits(entries([{ job: 'backup', cron: '0 3 * * *', args: { tag: '$HOME' } }]), { ...PATHS, entryPath: '/opt/my owb/main.js' }, { user: false });
    expect(svc!.content).toContain('ExecStart=/usr/bin/flock -n /var/lib/owb/owb.lock /usr/bin/node "/opt/my owb/main.js" --quiet backup --tag $$HOME\n');
  });
});

describe('renderDaemonUnit / enableCommand', () => {
  it('runs owb daemon, restarted on failure', () => {
    const sys = renderDaemonUnit(PATHS, { user: false });
    expect(sys.name).toBe('owb-daemon.service');
    expect(sys.content).toContain('Type=simple\n');
    expect(sys.content).toContain('ExecStart=/usr/bin/node /opt/owb/dist/cli/main.js daemon\nRestart=on-failure\n');
    expect(sys.content).toContain('WantedBy=multi-user.target');
    expect(renderDaemonUnit(PATHS, { user: true }).content).toContain('WantedBy=default.target');
    expect(enableCommand([sys], false)).toBe('systemctl daemon-reload && systemctl enable --now owb-daemon.service');
  });

  it('enables the timers, not the services', () => {
    const units = renderSystemdUnits(entries([{ job: 'backup', cron: '0 3 * * *' }, { job: 'check', cron: '0 4 * * *' }]), PATHS, { user: true });
    expect(enableCommand(units, true)).toBe('systemctl --user daemon-reload && systemctl --user enable --now owb-backup-1.timer owb-check-1.timer');
  });
});

describe('unattendedWarnings', () => {
  it('names entries whose repository has no password_file or that have no repository', () => {
    const cfg = ConfigSchema.parse({
      repositories: { main: { url: '/a', password_file: '/p' }, nas: { url: '/b' } },
      schedule: [
        { job: 'backup', cron: '0 3 * * *', repository: 'main' },
        { job: 'check', cron: '0 4 * * *', repository: 'nas' },
        { job: 'prune', cron: '0 5 * * *' },
      ],
    });
    expect(unattendedWarnings(cfg)).toEqual([
      'schedule entry 2 (check): repository nas has no password_file in the config, so the job cannot open it unattended',
      'schedule entry 3 (prune) names no repository and the config has no default_repository',
    ]);
  });
});

describe('no secrets in the output', () => {
  it('carries only the config path, never a password from the environment', () => {
    const before = process.env.OWB_PASSWORD;
    process.env.OWB_PASSWORD = 'do-not-leak-me';
    try {
      const list = entries([{ job: 'backup', cron: '0 3 * * *' }]);
      const all = [renderCrontab(list, PATHS), ...renderSystemdUnits(list, PATHS, { user: false }).map((u) => u.content), renderDaemonUnit(PATHS, { user: false }).content].join('\n');
      expect(all).not.toContain('do-not-leak-me');
      expect(all).not.toMatch(/OWB_PASSWORD/);
    } finally {
      if (before === undefined) delete process.env.OWB_PASSWORD;
      else process.env.OWB_PASSWORD = before;
    }
  });
});
