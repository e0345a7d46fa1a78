import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { backupAgeItem, backupEntryFor, drillItem, formatAge } from './repository.js';
import type { DoctorRepo } from './types.js';

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
