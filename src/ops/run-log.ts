/**
 * Run logs: every job run leaves a human-readable report file (run-report.ts) and one JSON line in
 * `owb.jsonl` (kept and rotated by log-retention.ts).
 *
 * The JSON line is appended by hand rather than through a logging library such as pino: owb writes ONE
 * record per run, after the run, in its own format, and needs exact control over redaction, file mode and
 * durability. pino adds its own fields (level, time, pid, hostname, msg) unless configured away, and its
 * buffered destination can lose the last line on exit; the append here is a dozen lines.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeTempFile } from '../util/atomic-write.js';
import { pathExists } from '../util/path-exists.js';
import { DEFAULT_JSONL_MAX_BYTES, JSONL_NAME, rotateJsonl } from './log-retention.js';
import type { Redactor } from './redact.js';
import type { EventRecord, RunRecord, RunValue, StepRecord } from './run-record.js';
import { fileStamp, renderReport } from './run-report.js';

export type { EventRecord, RunRecord, RunValue, StepRecord } from './run-record.js';

/** Ends a step. A string is a detail; `{ok: false}` marks the step failed. Later calls are ignored. */
export type StepDone = (result?: string | { ok?: boolean; detail?: string }) => void;

/** Options of RunLog.start. */
export interface RunLogOptions {
  dir: string;
  job: string;
  redactor: Redactor;
  /** Clock, for tests. */
  now?: () => Date;
  /** Defaults to os.hostname(). */
  host?: string;
  /** Defaults to a random UUID (healthchecks' `rid` wants a UUID). */
  runId?: string;
  /** Rotation threshold for owb.jsonl. */
  maxJsonlBytes?: number;
}

/** How a run ended. */
export interface RunOutcome {
  ok: boolean;
  exitCode: number;
  error?: unknown;
}

/** What finish() wrote. */
export interface FinishedRun {
  record: RunRecord;
  reportPath: string;
  jsonlPath: string;
  /** The report text as written (already redacted). */
  report: string;
}

/** Records one job run; see RunLog.start. */
export class RunLog {
  /** Random id of this run; pass it to notifications so pings correlate. */
  readonly runId: string;
  readonly job: string;
  readonly host: string;
  readonly dir: string;
  readonly startedAt: Date;
  private readonly redactor: Redactor;
  private readonly now: () => Date;
  private readonly maxJsonlBytes: number;
  private readonly steps: Array<StepRecord & { t0: number }> = [];
  private readonly events: EventRecord[] = [];
  private readonly values: Record<string, RunValue> = {};
  private finished: Promise<FinishedRun> | undefined;

  private constructor(opts: RunLogOptions) {
    this.now = opts.now ?? (() => new Date());
    this.startedAt = this.now();
    this.dir = opts.dir;
    this.job = opts.job;
    this.host = opts.host ?? hostname();
    this.runId = opts.runId ?? randomUUID();
    this.redactor = opts.redactor;
    this.maxJsonlBytes = opts.maxJsonlBytes ?? DEFAULT_JSONL_MAX_BYTES;
  }

  /**
   * Starts recording a run. Creates the log directory with mode 0700 when it does not exist (an existing
   * directory keeps its mode: it may be shared, and files inside are 0600 anyway).
   */
  static async start(opts: RunLogOptions): Promise<RunLog> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    return new RunLog(opts);
  }

  /** Seconds since the run started. */
  elapsedS(): number {
    return (this.now().getTime() - this.startedAt.getTime()) / 1000;
  }

  /** Starts a step; call the returned function when it ends. */
  step(name: string): StepDone {
    const t0 = this.now();
    const rec: StepRecord & { t0: number } = { name, start: t0.toISOString(), duration_s: null, ok: null, t0: t0.getTime() };
    this.steps.push(rec);
    return (result) => {
      if (rec.ok !== null || this.finished) return;
      const r = typeof result === 'string' ? { detail: result } : (result ?? {});
      rec.duration_s = (this.now().getTime() - rec.t0) / 1000;
      rec.ok = r.ok ?? true;
      if (r.detail !== undefined) rec.detail = r.detail;
    };
  }

  /** Records a timestamped event such as `container_down` / `container_up`. */
  event(kind: string, detail?: string | Record<string, unknown>): void {
    if (this.finished) return;
    this.events.push({ time: this.now().toISOString(), kind, ...(detail === undefined ? {} : { detail }) });
  }

  /** Records a value: `bytes_added`, `bytes_stored`, `snapshot_id`, `downtime_s`, … (keys with "bytes" print as sizes). */
  set(key: string, value: RunValue): void {
    if (!this.finished) this.values[key] = value;
  }

  /** A value recorded with set(). */
  get(key: string): RunValue | undefined {
    return this.values[key];
  }

  /**
   * Ends the run: writes the report file (atomically, 0600) and appends one line to owb.jsonl.
   * Steps never ended are recorded as unfinished. Calling it again returns the first result.
   */
  finish(outcome: RunOutcome): Promise<FinishedRun> {
    this.finished ??= this.write(outcome);
    return this.finished;
  }

  private async write(outcome: RunOutcome): Promise<FinishedRun> {
    const end = this.now();
    const base = `${fileStamp(this.startedAt)}-${this.job.replace(/[^A-Za-z0-9_.-]/g, '_') || 'run'}`;
    const raw: RunRecord = {
      time: this.startedAt.toISOString(),
      run_id: this.runId,
      job: this.job,
      host: this.host,
      ok: outcome.ok,
      exit_code: outcome.exitCode,
      duration_s: (end.getTime() - this.startedAt.getTime()) / 1000,
      steps: this.steps.map(({ t0: _t0, ...s }) => s),
      events: this.events,
      values: this.values,
      ...(outcome.error === undefined ? {} : { error: errorText(outcome.error) }),
      report: '',
    };
    // Structured first (every string, key-aware), then the rendered report once more as plain text.
    // The JSON line gets no text pass: a pattern matching across JSON syntax could corrupt the line.
    const redacted = this.redactor.redactDeep(raw);
    let report = '';
    const { path: reportPath, name } = await publishNew(this.dir, base, (n) => {
      report = this.redactor.redact(renderReport({ ...redacted, report: n }, end));
      return report;
    });
    const record = { ...redacted, report: name };
    const jsonlPath = join(this.dir, JSONL_NAME);
    const line = `${JSON.stringify(record)}\n`;
    await rotateJsonl(this.dir, this.maxJsonlBytes, Buffer.byteLength(line));
    await appendLine(jsonlPath, line);
    return { record, reportPath, jsonlPath, report };
  }
}

/** An error's message plus its causes, one per line. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

/** Publishes `<base>.log` (or `<base>.2.log`, … when taken) atomically without replacing an existing report. */
async function publishNew(dir: string, base: string, render: (name: string) => string): Promise<{ path: string; name: string }> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `${base}.log` : `${base}.${n}.log`;
    const path = join(dir, name);
    const tmp = await writeTempFile(path, render(name), 0o600);
    try {
      await link(tmp, path);
      return { path, name };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      // Filesystems without hard links: check, then rename (a same-second clash is the only race).
      if (!(await pathExists(path))) {
        await rename(tmp, path);
        return { path, name };
      }
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}

/** Appends one line with a single write (O_APPEND), creating the file 0600, and fsyncs it. */
async function appendLine(path: string, line: string): Promise<void> {
  const fh = await open(path, 'a', 0o600);
  try {
    await fh.write(line);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
