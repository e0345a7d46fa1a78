/** Schedule checks: the schedule is valid, and a timer, a crontab line or a live daemon actually runs it. */
import { Cron } from 'croner';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ScheduleEntry } from '../../config/schema.js';
import { DAEMON_PID_FILE } from '../../ops/daemon.js';
import type { DoctorItem, ScheduleProbe } from './types.js';

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
