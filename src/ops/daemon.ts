import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OwbConfig, ScheduleEntry } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { MetricsState, serveMetrics, type MetricsServer } from './metrics.js';
import { METRICS_STATE_FILE } from './recorded-run.js';
import { Redactor } from './redact.js';
import { entryArgs } from './schedule/run-command.js';

/** The daemon's pid file in the state folder; the doctor reads it to tell whether a daemon runs the schedule. */
export const DAEMON_PID_FILE = 'daemon.pid';

/** How the daemon runs one scheduled job: a fresh owb process, so a crash or leak never reaches the daemon. */
export interface JobCommand {
  /** The program and leading arguments of owb itself (node and the CLI entry point). */
  argv: string[];
  /** Global flags to pass on (config path, quiet). */
  globals: string[];
  env: NodeJS.ProcessEnv;
}

/** What the daemon tells its caller. */
export interface DaemonEvents {
  onLine: (line: string) => void;
}

/** Options of runDaemon. */
export interface DaemonOptions {
  loadConfig: () => Promise<OwbConfig>;
  command: JobCommand;
  stateDir: string;
  metricsListen?: string;
  events: DaemonEvents;
}

/**
 * Validates every cron expression and every entry's args up front, so a bad config is refused before
 * anything is scheduled (and a job never fails at its firing time for a config error).
 */
export async function validateSchedule(entries: ScheduleEntry[]): Promise<void> {
  const { Cron } = await import('croner');
  entries.forEach((e, i) => {
    try {
      new Cron(e.cron, { paused: true, ...(e.timezone ? { timezone: e.timezone } : {}) }).stop();
    } catch (err) {
      throw new UsageError(`config schedule.${i}.cron: ${(err as Error).message}`);
    }
    entryArgs(e, i);
  });
}

/**
 * Runs the config's `schedule:` in the foreground until SIGTERM/SIGINT. Jobs never overlap: a job that
 * comes due while another runs waits its turn (once; a second firing meanwhile is dropped). A failing job
 * is logged and the next ones run as planned. SIGHUP reloads the config (a bad one is refused and the old
 * schedule kept). SIGTERM stops scheduling, passes SIGTERM to a running job (which stops safely and resumes
 * its container) and waits for it. Returns the exit code.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { Cron } = await import('croner');
  const say = opts.events.onLine;
  let cfg = await opts.loadConfig();
  if (cfg.schedule.length === 0) throw new UsageError('the config has no schedule: entries; nothing for the daemon to run');
  await validateSchedule(cfg.schedule);
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const pidFile = join(opts.stateDir, DAEMON_PID_FILE);
  await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 });

  const metricsPath = join(opts.stateDir, METRICS_STATE_FILE);
  let metrics = await MetricsState.load({ path: metricsPath, redactor: new Redactor() });
  const listen = opts.metricsListen ?? cfg.metrics.listen;
  let server: MetricsServer | undefined;
  if (listen) {
    server = await serveMetrics(listen, () => metrics.render());
    say(`metrics on http://${listen}/metrics`);
  }

  const queue: ScheduleEntry[] = [];
  let running: { entry: ScheduleEntry; child: ChildProcess; done: Promise<void> } | undefined;
  let stopping = false;
  let crons: { stop(): void }[] = [];

  const schedule = (entries: ScheduleEntry[]): void => {
    for (const c of crons) c.stop();
    crons = entries.map(
      (entry) =>
        new Cron(entry.cron, { ...(entry.timezone ? { timezone: entry.timezone } : {}), protect: true }, () => {
          if (stopping) return;
          if (queue.includes(entry) || running?.entry === entry) {
            say(`${label(entry)}: still waiting or running from its last firing; skipped this one`);
            return;
          }
          queue.push(entry);
          void pump();
        }),
    );
    for (const [i, e] of entries.entries()) {
      const next = (crons[i] as unknown as { nextRun(): Date | null }).nextRun();
      say(`scheduled ${label(e)} (${e.cron}${e.timezone ? ` ${e.timezone}` : ''}), next at ${next?.toISOString() ?? 'never'}`);
    }
  };

  const pump = async (): Promise<void> => {
    if (running || stopping) return;
    const entry = queue.shift();
    if (!entry) return;
    const args = [...opts.command.argv.slice(1), ...opts.command.globals, ...(entry.repository ? ['--repo', entry.repository] : []), ...entryArgs(entry)];
    const started = Date.now();
    say(`starting ${label(entry)}`);
    const child = spawn(opts.command.argv[0]!, args, { env: opts.command.env, stdio: ['ignore', 'inherit', 'inherit'] });
    const done = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        say(`${label(entry)} could not start: ${err.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        say(code === 0 ? `${label(entry)} finished in ${secs} s` : `${label(entry)} FAILED (${signal ?? `exit ${code}`}) after ${secs} s`);
        resolve();
      });
    });
    running = { entry, child, done };
    await done;
    running = undefined;
    metrics = await MetricsState.load({ path: metricsPath, redactor: new Redactor() }).catch(() => metrics);
    void pump();
  };

  schedule(cfg.schedule);

  return new Promise<number>((resolve) => {
    const onHup = (): void => {
      void opts
        .loadConfig()
        .then(async (next) => {
          await validateSchedule(next.schedule);
          cfg = next;
          schedule(cfg.schedule);
          say('config reloaded');
        })
        .catch((err: Error) => say(`config reload refused, keeping the old schedule: ${err.message}`));
    };
    const onStop = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      say(`${sig}: stopping${running ? ` after ${label(running.entry)} stops safely` : ''}`);
      for (const c of crons) c.stop();
      queue.length = 0;
      const current = running;
      if (current) current.child.kill('SIGTERM');
      void (current?.done ?? Promise.resolve())
        .then(async () => {
          await server?.close();
          await rm(pidFile, { force: true });
          process.off('SIGHUP', onHup);
          process.off('SIGTERM', onStop);
          process.off('SIGINT', onStop);
          resolve(0);
        });
    };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}

function label(e: ScheduleEntry): string {
  return `${e.job}${e.repository ? `@${e.repository}` : ''}`;
}
