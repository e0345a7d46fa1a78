import { Cron } from 'croner';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CronConvertError, cronToOnCalendar, validateCron } from './cron.js';

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

// Required, never skipped: npm test installs it (Debian package systemd); a missing checker fails loudly here.
if (spawnSync('systemd-analyze', ['--version']).status !== 0) throw new Error('systemd-analyze is required by these tests: apt-get install systemd');

/** The next `n` elapses systemd computes for one OnCalendar value (in UTC). */
function systemdElapses(value: string, n: number): number[] {
  const r = spawnSync('systemd-analyze', ['calendar', `--iterations=${n}`, value], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LANG: 'C' } });
  if (r.status !== 0) throw new Error(`systemd-analyze rejected "${value}": ${r.stderr}`);
  return [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC/g)].map((m) => Date.parse(`${m[1]}T${m[2]}Z`));
}

describe('cronToOnCalendar against systemd-analyze and croner', () => {
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
