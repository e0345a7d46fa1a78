/**
 * `owb doctor`: the classic backup checklist, automated. Is the data there and readable, does every
 * repository open and accept writes, are secrets kept private, is the latest backup as fresh as the
 * schedule promises, was a restore drilled lately, does anything actually run the schedule, can logs be
 * written, and is there room to stage a consistent copy. Each check is a small function; the verdicts
 * (thresholds, wording) are pure, the I/O lives in a few helpers below them.
 */
import { Cron } from 'croner';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, lstat, readdir, readFile, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { OwbConfig, ScheduleEntry } from '../config/schema.js';
import { connectDocker, ContainerNotFoundError, containerDataDir, dataDirOf, findContainer } from '../docker/index.js';
import { OwbError, RepoLockedError, RepoNotFoundError, UsageError, WrongPasswordError } from '../errors.js';
import { databaseEngine, openWebuiEnvOf, type OpenWebuiEnv } from '../openwebui/deployment.js';
import type { Repository } from '../repo/repository.js';
import { listSnapshots } from '../repo/snapshot.js';
import { DAEMON_PID_FILE } from '../ops/daemon.js';
import { Redactor } from '../ops/redact.js';
import { hasUrlPassword, isSecretName } from '../util/secret-detect.js';
import { LAST_DRILL_FILE } from './drill.js';

/** A check's verdict. */
export type DoctorStatus = 'PASS' | 'WARN' | 'FAIL';

/** One line of the doctor's report; `fix` is a one-line hint for WARN and FAIL. */
export interface DoctorItem {
  name: string;
  status: DoctorStatus;
  detail: string;
  fix?: string;
}

/** The doctor's findings, in checklist order. */
export interface DoctorReport {
  items: DoctorItem[];
}

/** A repository to probe: its location and what the config says about it (structurally a CLI RepoTarget). */
export interface DoctorRepo {
  /** How the report names it: the config name, or the URL without credentials. */
  label: string;
  url: string;
  name?: string;
  passwordFile?: string;
  copyTo: string[];
}

/** Where to look for something that runs the schedule. */
export interface ScheduleProbe {
  /** systemd unit folders; enabled units are symlinked into their `*.wants` folders. */
  systemdDirs: string[];
  /** Crontab files, or folders of them (/etc/cron.d). */
  cronPaths: string[];
  /** Also ask `crontab -l` for this user's crontab. */
  userCrontab: boolean;
  /** The daemon's pid file. */
  pidFile: string;
}

/** Everything the doctor looks at, resolved by the caller (flags, env, config). */
export interface DoctorInput {
  config: OwbConfig;
  env: NodeJS.ProcessEnv;
  stateDir: string;
  /** The config file in use and its text, for the inline-secret scan. */
  configFile?: string;
  configText?: string;
  /** The Open WebUI source: flags when given, else the config's `source:`. */
  source: { container?: string; dataDir?: string; stagingDir?: string };
  repos: DoctorRepo[];
  /** Opens a repository without locking and runs `fn` (the CLI's withRepoAt, which knows the passwords). */
  withRepo: <T>(repo: DoctorRepo, fn: (repo: Repository) => Promise<T>) => Promise<T>;
  /** Secret files named outside the config (--password-file). */
  extraSecretFiles?: SecretFileRef[];
  scheduleProbe?: ScheduleProbe;
  now?: Date;
}

