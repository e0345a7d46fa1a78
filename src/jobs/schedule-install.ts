/**
 * `owb schedule install`: turns the config's `schedule:` into crontab lines or systemd units. The renderers
 * are pure; the writers put files in place atomically. Units and crontabs carry only the config path, never
 * a secret: jobs read their passwords through the config's *_file settings when they run.
 */
import { spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { defaultConfigPaths } from '../config/load.js';
import type { OwbConfig, ScheduleEntry } from '../config/schema.js';
import { ExitCode, OwbError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { isSecretName } from '../util/secret-detect.js';

/** A cron expression systemd cannot express (or that is not valid cron at all). */
export class CronConvertError extends OwbError {
  /** What is wrong, without the expression. */
  readonly why: string;
  constructor(cron: string, why: string) {
    super(`cannot convert cron "${cron}" to a systemd OnCalendar: ${why}`, ExitCode.Usage);
    this.why = why;
  }
}

/** A schedule entry that cannot be turned into a command line safely. */
export class ScheduleEntryError extends OwbError {
  constructor(index: number, why: string) {
    super(`schedule entry ${index + 1}: ${why}`, ExitCode.Usage);
  }
}

/** The config file in use, as loadConfig picks it (absolute), or undefined when there is none. */
export async function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const given = explicit ?? env.OWB_CONFIG;
  for (const p of given ? [given] : defaultConfigPaths(env)) {
    if ((await stat(p).catch(() => undefined))?.isFile()) return resolve(p);
  }
  return undefined;
}

// ---- cron → OnCalendar ------------------------------------------------------------------------------------

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: DAYS },
];
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

function parseValue(text: string, f: FieldSpec, cron: string): number {
  const lower = text.toLowerCase();
  const named = f.names?.indexOf(lower as never) ?? -1;
  if (named >= 0) return named + (f.min === 1 ? 1 : 0);
  if (!/^\d+$/.test(text)) throw new CronConvertError(cron, `"${text}" is not a valid ${f.name} value`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new CronConvertError(cron, `${f.name} ${n} is outside ${f.min}-${f.max}`);
  return n;
}

/** The values one cron field allows (day of week 7 folded onto 0). */
function parseField(text: string, f: FieldSpec, cron: string): Set<number> {
  const special = /[LW#?]/i.exec(text.replace(/[a-z]{3}/gi, (m) => (f.names?.includes(m.toLowerCase() as never) ? 'x' : m)));
  if (special) throw new CronConvertError(cron, `"${special[0]}" in the ${f.name} field is not standard cron and has no systemd equivalent`);
  const out = new Set<number>();
  const top = f.name === 'day of week' ? 6 : f.max;
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new CronConvertError(cron, `"${part}" is not a valid ${f.name} field`);
    const [, range, stepText] = m;
    let lo = f.min;
    let hi = top;
    if (range !== '*') {
      const [a, b] = range!.split('-');
      lo = parseValue(a!, f, cron);
      if (b === undefined && stepText !== undefined) throw new CronConvertError(cron, `"${part}": a step needs "*" or a range before it (as in */${stepText} or ${a}-${f.max}/${stepText})`);
      hi = b === undefined ? lo : parseValue(b, f, cron);
      if (lo > hi) throw new CronConvertError(cron, `range ${range} in the ${f.name} field runs backwards`);
    }
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new CronConvertError(cron, `step 0 in the ${f.name} field`);
    for (let v = lo; v <= hi; v += step) out.add(f.name === 'day of week' && v === 7 ? 0 : v);
  }
  return out;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Renders a set of values as a systemd calendar component: `*`, `a/s`, `a..b/s`, or a list of values and ranges. */
function component(values: ReadonlySet<number>, min: number, max: number): string {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === max - min + 1) return '*';
  const step = v.length >= 3 ? v[1]! - v[0]! : 0;
  if (step > 1 && v.every((x, i) => x === v[0]! + i * step)) {
    const last = v[v.length - 1]!;
    return last + step > max ? `${pad2(v[0]!)}/${step}` : `${pad2(v[0]!)}..${pad2(last)}/${step}`;
  }
  return runs(v).map(([a, b]) => (a === b ? pad2(a) : b === a + 1 ? `${pad2(a)},${pad2(b)}` : `${pad2(a)}..${pad2(b)}`)).join(',');
}

function runs(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && x === last[1] + 1) last[1] = x;
    else out.push([x, x]);
  }
  return out;
}

