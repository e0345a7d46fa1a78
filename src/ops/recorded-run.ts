import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OwbConfig } from '../config/schema.js';
import { ExitCode, OwbError } from '../errors.js';
import { MetricsState } from './metrics.js';
import { Notifier } from './notify.js';
import { Redactor } from './redact.js';
import { pruneLogs } from './log-retention.js';
import { RunLog, type RunValue } from './run-log.js';

/** What a recorded run reports about itself when it succeeds. */
export interface RunReport {
  /** One line for notifications, e.g. "snapshot 1a2b3c4d: 12 MiB added". */
  summary: string;
  values?: Record<string, RunValue>;
  bytesAdded?: number;
  bytesStored?: number;
  downtimeS?: number;
  repository?: { name: string; snapshots?: number; sizeBytes?: number };
}

/** Where and how runs are recorded. */
export interface RecordOptions {
  job: string;
  cfg: OwbConfig;
  stateDir: string;
  /**
   * Values that must never appear in logs or notifications (passwords, keys, tokens). Asked again before
   * anything is written, so secrets first read during the run (repository passwords) are covered too.
   */
  secrets: () => Iterable<string | undefined>;
  onWarning: (message: string) => void;
}

/** The file in the state folder that holds the metrics between runs (also served by the daemon). */
export const METRICS_STATE_FILE = 'metrics.json';

/**
 * Runs one job with its record: a report file and a JSON line in the log folder, start/success/failure
 * notifications, and metrics. Recording never changes the job's outcome: a log or notification that fails
 * becomes a warning. The job's error is re-thrown unchanged.
 */
export async function withRunRecord<T>(
  opts: RecordOptions,
  fn: (log: RunLog) => Promise<T>,
  report: (value: T) => RunReport,
): Promise<T> {
  const redactor = new Redactor(opts.secrets());
  let log: RunLog;
  try {
    log = await RunLog.start({ dir: opts.cfg.logs.dir, job: opts.job, redactor });
  } catch (err) {
    // The record must never stop the job: an unwritable log folder falls back to a private temp folder.
    const fallback = join(tmpdir(), `owb-logs-${process.getuid?.() ?? 'user'}`);
    opts.onWarning(`log folder ${opts.cfg.logs.dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); this run's report goes to ${fallback}`);
    log = await RunLog.start({ dir: fallback, job: opts.job, redactor });
  }
  const notifier = new Notifier(opts.cfg.notify, { redactor });
  const warnAll = (ws: string[]): void => ws.forEach((w) => opts.onWarning(w));
  warnAll(await notifier.send('start', { job: opts.job, host: log.host, summary: `${opts.job} started`, runId: log.runId }));
  let value: T | undefined;
  let error: unknown;
  try {
    value = await fn(log);
  } catch (err) {
    error = err;
  }
  const ok = error === undefined;
  const exitCode = ok ? ExitCode.Ok : error instanceof OwbError ? error.exitCode : ExitCode.Failure;
  const rep = ok ? report(value as T) : undefined;
  for (const [k, v] of Object.entries(rep?.values ?? {})) log.set(k, v);
  redactor.add(...opts.secrets());
  // Each part of the record is independent: a full log disk must not also silence the failure notification.
  const attempt = async (what: string, part: () => Promise<void>): Promise<void> => {
    try {
      await part();
    } catch (err) {
      opts.onWarning(`could not ${what}: ${(err as Error).message}`);
    }
  };
  let durationS = (Date.now() - log.startedAt.getTime()) / 1000;
  let values: Record<string, unknown> = { ...rep?.values };
  await attempt('write the run log', async () => {
    const fin = await log.finish({ ok, exitCode, ...(error !== undefined ? { error } : {}) });
    durationS = fin.record.duration_s;
    values = fin.record.values;
  });
  await attempt('update the metrics', async () => {
    await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    const metrics = await MetricsState.load({ path: join(opts.stateDir, METRICS_STATE_FILE), redactor });
    metrics.recordRun({
      job: opts.job,
      ok,
      exitCode,
      durationS,
      time: log.startedAt,
      ...(rep?.bytesAdded !== undefined ? { bytesAdded: rep.bytesAdded } : {}),
      ...(rep?.bytesStored !== undefined ? { bytesStored: rep.bytesStored } : {}),
      ...(rep?.downtimeS !== undefined ? { downtimeS: rep.downtimeS } : {}),
    });
    if (rep?.repository) metrics.setRepository(rep.repository.name, rep.repository);
    await metrics.save();
    if (opts.cfg.metrics.textfile) await metrics.writeTextfile(opts.cfg.metrics.textfile);
  });
  const summary = ok ? rep!.summary : `${opts.job} FAILED: ${(error as Error).message}`;
  warnAll(
    await notifier.send(ok ? 'success' : 'failure', {
      job: opts.job,
      host: log.host,
      summary,
      details: values,
      durationS,
      ...(error !== undefined ? { error: (error as Error).message } : {}),
      runId: log.runId,
    }),
  );
  await attempt('remove old run logs', async () => {
    await pruneLogs(opts.cfg.logs.dir, { keepDays: opts.cfg.logs.keep_days, keepCount: opts.cfg.logs.keep_count });
  });
  if (!ok) throw error;
  return value as T;
}