/** A secret file and the setting that names it. */
export interface SecretFileRef {
  label: string;
  path: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Without a schedule, the latest backup is stale after 2 days (WARN) and 7 days (FAIL). */
export const UNSCHEDULED_BACKUP_AGE = { warnMs: 2 * DAY, failMs: 7 * DAY } as const;
/** With a schedule, the latest backup may be this many intervals old before WARN / FAIL. */
export const SCHEDULED_BACKUP_INTERVALS = { warn: 1.5, fail: 3 } as const;
/** A restore drill is due after 14 days (WARN) and overdue after 60 (FAIL). */
export const DRILL_AGE = { warnMs: 14 * DAY, failMs: 60 * DAY } as const;
/** Staging needs the database and vector store plus this much headroom. */
export const STAGING_HEADROOM = 1.2;

// ---- verdicts (pure) ------------------------------------------------------------------------------------

/** "45m", "5h 10m", "3d 4h". */
export function formatAge(ms: number): string {
  const m = Math.max(0, Math.floor(ms / MINUTE));
  if (m < 60) return `${m}m`;
  if (m < 24 * 60) return m % 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m / 60}h`;
  const d = Math.floor(m / (24 * 60));
  const h = Math.floor((m % (24 * 60)) / 60);
  return h ? `${d}d ${h}h` : `${d}d`;
}

/** 1536 → "1.5 KiB". */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The gap between the two most recent runs of a 5-field cron expression before `now`. Throws on a bad expression. */
export function cronIntervalMs(cron: string, timezone: string | undefined, now: Date): number {
  const job = new Cron(cron, { mode: '5-part', paused: true, ...(timezone ? { timezone } : {}) });
  try {
    const [last, before] = job.previousRuns(2, now);
    if (!last || !before) throw new Error('it never matches');
    return last.getTime() - before.getTime();
  } finally {
    job.stop();
  }
}

/**
 * The backup entry whose runs land in `repo`: one naming it (or, without a repository, the default one),
 * else one backing up to a repository that copies into it.
 */
export function backupEntryFor(repo: DoctorRepo, cfg: OwbConfig): ScheduleEntry | undefined {
  const targetOf = (e: ScheduleEntry): string | undefined => e.repository ?? cfg.default_repository;
  const backups = cfg.schedule.filter((e) => e.job === 'backup');
  const direct = backups.find((e) => {
    const t = targetOf(e);
    return t === undefined ? repo.name === undefined : t === repo.name || t === repo.url;
  });
  if (direct || repo.name === undefined) return direct;
  return backups.find((e) => {
    const t = targetOf(e);
    return t !== undefined && (cfg.repositories[t]?.copy_to ?? []).includes(repo.name!);
  });
}

/** Judges the newest snapshot's age against the schedule's interval, or against fixed limits without one. */
export function backupAgeItem(label: string, newest: Date | undefined, now: Date, schedule?: { cron: string; intervalMs: number }): DoctorItem {
  const name = `backup age ${label}`;
  if (!newest) return { name, status: 'FAIL', detail: 'no snapshots', fix: 'run "owb backup"' };
  const age = now.getTime() - newest.getTime();
  const fix = 'look at the last runs in the log folder (owb.jsonl) and run "owb backup" now';
  if (schedule) {
    const ratio = age / schedule.intervalMs;
    const head = `latest snapshot ${formatAge(age)} old; the schedule "${schedule.cron}" runs every ${formatAge(schedule.intervalMs)}`;
    if (ratio > SCHEDULED_BACKUP_INTERVALS.fail) return { name, status: 'FAIL', detail: `${head} (over ${SCHEDULED_BACKUP_INTERVALS.fail} intervals)`, fix };
    if (ratio > SCHEDULED_BACKUP_INTERVALS.warn) return { name, status: 'WARN', detail: `${head} (over ${SCHEDULED_BACKUP_INTERVALS.warn} intervals)`, fix };
    return { name, status: 'PASS', detail: head };
  }
  const head = `latest snapshot ${formatAge(age)} old (no backup schedule: limits ${formatAge(UNSCHEDULED_BACKUP_AGE.warnMs)} / ${formatAge(UNSCHEDULED_BACKUP_AGE.failMs)})`;
  if (age > UNSCHEDULED_BACKUP_AGE.failMs) return { name, status: 'FAIL', detail: head, fix };
  if (age > UNSCHEDULED_BACKUP_AGE.warnMs) return { name, status: 'WARN', detail: head, fix };
  return { name, status: 'PASS', detail: head };
}

/** What last-drill.json holds. */
export interface LastDrill {
  time: string;
  snapshot_id: string;
}

/** Judges the last successful drill (undefined: none recorded; an Error: the record is unreadable). */
export function drillItem(last: LastDrill | undefined | Error, now: Date): DoctorItem {
  const name = 'drill';
  const fix = 'run "owb drill" (and add a drill job to the schedule)';
  if (last === undefined) return { name, status: 'WARN', detail: 'no restore drill recorded', fix };
  const t = last instanceof Error ? NaN : Date.parse(last.time);
  if (Number.isNaN(t)) return { name, status: 'WARN', detail: `${LAST_DRILL_FILE} is unreadable`, fix };
  const age = now.getTime() - t;
  const detail = `last successful drill ${formatAge(age)} ago (snapshot ${(last as LastDrill).snapshot_id.slice(0, 8)})`;
  if (age > DRILL_AGE.failMs) return { name, status: 'FAIL', detail, fix };
  if (age > DRILL_AGE.warnMs) return { name, status: 'WARN', detail, fix };
  return { name, status: 'PASS', detail };
}

/** Judges a secret file's permissions: world-readable fails, group-readable warns. */
export function secretFileItem(ref: SecretFileRef, st: { mode: number } | { error: string }): DoctorItem {
  const name = `secret file ${ref.label}`;
  if ('error' in st) return { name, status: 'WARN', detail: `${ref.path}: cannot check (${st.error})`, fix: 'create it, or fix the path in the setting' };
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
  const fix = `chmod 600 ${ref.path}`;
  if (st.mode & 0o004) return { name, status: 'FAIL', detail: `${ref.path} is readable by every user (mode ${mode})`, fix };
  if (st.mode & 0o040) return { name, status: 'WARN', detail: `${ref.path} is readable by its group (mode ${mode})`, fix };
  return { name, status: 'PASS', detail: `${ref.path} (mode ${mode})` };
}

/** Where the YAML holds a secret in plain text: "line 12 (notify.0.headers.X-Api-Key)". Values are never returned. */
export function findInlineSecrets(text: string): string[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const out: string[] = [];
  const where = (node: { range?: [number, number, number] | null } | null | undefined, path: string[], why = ''): string =>
    `line ${node?.range ? lines.linePos(node.range[0]).line : '?'} (${path.join('.')}${why})`;
  const walk = (node: unknown, path: string[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const value = pair.value;
        if (isScalar(value) && isSecretName(key) && value.value !== null && String(value.value) !== '') out.push(where(value, [...path, key]));
        else walk(value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, String(i)]));
    } else if (isScalar(node) && typeof node.value === 'string' && hasUrlPassword(node.value)) {
      out.push(where(node, path, ': password in a URL'));
    }
  };
  walk(doc.contents, []);
  return out;
}

/** Judges the config text for secrets written into it. */
export function configSecretsItem(file: string | undefined, text: string | undefined): DoctorItem {
  const name = 'config secrets';
  if (file === undefined || text === undefined) return { name, status: 'PASS', detail: 'no config file' };
  const hits = findInlineSecrets(text);
  if (hits.length === 0) return { name, status: 'PASS', detail: `no secrets written into ${file}` };
  return { name, status: 'FAIL', detail: `${file} holds secrets in plain text at ${hits.join(', ')}`, fix: 'use password_file / *_file settings instead' };
}

/** Judges whether the schedule is configured, valid, and run by something. */
export function scheduleItem(entries: readonly ScheduleEntry[], evidence: readonly string[], now: Date): DoctorItem {
  const name = 'schedule';
  const howTo = 'run "owb schedule install --systemd" (or --cron), or run "owb daemon"';
  if (entries.length === 0) return { name, status: 'WARN', detail: 'the config has no schedule: entries', fix: `add schedule: entries, then ${howTo}` };
  const bad: string[] = [];
  entries.forEach((e, i) => {
    try {
      cronIntervalMs(e.cron, e.timezone, now);
    } catch (err) {
      bad.push(`entry ${i + 1} (${e.job}) "${e.cron}"${e.timezone ? ` ${e.timezone}` : ''}: ${(err as Error).message}`);
    }
  });
  if (bad.length) return { name, status: 'FAIL', detail: `invalid schedule: ${bad.join('; ')}`, fix: 'use 5-field cron expressions (minute hour day month weekday) and IANA time zones' };
  const count = `${entries.length} schedule entr${entries.length === 1 ? 'y' : 'ies'}`;
  if (evidence.length === 0) return { name, status: 'WARN', detail: `${count}, but no owb timer, crontab line or running daemon found`, fix: howTo };
  return { name, status: 'PASS', detail: `${count}; ${evidence.join('; ')}` };
}

/** Judges free staging space against the database and vector store it must hold. */
export function stagingItem(dir: string, freeBytes: number, dataBytes: number): DoctorItem {
  const need = Math.ceil(dataBytes * STAGING_HEADROOM);
  const detail = `${formatSize(freeBytes)} free at ${dir}; a backup stages about ${formatSize(need)} (webui.db + vector_db + ${Math.round((STAGING_HEADROOM - 1) * 100)}%)`;
  if (freeBytes < need) return { name: 'staging space', status: 'FAIL', detail, fix: 'free space there, or set source.staging_dir to a folder on a larger disk' };
  return { name: 'staging space', status: 'PASS', detail };
}

/** Every secret file the config and environment name (deduplicated by path, labels joined). */
export function secretFilesOf(cfg: OwbConfig, env: NodeJS.ProcessEnv, extra: readonly SecretFileRef[] = []): SecretFileRef[] {
  const refs: SecretFileRef[] = [];
  for (const [name, r] of Object.entries(cfg.repositories)) if (r.password_file) refs.push({ label: `repositories.${name}.password_file`, path: r.password_file });
  if (cfg.source?.secret_key_file) refs.push({ label: 'source.secret_key_file', path: cfg.source.secret_key_file });
  cfg.notify.forEach((t, i) => {
    if (t.type === 'ntfy' && t.token_file) refs.push({ label: `notify.${i}.token_file`, path: t.token_file });
  });
  refs.push(...extra);
  for (const [k, v] of Object.entries(env)) {
    if (v && k.endsWith('_FILE') && isSecretName(k.slice(0, -'_FILE'.length))) refs.push({ label: k, path: v });
  }
  const byPath = new Map<string, SecretFileRef>();
  for (const r of refs) {
    const p = resolve(r.path);
    const seen = byPath.get(p);
    byPath.set(p, seen ? { ...seen, label: `${seen.label}, ${r.label}` } : r);
  }
  return [...byPath.values()];
}

/** A URL with any password or credential parameter in it masked, for the report. */
export function redactUrl(url: string): string {
  return new Redactor().redact(url);
}

// ---- probes (I/O) ---------------------------------------------------------------------------------------

function messageOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof OwbError) return err.message;
  return e.code ?? String(e.message ?? err).split('\n')[0]!;
}

/** Locates the data folder (directly or through the container) and judges both. */
async function checkSource(src: DoctorInput['source'], env: NodeJS.ProcessEnv): Promise<{ items: DoctorItem[]; dataDir?: string }> {
  if (src.container) {
    let info;
    try {
      info = await findContainer(await connectDocker({ env }), src.container);
    } catch (err) {
      const fix =
        err instanceof ContainerNotFoundError
          ? 'check source.container or --container ("docker ps -a" lists the containers)'
          : 'start the Docker Engine, or set DOCKER_HOST to where it listens';
      return {
        items: [
          { name: 'data folder', status: 'FAIL', detail: `not located: ${messageOf(err)}`, fix },
          { name: 'container', status: 'FAIL', detail: messageOf(err), fix },
        ],
      };
    }
    const container: DoctorItem =
      info.state === 'running'
        ? { name: 'container', status: 'PASS', detail: `${info.name} is running (${info.image})` }
        : { name: 'container', status: 'WARN', detail: `${info.name} is ${info.state}`, fix: `docker ${info.state === 'paused' ? 'unpause' : 'start'} ${info.name}` };
    const mount = dataDirOf(info);
    if (!mount) {
      const detail = `${containerDataDir(info)} lives in the container's own layer (no volume or bind mount)`;
      return { items: [{ name: 'data folder', status: 'FAIL', detail, fix: `recreate the container with a volume at ${containerDataDir(info)}` }, container] };
    }
    const data = await dataFolderItem(mount.hostPath, openWebuiEnvOf(info.env));
    return { items: [data, container], ...(data.status !== 'FAIL' ? { dataDir: mount.hostPath } : {}) };
  }
  if (src.dataDir) {
    const dir = resolve(src.dataDir);
    const data = await dataFolderItem(dir, openWebuiEnvOf(env));
    return { items: [data], ...(data.status !== 'FAIL' ? { dataDir: dir } : {}) };
  }
  return { items: [{ name: 'data folder', status: 'WARN', detail: 'no Open WebUI source configured', fix: 'set source.container or source.data_dir in the config, or pass --container / --source' }] };
}