const SYSTEMD_DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Weekdays (cron numbering, 0 = Sunday) as systemd writes them, Monday first: `Mon..Fri`, `Sat,Sun`. */
function weekdays(values: ReadonlySet<number>): string {
  const monFirst = [...values].map((d) => (d + 6) % 7).sort((a, b) => a - b);
  return runs(monFirst)
    .map(([a, b]) => (a === b ? SYSTEMD_DAYS[a]! : b === a + 1 ? `${SYSTEMD_DAYS[a]},${SYSTEMD_DAYS[b]}` : `${SYSTEMD_DAYS[a]}..${SYSTEMD_DAYS[b]}`))
    .join(',');
}

/**
 * Checks a cron expression and time zone as cron itself would read them (5 fields or a macro, values in
 * range), without asking whether systemd can express them. Throws {@link CronConvertError}.
 */
export function validateCron(cron: string, timezone?: string): void {
  const expr = cron.trim();
  if (expr.toLowerCase() === '@reboot') throw new CronConvertError(cron, '@reboot is not a calendar time (use a daemon instead)');
  const std = expr.startsWith('@') ? MACROS[expr.toLowerCase()] : expr;
  if (std === undefined) throw new CronConvertError(cron, `unknown macro ${expr}`);
  const parts = std.split(/\s+/);
  if (parts.length !== 5) throw new CronConvertError(cron, `expected 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`);
  if (timezone !== undefined && !validZone(timezone)) throw new CronConvertError(cron, `unknown time zone "${timezone}"`);
  parts.forEach((p, i) => parseField(p, FIELDS[i]!, cron));
}

/** True when `tz` is an IANA zone this runtime knows. */
function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Converts a standard 5-field cron expression (lists, ranges, steps, month and weekday names, @daily and
 * friends) into systemd OnCalendar values. Cron runs a job when EITHER a restricted day of month OR a
 * restricted day of week matches, while one systemd expression needs both, so that case becomes two values
 * (a timer fires when any of its OnCalendar lines matches). Throws {@link CronConvertError} for what it
 * cannot express faithfully.
 */
export function cronToOnCalendar(cron: string, timezone?: string): string[] {
  validateCron(cron, timezone);
  const expr = cron.trim();
  const parts = (expr.startsWith('@') ? MACROS[expr.toLowerCase()]! : expr).split(/\s+/);
  const [min, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!, cron)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  const domText = parts[2]!;
  const dowText = parts[4]!;
  const time = `${component(hour, 0, 23)}:${component(min, 0, 59)}:00${timezone ? ` ${timezone}` : ''}`;
  const monthPart = component(month, 1, 12);
  const line = (days: Set<number> | undefined, weekdaySet: Set<number> | undefined): string => {
    const wd = weekdaySet && weekdaySet.size < 7 ? `${weekdays(weekdaySet)} ` : '';
    return `${wd}*-${monthPart}-${days ? component(days, 1, 31) : '*'} ${time}`;
  };
  const domStar = domText.startsWith('*');
  const dowStar = dowText.startsWith('*');
  if ((domStar && domText !== '*' && !dowStar) || (dowStar && dowText !== '*' && !domStar)) {
    throw new CronConvertError(cron, 'a stepped "*" in one day field combined with a restricted other day field means different things to different cron implementations; list the days instead');
  }
  if (!domStar && !dowStar) return [line(dom, undefined), line(undefined, dow)];
  return [line(dom, dow)];
}

