/** Schedule writers: crontab lines and systemd units from the config's `schedule:`, and the cron conversion they need. */
export { CronConvertError, cronToOnCalendar, validateCron } from './cron.js';
export { installUserCrontab, mergeUserCrontab, renderCrontab, writeCronFile, type CrontabOptions } from './crontab.js';
export { entryArgs, jobPath, lockPath, runArgs, ScheduleEntryError, unattendedWarnings, type RunPaths } from './run-command.js';
export { enableCommand, renderDaemonUnit, renderSystemdUnits, writeUnits, type SystemdOptions, type UnitFile } from './systemd.js';
