import { describe, expect, it } from 'vitest';
import { ConfigSchema, type ScheduleEntry } from '../../config/schema.js';
import { CronConvertError } from './cron.js';
import { renderCrontab } from './crontab.js';
import type { RunPaths } from './run-command.js';
import { enableCommand, renderDaemonUnit, renderSystemdUnits } from './systemd.js';

const PATHS: RunPaths = {
  configPath: '/etc/owb/config.yaml',
  nodePath: '/usr/bin/node',
  entryPath: '/opt/owb/dist/cli/main.js',
  stateDir: '/var/lib/owb',
  flockPath: '/usr/bin/flock',
  pathEnv: '/usr/bin:/bin',
};

const entries = (list: unknown[]): ScheduleEntry[] => ConfigSchema.parse({ schedule: list }).schedule;

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