// ---- command lines ---------------------------------------------------------------------------------------

/** Absolute paths a scheduled run needs. */
export interface RunPaths {
  /** The config file every run reads (absolute). */
  configPath: string;
  /** The node binary (process.execPath). */
  nodePath: string;
  /** The real path of dist/cli/main.js. */
  entryPath: string;
  /** The state folder; the overlap lock `owb.lock` lives there. */
  stateDir: string;
  /** The flock binary. */
  flockPath: string;
  /** PATH for the jobs (rclone, pg_dump, ssh are looked up on it). */
  pathEnv: string;
  /** DOCKER_HOST to pass on, when the installing shell has one (not a secret). */
  dockerHost?: string;
}

/** The owb arguments of one entry: `--quiet [--repo R] <job> [--flag value…]`. Refuses secret-looking args. */
export function entryArgs(entry: ScheduleEntry, index: number): string[] {
  const out = ['--quiet', ...(entry.repository ? ['--repo', entry.repository] : []), entry.job];
  for (const [key, value] of Object.entries(entry.args)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(key)) throw new ScheduleEntryError(index, `args key "${key}" is not a flag name`);
    if (isSecretName(key)) throw new ScheduleEntryError(index, `args.${key} looks like a secret; it would end up in a unit or crontab (use a *_file setting)`);
    const flag = `--${key.replace(/_/g, '-')}`;
    if (value === true) out.push(flag);
    else if (value === false) continue;
    else for (const v of Array.isArray(value) ? value : [value]) out.push(flag, String(v));
  }
  return out;
}

/** The lock that keeps two owb jobs from overlapping. */
export function lockPath(p: RunPaths): string {
  return join(p.stateDir, 'owb.lock');
}

/** A sensible PATH for scheduled jobs: node's own folder first, then the standard system folders. */
export function jobPath(nodePath: string): string {
  const std = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return [...new Set([dirname(nodePath), ...std])].join(delimiter);
}

/** Quotes a word for /bin/sh (cron runs its lines through it). */
function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** In a crontab line an unescaped % ends the command, so each one is escaped. */
function cronEscape(s: string): string {
  return s.replace(/%/g, '\\%');
}

/** Options for {@link renderCrontab}. */
export interface CrontabOptions {
  /** The user field of /etc/cron.d and /etc/crontab lines; omitted for a user's own crontab. */
  user?: string;
}

/**
 * Crontab text: a header, SHELL and PATH lines, then one line per entry. Entries without a time zone come
 * first; each zone then gets a CRON_TZ line before its entries (a crontab variable applies to every line
 * after it).
 */
export function renderCrontab(entries: readonly ScheduleEntry[], p: RunPaths, opts: CrontabOptions = {}): string {
  const lines = [
    `# owb schedule, generated by "owb schedule install --cron" from ${p.configPath}.`,
    '# Change the schedule: section of the config and run it again instead of editing these lines.',
    'SHELL=/bin/sh',
    `PATH=${p.pathEnv}`,
  ];
  const indexed = entries.map((e, i) => ({ e, i }));
  const zones = [...new Set(entries.map((e) => e.timezone).filter((z): z is string => z !== undefined))];
  const emit = (e: ScheduleEntry, i: number): void => {
    try {
      validateCron(e.cron, e.timezone);
    } catch (err) {
      throw err instanceof CronConvertError ? new ScheduleEntryError(i, `invalid cron "${e.cron}": ${err.why}`) : err;
    }
    const env = [`OWB_CONFIG=${shQuote(p.configPath)}`, ...(p.dockerHost ? [`DOCKER_HOST=${shQuote(p.dockerHost)}`] : [])];
    const cmd = [...env, p.flockPath, '-n', lockPath(p), p.nodePath, p.entryPath, ...entryArgs(e, i)].map((w, k) => (k < env.length ? w : shQuote(w))).join(' ');
    lines.push(`${e.cron.trim()} ${opts.user ? `${opts.user} ` : ''}${cronEscape(cmd)}`);
  };
  for (const { e, i } of indexed) if (e.timezone === undefined) emit(e, i);
  for (const z of zones) {
    lines.push(`CRON_TZ=${z}`);
    for (const { e, i } of indexed) if (e.timezone === z) emit(e, i);
  }
  return `${lines.join('\n')}\n`;
}

