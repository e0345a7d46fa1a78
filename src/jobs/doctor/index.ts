/**
 * `owb doctor`: the classic backup checklist, automated. Is the data there and readable, does every
 * repository open and accept writes, are secrets kept private, is the latest backup as fresh as the
 * schedule promises, was a restore drilled lately, does anything actually run the schedule, can logs be
 * written, and is there room to stage a consistent copy. The checks are grouped by area (config, source,
 * repository, schedule, disk); in each, the verdicts (thresholds, wording) are pure and the I/O is in a few
 * probes. This module runs them in checklist order.
 */
import { join } from 'node:path';
import { checkSecretFiles, configSecretsItem } from './config.js';
import { stagingSpace, writableItem } from './disk.js';
import { backupAgeItem, backupEntryFor, checkRepository, drillItem, readLastDrill } from './repository.js';
import { cronIntervalMs, defaultScheduleProbe, findScheduleEvidence, scheduleItem } from './schedule.js';
import { checkSource } from './source.js';
import type { DoctorInput, DoctorItem, DoctorReport } from './types.js';

export { checkSecretFiles, configSecretsItem, findInlineSecrets, redactUrl, secretFileItem, secretFilesOf } from './config.js';
export { formatSize, STAGING_HEADROOM, stagingItem } from './disk.js';
export { backupAgeItem, backupEntryFor, DRILL_AGE, drillItem, formatAge, SCHEDULED_BACKUP_INTERVALS, UNSCHEDULED_BACKUP_AGE, type LastDrill } from './repository.js';
export { crontabRunsOwb, cronIntervalMs, defaultScheduleProbe, findScheduleEvidence, scheduleItem } from './schedule.js';
export type { DoctorInput, DoctorItem, DoctorRepo, DoctorReport, DoctorStatus, ScheduleProbe, SecretFileRef } from './types.js';

/** Runs every check and returns the items in checklist order. Never throws for a failed check. */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const now = input.now ?? new Date();
  const cfg = input.config;
  const items: DoctorItem[] = [];

  const source = await checkSource(input.source, input.env);
  items.push(...source.items);

  if (input.repos.length === 0) {
    items.push({ name: 'repository', status: 'FAIL', detail: 'no repository configured', fix: 'add repositories: to the config, or pass --repo' });
  }
  const ages: DoctorItem[] = [];
  for (const r of input.repos) {
    const res = await checkRepository(r, input.withRepo);
    items.push(res.item);
    if (!res.opened) continue;
    const entry = backupEntryFor(r, cfg);
    let schedule: { cron: string; intervalMs: number } | undefined;
    try {
      if (entry) schedule = { cron: entry.cron, intervalMs: cronIntervalMs(entry.cron, entry.timezone, now) };
    } catch {
      // An invalid cron expression is reported by the schedule check; judge the age by the fixed limits.
    }
    ages.push(backupAgeItem(r.label, res.newest, now, schedule));
  }

  items.push(configSecretsItem(input.configFile, input.configText));
  items.push(...(await checkSecretFiles(cfg, input.env, input.extraSecretFiles)));
  items.push(...ages);
  items.push(drillItem(await readLastDrill(input.stateDir), now));
  items.push(scheduleItem(cfg.schedule, await findScheduleEvidence(input.scheduleProbe ?? defaultScheduleProbe(input.stateDir, input.env)), now));
  items.push(await writableItem('log folder', cfg.logs.dir, 'logs.dir'));
  items.push(await stagingSpace(input.source.stagingDir ?? join(input.stateDir, 'staging'), source.dataDir));
  return { items };
}
