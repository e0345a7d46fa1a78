import { describe, expect, it } from 'vitest';
import { ScheduleEntrySchema } from '../config/schema.js';
import { entryArgs, validateSchedule } from './daemon.js';

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
});

describe('validateSchedule', () => {
  it('accepts valid cron expressions with time zones and names the bad entry otherwise', async () => {
    await expect(validateSchedule([entry({ job: 'backup', cron: '30 2 * * *', timezone: 'Europe/Berlin' })])).resolves.toBeUndefined();
    await expect(validateSchedule([entry({ job: 'backup', cron: '0 3 * * *' }), entry({ job: 'check', cron: '61 * * * *' })])).rejects.toThrow(/schedule\.1\.cron/);
  });
});