async function dataFolderItem(dir: string, owEnv: OpenWebuiEnv): Promise<DoctorItem> {
  const name = 'data folder';
  let names: string[];
  try {
    await access(dir, constants.R_OK | constants.X_OK);
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const fix = code === 'ENOENT' ? 'check source.data_dir or --source' : 'run owb as a user that can read it (root, for Docker volumes)';
    return { name, status: 'FAIL', detail: `${dir}: ${messageOf(err)}`, fix };
  }
  if (databaseEngine(owEnv) === 'postgresql') return { name, status: 'PASS', detail: `${dir} is readable (the database is in PostgreSQL)` };
  if (!names.includes('webui.db')) {
    return { name, status: 'WARN', detail: `${dir} is readable but holds no webui.db`, fix: 'point the source at the folder holding webui.db (/app/backend/data in the container)' };
  }
  try {
    await access(join(dir, 'webui.db'), constants.R_OK);
  } catch (err) {
    return { name, status: 'FAIL', detail: `${join(dir, 'webui.db')}: ${messageOf(err)}`, fix: 'run owb as a user that can read it' };
  }
  return { name, status: 'PASS', detail: `${dir} is readable, webui.db present` };
}

/** Opens a repository, takes and releases a shared lock (proving write and delete), and finds its newest snapshot. */
async function checkRepository(r: DoctorRepo, withRepo: DoctorInput['withRepo']): Promise<{ item: DoctorItem; newest?: Date; opened: boolean }> {
  const name = `repository ${r.label}`;
  try {
    return await withRepo(r, async (repo) => {
      const snaps = await listSnapshots(repo);
      const newest = snaps.length ? new Date(Math.max(...snaps.map((s) => Date.parse(s.time)))) : undefined;
      const base = { opened: true, ...(newest ? { newest } : {}) };
      try {
        const lock = await repo.lock(false);
        await lock.release();
      } catch (err) {
        if (!(err instanceof RepoLockedError)) throw err;
        return { ...base, item: { name, status: 'WARN' as const, detail: err.message, fix: 'wait for the running job; if no owb process is running, run "owb unlock"' } };
      }
      return { ...base, item: { name, status: 'PASS' as const, detail: `opened, lock written and removed, ${snaps.length} snapshot(s)` } };
    });
  } catch (err) {
    const setting = r.name ? `password_file of repository ${r.name}` : 'password_file / --password-file / OWB_PASSWORD_FILE';
    const fix =
      err instanceof WrongPasswordError
        ? `check ${setting}`
        : err instanceof RepoNotFoundError
          ? `run "owb -r ${r.label} init", or check its url`
          : err instanceof UsageError
            ? `set ${setting}`
            : 'check the URL, the network and the credentials';
    return { item: { name, status: 'FAIL', detail: messageOf(err), fix }, opened: false };
  }
}

