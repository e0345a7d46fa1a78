import { describe, expect, it } from 'vitest';
import { ScheduleEntrySchema } from '../config/schema.js';
import { validateSchedule } from './daemon.js';
import { ScheduleEntryError } from './schedule/run-command.js';

const entry = (v: unknown) => ScheduleEntrySchema.parse(v);

describe('validateSchedule', () => {
  it('accepts valid cron expressions with time zones and names the bad entry otherwise', async () => {
    await expect(validateSchedule([entry({ job: 'backup', cron: '30 2 * * *', timezone: 'Europe/Berlin' })])).resolves.toBeUndefined();
    await expect(validateSchedule([entry({ job: 'backup', cron: '0 3 * * *' }), entry({ job: 'check', cron: '61 * * * *' })])).rejects.toThrow(/schedule\.1\.cron/);
  });

  it('refuses args that would put a secret into a job argv, before anything is scheduled', async () => {
    const bad = [entry({ job: 'backup', cron: '0 3 * * *' }), entry({ job: 'backup', cron: '0 4 * * *', args: { api_token: 'x' } })];
    await expect(validateSchedule(bad)).rejects.toThrow(ScheduleEntryError);
    await expect(validateSchedule(bad)).rejects.toThrow('schedule entry 2: args.api_token looks like a secret');
  });
});