const BEGIN = '# BEGIN owb schedule';
const END = '# END owb schedule';

/** A user's crontab with the owb block replaced (or added at the end, so its variables touch no other line). */
export function mergeUserCrontab(existing: string, owbBlock: string): string {
  const kept: string[] = [];
  let inside = false;
  for (const line of existing.split('\n')) {
    if (line.trim() === BEGIN) inside = true;
    else if (line.trim() === END) inside = false;
    else if (!inside) kept.push(line);
  }
  const head = kept.join('\n').replace(/\n+$/, '');
  return `${head ? `${head}\n` : ''}${BEGIN}\n${owbBlock.replace(/\n$/, '')}\n${END}\n`;
}

// ---- systemd ---------------------------------------------------------------------------------------------

/** One unit file to write. */
export interface UnitFile {
  name: string;
  content: string;
}

/** Options for {@link renderSystemdUnits}. */
export interface SystemdOptions {
  /** User units (systemctl --user): no network-online.target, WantedBy=default.target. */
  user: boolean;
}

/** Quotes a word for ExecStart= (systemd expands % specifiers and $ variables there). */
function execQuote(s: string): string {
  const esc = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@+=:,./%$-]+$/.test(s) ? esc : `"${esc.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An Environment= line (systemd expands % specifiers there, not $). */
function envLine(key: string, value: string): string {
  return `Environment="${`${key}=${value}`.replace(/%/g, '%%').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function header(p: RunPaths): string {
  return `# Generated by "owb schedule install --systemd" from ${p.configPath}.\n# Change the config's schedule: section and run it again instead of editing this file.\n`;
}

function serviceEnv(p: RunPaths): string[] {
  return [envLine('OWB_CONFIG', p.configPath), envLine('PATH', p.pathEnv), ...(p.dockerHost ? [envLine('DOCKER_HOST', p.dockerHost)] : [])];
}

function unitDeps(opts: SystemdOptions): string[] {
  return opts.user ? [] : ['Wants=network-online.target', 'After=network-online.target'];
}

/**
 * A oneshot service and a timer per entry, named `owb-<job>-<n>` (n counts per job from 1). The timers are
 * Persistent, so a run missed while the machine was off happens at the next boot.
 */
export function renderSystemdUnits(entries: readonly ScheduleEntry[], p: RunPaths, opts: SystemdOptions): UnitFile[] {
  const counts = new Map<string, number>();
  const out: UnitFile[] = [];
  entries.forEach((e, i) => {
    const n = (counts.get(e.job) ?? 0) + 1;
    counts.set(e.job, n);
    const base = `owb-${e.job}-${n}`;
    const calendars = cronToOnCalendar(e.cron, e.timezone);
    const exec = [p.flockPath, '-n', lockPath(p), p.nodePath, p.entryPath, ...entryArgs(e, i)].map(execQuote).join(' ');
    const when = `${e.cron}${e.timezone ? ` ${e.timezone}` : ''}`;
    out.push({
      name: `${base}.service`,
      content: [
        header(p),
        '[Unit]',
        `Description=owb ${e.job} (schedule entry ${i + 1})`,
        ...unitDeps(opts),
        '',
        '[Service]',
        'Type=oneshot',
        ...serviceEnv(p),
        `ExecStart=${exec}`,
        'Nice=10',
        'IOSchedulingClass=best-effort',
        'IOSchedulingPriority=7',
        '',
      ].join('\n'),
    });
    out.push({
      name: `${base}.timer`,
      content: [
        header(p),
        '[Unit]',
        `Description=owb ${e.job} schedule (${when})`,
        '',
        '[Timer]',
        ...calendars.map((c) => `OnCalendar=${c}`),
        'Persistent=true',
        `Unit=${base}.service`,
        '',
        '[Install]',
        'WantedBy=timers.target',
        '',
      ].join('\n'),
    });
  });
  return out;
}