/** The usual places: system and user systemd units, /etc/crontab and /etc/cron.d, the user's crontab, the daemon pid file. */
export function defaultScheduleProbe(stateDir: string, env: NodeJS.ProcessEnv): ScheduleProbe {
  return {
    systemdDirs: ['/etc/systemd/system', join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user')],
    cronPaths: ['/etc/crontab', '/etc/cron.d'],
    userCrontab: true,
    pidFile: join(stateDir, DAEMON_PID_FILE),
  };
}

const OWB_WORD_RE = /(^|[^a-z0-9])owb([^a-z0-9]|$)/i;

/** True when a crontab text holds a job line (not a comment or variable) that runs owb. */
export function crontabRunsOwb(text: string): boolean {
  return text.split('\n').some((l) => {
    const line = l.trim();
    return line !== '' && !line.startsWith('#') && !/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line) && OWB_WORD_RE.test(line);
  });
}

/** What runs the schedule: enabled owb timers or daemon units, crontab lines running owb, a live daemon. */
export async function findScheduleEvidence(p: ScheduleProbe): Promise<string[]> {
  const out: string[] = [];
  const wants: [string, RegExp][] = [
    ['timers.target.wants', /^owb-.+\.timer$/],
    ['multi-user.target.wants', /^owb-daemon\.service$/],
    ['default.target.wants', /^owb-daemon\.service$/],
  ];
  for (const dir of p.systemdDirs) {
    for (const [sub, re] of wants) {
      const names = await readdir(join(dir, sub)).catch(() => [] as string[]);
      for (const n of names.filter((x) => re.test(x)).sort()) out.push(`systemd unit ${n} enabled (${join(dir, sub)})`);
    }
  }
  for (const path of p.cronPaths) {
    const st = await stat(path).catch(() => undefined);
    const files = st?.isDirectory() ? (await readdir(path).catch(() => [] as string[])).map((n) => join(path, n)) : st ? [path] : [];
    for (const f of files.sort()) {
      const text = await readFile(f, 'utf8').catch(() => '');
      if (crontabRunsOwb(text)) out.push(`crontab ${f}`);
    }
  }
  if (p.userCrontab && crontabRunsOwb(await userCrontab())) out.push("this user's crontab");
  const pid = Number((await readFile(p.pidFile, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) out.push(`daemon running (pid ${pid})`);
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `crontab -l`, or '' when there is none or no crontab program. */
function userCrontab(): Promise<string> {
  return new Promise((done) => {
    let text = '';
    const child = spawn('crontab', ['-l'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // Not spawn's own `timeout`: its timer outlives a spawn that fails with ENOENT and holds the process open.
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.on('error', () => {
      clearTimeout(timer);
      done('');
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done(code === 0 ? text : '');
    });
  });
}

/** The folder itself, or its nearest existing ancestor when it does not exist yet. */
async function nearestExisting(dir: string): Promise<string> {
  let p = resolve(dir);
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(p) === p) throw err;
      p = dirname(p);
    }
  }
}

/** Creates and removes a temp file in the folder (or where owb would create it). */
async function writableItem(name: string, dir: string, setting: string): Promise<DoctorItem> {
  const fix = `create it and give the user that runs owb write access, or set ${setting}`;
  try {
    const at = await nearestExisting(dir);
    if (!(await stat(at)).isDirectory()) return { name, status: 'FAIL', detail: `${at} is not a folder`, fix };
    const probe = join(at, `.owb-doctor-${randomBytes(6).toString('hex')}`);
    await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
    await unlink(probe);
    return { name, status: 'PASS', detail: at === resolve(dir) ? `${dir} is writable` : `${dir} does not exist yet; owb will create it (${at} is writable)` };
  } catch (err) {
    return { name, status: 'FAIL', detail: `${dir}: cannot write (${messageOf(err)})`, fix };
  }
}

/** Bytes a backup stages: webui.db plus the whole vector_db folder (apparent sizes). */
async function stagedBytes(dataDir: string): Promise<number> {
  let total = (await lstat(join(dataDir, 'webui.db')).catch(() => undefined))?.size ?? 0;
  const vec = join(dataDir, 'vector_db');
  for (const e of await readdir(vec, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await lstat(join(e.parentPath, e.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

async function stagingSpace(stagingDir: string, dataDir: string | undefined): Promise<DoctorItem> {
  if (!dataDir) return { name: 'staging space', status: 'WARN', detail: 'not checked: no readable data folder', fix: 'fix the data folder first' };
  try {
    const at = await nearestExisting(stagingDir);
    const fs = await statfs(at);
    return stagingItem(stagingDir, fs.bavail * fs.bsize, await stagedBytes(dataDir));
  } catch (err) {
    return { name: 'staging space', status: 'FAIL', detail: `${stagingDir}: ${messageOf(err)}`, fix: 'set source.staging_dir to a folder owb can use' };
  }
}

async function readLastDrill(stateDir: string): Promise<LastDrill | undefined | Error> {
  let text: string;
  try {
    text = await readFile(join(stateDir, LAST_DRILL_FILE), 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (err as Error);
  }
  try {
    const v = JSON.parse(text) as Partial<LastDrill>;
    return typeof v.time === 'string' && typeof v.snapshot_id === 'string' ? { time: v.time, snapshot_id: v.snapshot_id } : new Error('malformed');
  } catch (err) {
    return err as Error;
  }
}

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
  for (const ref of secretFilesOf(cfg, input.env, input.extraSecretFiles)) {
    const st = await stat(ref.path).then(
      (s) => ({ mode: s.mode }),
      (err: NodeJS.ErrnoException) => ({ error: err.code ?? 'error' }),
    );
    items.push(secretFileItem(ref, st));
  }
  items.push(...ages);
  items.push(drillItem(await readLastDrill(input.stateDir), now));
  items.push(scheduleItem(cfg.schedule, await findScheduleEvidence(input.scheduleProbe ?? defaultScheduleProbe(input.stateDir, input.env)), now));
  items.push(await writableItem('log folder', cfg.logs.dir, 'logs.dir'));
  items.push(await stagingSpace(input.source.stagingDir ?? join(input.stateDir, 'staging'), source.dataDir));
  return { items };
}
