/**
 * Run logs: every job run leaves a human-readable report file and one JSON line in `owb.jsonl`.
 *
 * The JSON lines are appended by hand rather than through a logging library: owb writes ONE record per run,
 * after the run, and needs exact control over redaction, file mode and durability; a streaming logger's
 * async buffering and worker threads would add risk (lost last line on exit) without adding anything.
 */
import { randomUUID } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Redactor } from './redact.js';
import { ATOMIC_TMP_PREFIX, writeTempFile } from '../util/atomic-write.js';
import { formatBytes } from '../util/format-bytes.js';

/** The JSON-lines file in the log directory. */
export const JSONL_NAME = 'owb.jsonl';
/** owb.jsonl is renamed to owb.jsonl.1 once it would grow past this (bytes). */
export const DEFAULT_JSONL_MAX_BYTES = 10 * 1024 * 1024;
/** Temp files older than this (ms) are leftovers of a crash and are removed by pruneLogs. */
const STALE_TMP_MS = 24 * 3600 * 1000;
/** `2026-11-26T09-15-02Z-backup.log`, optionally `…-backup.2.log` when two runs share a second. */
const REPORT_RE = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z-[A-Za-z0-9_.-]+\.log$/;

/** A value recorded with `set` (sizes in bytes, ids, seconds). */
export type RunValue = number | string | boolean;

/** One step of a run as recorded. `ok` and `duration_s` are null for a step that never finished. */
export interface StepRecord {
  name: string;
  start: string;
  duration_s: number | null;
  ok: boolean | null;
  detail?: string;
}

/** A timestamped event, e.g. `container_down`. */
export interface EventRecord {
  time: string;
  kind: string;
  detail?: string | Record<string, unknown>;
}

/** The line appended to owb.jsonl for each run. */
export interface RunRecord {
  time: string;
  run_id: string;
  job: string;
  host: string;
  ok: boolean;
  exit_code: number;
  duration_s: number;
  steps: StepRecord[];
  events: EventRecord[];
  values: Record<string, RunValue>;
  error?: string;
  /** File name of the human-readable report, in the same directory. */
  report: string;
}

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

/** `2026-11-26T09-15-02Z`: ISO time without milliseconds or colons (colons are bad in file names). */
export function fileStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
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