/** One long-running `owb daemon` service instead of timers; it runs the schedule itself. */
export function renderDaemonUnit(p: RunPaths, opts: SystemdOptions): UnitFile {
  const exec = [p.nodePath, p.entryPath, 'daemon'].map(execQuote).join(' ');
  return {
    name: 'owb-daemon.service',
    content: [
      header(p).replace('--systemd', '--systemd --daemon'),
      '[Unit]',
      'Description=owb scheduler daemon',
      ...unitDeps(opts),
      '',
      '[Service]',
      'Type=simple',
      ...serviceEnv(p),
      `ExecStart=${exec}`,
      'Restart=on-failure',
      'RestartSec=30',
      '',
      '[Install]',
      `WantedBy=${opts.user ? 'default.target' : 'multi-user.target'}`,
      '',
    ].join('\n'),
  };
}

/** The command that activates written units. */
export function enableCommand(units: readonly UnitFile[], user: boolean): string {
  const ctl = user ? 'systemctl --user' : 'systemctl';
  const active = units.filter((u) => u.name.endsWith('.timer') || u.name === 'owb-daemon.service').map((u) => u.name);
  return `${ctl} daemon-reload && ${ctl} enable --now ${active.join(' ')}`;
}

/**
 * Warnings about entries that will not work unattended: no repository at all, or a repository whose password
 * is not in a password_file (a unit never carries the installing shell's OWB_PASSWORD*).
 */
export function unattendedWarnings(cfg: OwbConfig): string[] {
  const out: string[] = [];
  cfg.schedule.forEach((e, i) => {
    const repo = e.repository ?? cfg.default_repository;
    const label = `schedule entry ${i + 1} (${e.job})`;
    if (repo === undefined) out.push(`${label} names no repository and the config has no default_repository`);
    else if (!cfg.repositories[repo]?.password_file) out.push(`${label}: repository ${repo} has no password_file in the config, so the job cannot open it unattended`);
  });
  return out;
}

// ---- writers ---------------------------------------------------------------------------------------------

/** Writes the units into `dir` (created if needed), mode 0644; returns their paths. */
export async function writeUnits(dir: string, units: readonly UnitFile[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const u of units) {
    const path = join(dir, u.name);
    await writeFileAtomic(path, u.content, 0o644);
    paths.push(path);
  }
  return paths;
}

/** Installs a system crontab file (/etc/cron.d/owb); cron wants it owned by root and not writable by others. */
export async function writeCronFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text, 0o644);
}

function runCrontab(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn('crontab', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e: NodeJS.ErrnoException) => fail(new OwbError(e.code === 'ENOENT' ? 'crontab not found: install cron, or use --systemd' : `crontab: ${e.message}`)));
    child.on('close', (code) => done({ code: code ?? 1, out, err }));
    child.stdin.end(input ?? '');
  });
}

/** Replaces the owb block of this user's crontab (`crontab -l`, then `crontab -`), keeping every other line. */
export async function installUserCrontab(owbBlock: string): Promise<void> {
  const current = await runCrontab(['-l']);
  // `crontab -l` exits 1 with "no crontab for <user>" when there is none yet.
  const merged = mergeUserCrontab(current.code === 0 ? current.out : '', owbBlock);
  const res = await runCrontab(['-'], merged);
  if (res.code !== 0) throw new OwbError(`crontab refused the new table: ${res.err.trim().split('\n')[0] ?? `exit ${res.code}`}`);
}

