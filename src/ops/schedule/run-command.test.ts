import { describe, expect, it } from 'vitest';
import { ConfigSchema, ScheduleEntrySchema, type ScheduleEntry } from '../../config/schema.js';
import { entryArgs, runArgs, ScheduleEntryError, unattendedWarnings } from './run-command.js';

const entries = (list: unknown[]): ScheduleEntry[] => ConfigSchema.parse({ schedule: list }).schedule;
const entry = (v: unknown) => ScheduleEntrySchema.parse(v);

describe('entryArgs', () => {
  it('turns args into flags, repeats arrays, drops false, and puts paths last', () => {
    expect(entryArgs(entry({ job: 'forget', cron: '0 3 * * *', args: { keep_daily: 7, keep_weekly: 4, prune: true, dry_run: false } }))).toEqual([
      'forget',
      '--keep-daily',
      '7',
      '--keep-weekly',
      '4',
      '--prune',
    ]);
    expect(entryArgs(entry({ job: 'backup', cron: '0 3 * * *', args: { paths: ['/a', '/b'], tag: ['x', 'y'] } }))).toEqual([
      'backup',
      '--tag',
      'x',
      '--tag',
      'y',
      '/a',
      '/b',
    ]);
  });

  it('gives copy its snapshot ids as words too', () => {
    expect(entryArgs(entry({ job: 'copy', cron: '0 3 * * *', args: { snapshots: '1a2b3c4d', to: 'nas' } }))).toEqual(['copy', '--to', 'nas', '1a2b3c4d']);
  });
});

describe('runArgs', () => {
  it('turns args into flags after the job', () => {
    const [e] = entries([{ job: 'forget', cron: '0 5 * * *', repository: 'nas', args: { keep_daily: 7, prune: true, dry_run: false, tag: ['a', 'b'] } }]);
    expect(runArgs(e!, 0)).toEqual(['--quiet', '--repo', 'nas', 'forget', '--keep-daily', '7', '--prune', '--tag', 'a', '--tag', 'b']);
  });

  it('refuses secret-looking args and keys that are not flag names', () => {
    const [secret, odd] = entries([
      { job: 'backup', cron: '0 3 * * *', args: { password: 'x' } },
      { job: 'backup', cron: '0 3 * * *', args: { 'a b': 1 } },
    ]);
    expect(() => runArgs(secret!, 0)).toThrow(ScheduleEntryError);
    expect(() => runArgs(secret!, 0)).toThrow('schedule entry 1: args.password looks like a secret');
    expect(() => runArgs(odd!, 1)).toThrow('schedule entry 2: args key "a b" is not a flag name');
  });

  it('puts plain folders last as words, as the backup command takes them', () => {
    const [e] = entries([{ job: 'backup', cron: '0 3 * * *', args: { paths: ['/srv/a', '/srv/b'], tag: 'nightly' } }]);
    expect(runArgs(e!, 0)).toEqual(['--quiet', 'backup', '--tag', 'nightly', '/srv/a', '/srv/b']);
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