/** Renders the human-readable report. */
export function renderReport(r: RunRecord, end: Date): string {
  const lines: string[] = [];
  const verdict = r.ok ? 'OK' : 'FAILED';
  lines.push(`owb ${r.job}: ${verdict} (exit ${r.exit_code})`, '');
  const kv = (k: string, v: string) => lines.push(`${k.padEnd(10)} ${v}`);
  kv('run', r.run_id);
  kv('host', r.host);
  kv('started', humanTime(r.time));
  kv('finished', humanTime(end.toISOString()));
  kv('duration', formatSeconds(r.duration_s));
  lines.push('', 'Steps');
  if (r.steps.length === 0) lines.push('  (none)');
  const nameW = Math.max(4, ...r.steps.map((s) => s.name.length));
  for (const s of r.steps) {
    const status = s.ok === null ? 'UNFINISHED' : s.ok ? 'ok' : 'FAILED';
    const dur = s.duration_s === null ? '-' : formatSeconds(s.duration_s);
    lines.push(`  ${clock(s.start)}  ${s.name.padEnd(nameW)}  ${dur.padStart(10)}  ${status}${s.detail ? `  ${s.detail}` : ''}`);
  }
  if (r.events.length > 0) {
    lines.push('', 'Events');
    const kindW = Math.max(...r.events.map((e) => e.kind.length));
    for (const e of r.events) lines.push(`  ${clock(e.time)}  ${e.kind.padEnd(kindW)}  ${detailText(e.detail)}`.trimEnd());
  }
  const keys = Object.keys(r.values);
  if (keys.length > 0) {
    lines.push('', 'Values');
    const keyW = Math.max(...keys.map((k) => k.length));
    for (const k of keys) lines.push(`  ${k.padEnd(keyW)}  ${valueText(k, r.values[k]!)}`);
  }
  lines.push('', 'Result', `  ${r.ok ? 'success' : 'failure'}, exit code ${r.exit_code}`);
  if (r.error !== undefined) {
    lines.push('', 'Error');
    for (const l of r.error.split('\n')) lines.push(`  ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

function humanTime(iso: string): string {
  return iso.replace('T', ' ').replace('Z', ' UTC');
}

function clock(iso: string): string {
  return iso.slice(11, 23);
}

function detailText(d: EventRecord['detail']): string {
  if (d === undefined) return '';
  if (typeof d === 'string') return d;
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** Keys naming bytes print as sizes, keys in seconds as durations. */
function valueText(key: string, v: RunValue): string {
  if (typeof v !== 'number') return String(v);
  if (/bytes/i.test(key)) return `${formatBytes(v)}${Math.abs(v) >= 1024 ? ` (${v} bytes)` : ''}`;
  if (/(_s|_seconds|downtime|duration)$/i.test(key)) return formatSeconds(v);
  return String(v);
}


/** 0.4113 → "0.411 s", 125.5 → "2m 05.5s", 3723 → "1h 02m 03s". */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(3)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m ${String(Math.floor(sec)).padStart(2, '0')}s`;
  return `${m}m ${sec.toFixed(1).padStart(4, '0')}s`;
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
      if (!(await exists(path))) {
        await rename(tmp, path);
        return { path, name };
      }
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
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

/** Renames owb.jsonl to owb.jsonl.1 (replacing an older .1) when adding `incoming` bytes would pass `maxBytes`. */
export async function rotateJsonl(dir: string, maxBytes = DEFAULT_JSONL_MAX_BYTES, incoming = 0): Promise<boolean> {
  const path = join(dir, JSONL_NAME);
  let size: number;
  try {
    size = (await lstat(path)).size;
  } catch {
    return false;
  }
  if (size === 0 || size + incoming <= maxBytes) return false;
  await rename(path, `${path}.1`);
  return true;
}

/** Options of pruneLogs. A zero keepDays or keepCount turns that rule off. */
export interface PruneLogsOptions {
  keepDays: number;
  keepCount: number;
  now?: Date;
  maxJsonlBytes?: number;
}

/**
 * Removes report files older than keepDays (by the time in their name) and all but the newest keepCount,
 * plus temp files left by a crash. owb.jsonl is never deleted, only rotated past maxJsonlBytes.
 * Returns the removed file names, sorted by name (so reports oldest first).
 */
export async function pruneLogs(dir: string, opts: PruneLogsOptions): Promise<{ removed: string[]; rotated: boolean }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: [], rotated: false };
    throw err;
  }
  const now = (opts.now ?? new Date()).getTime();
  const reports = names
    .map((name) => {
      const m = REPORT_RE.exec(name);
      return m ? { name, t: Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) } : undefined;
    })
    .filter((r): r is { name: string; t: number } => r !== undefined && Number.isFinite(r.t))
    .sort((a, b) => b.t - a.t || (a.name < b.name ? 1 : -1));
  const doomed = new Set<string>();
  const cutoff = now - opts.keepDays * 86400 * 1000;
  reports.forEach((r, i) => {
    if (opts.keepDays > 0 && r.t < cutoff) doomed.add(r.name);
    if (opts.keepCount > 0 && i >= opts.keepCount) doomed.add(r.name);
  });
  for (const name of names.filter((n) => n.startsWith(ATOMIC_TMP_PREFIX))) {
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st && now - st.mtimeMs > STALE_TMP_MS) doomed.add(name);
  }
  const removed: string[] = [];
  for (const name of [...doomed].sort()) {
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const rotated = await rotateJsonl(dir, opts.maxJsonlBytes ?? DEFAULT_JSONL_MAX_BYTES);
  return { removed, rotated };
}
