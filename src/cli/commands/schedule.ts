import type { Command } from 'commander';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findConfigFile } from '../../config/load.js';
import { UsageError } from '../../errors.js';
import {
  enableCommand,
  installUserCrontab,
  jobPath,
  renderCrontab,
  renderDaemonUnit,
  renderSystemdUnits,
  unattendedWarnings,
  writeCronFile,
  writeUnits,
  type RunPaths,
  type UnitFile,
} from '../../ops/schedule/index.js';
import { stateDirOf } from '../../jobs/source.js';
import type { CliContext } from '../context.js';

interface InstallFlags {
  cron?: boolean;
  systemd?: boolean;
  daemon?: boolean;
  write?: boolean;
  dir?: string;
}

/** Where a root install puts its crontab. */
const CRON_FILE = '/etc/cron.d/owb';
const GENERATED_UNIT_RE = /^owb-(backup|forget|prune|check|drill|copy)-\d+\.(service|timer)$|^owb-daemon\.service$/;

/** `owb schedule install --cron|--systemd`: turn the config's schedule: into crontab lines or systemd units. */
export function registerSchedule(program: Command, ctx: () => CliContext): void {
  const schedule = program.command('schedule').description('run the config\'s schedule: from cron or systemd');
  schedule
    .command('install')
    .description('print or install crontab lines (--cron), or write systemd timers and services (--systemd)')
    .option('--cron', 'crontab lines: printed, or installed with --write (/etc/cron.d/owb as root, else your crontab)')
    .option('--systemd', 'a service and a timer per schedule entry, written to --dir')
    .option('--daemon', 'with --systemd: one owb-daemon.service running "owb daemon" instead of timers')
    .option('--write', 'with --cron: install the lines instead of printing them')
    .option('--dir <dir>', 'with --systemd: where to write units (default /etc/systemd/system as root, else ~/.config/systemd/user)')
    .action(async (flags: InstallFlags) => {
      const c = ctx();
      if (!!flags.cron === !!flags.systemd) throw new UsageError('give exactly one of --cron or --systemd');
      if (flags.daemon && !flags.systemd) throw new UsageError('--daemon goes with --systemd');
      if (flags.dir && !flags.systemd) throw new UsageError('--dir goes with --systemd');
      const cfg = await c.config();
      const configPath = await findConfigFile(c.globals.config, c.env);
      if (!configPath) throw new UsageError('no config file: scheduled runs read their settings from one (--config or OWB_CONFIG)');
      if (cfg.schedule.length === 0) throw new UsageError(`no schedule: entries in ${configPath}`);
      const paths = runPaths(configPath, resolve(stateDirOf(cfg, c.env)), c.env);
      for (const w of unattendedWarnings(cfg)) c.out.warn(w);
      const root = process.getuid?.() === 0;
      if (flags.cron) await installCron(c, cfg.schedule, paths, root, !!flags.write);
      else await installSystemd(c, cfg.schedule, paths, root, flags);
    });
}

function runPaths(configPath: string, stateDir: string, env: NodeJS.ProcessEnv): RunPaths {
  return {
    configPath,
    nodePath: process.execPath,
    entryPath: realpathSync(fileURLToPath(new URL('../main.js', import.meta.url))),
    stateDir,
    flockPath: which('flock', env) ?? '/usr/bin/flock',
    pathEnv: jobPath(process.execPath),
    ...(env.DOCKER_HOST ? { dockerHost: env.DOCKER_HOST } : {}),
  };
}

function which(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

async function installCron(c: CliContext, entries: Parameters<typeof renderCrontab>[0], paths: RunPaths, root: boolean, write: boolean): Promise<void> {
  const text = renderCrontab(entries, paths, root ? { user: 'root' } : {});
  if (!write) {
    if (c.out.json) c.out.printJson({ format: 'cron', content: text, written_to: null });
    else process.stdout.write(`# for ${root ? CRON_FILE : 'your crontab (crontab -e)'}; "owb schedule install --cron --write" installs it\n${text}`);
    return;
  }
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const where = root ? CRON_FILE : "this user's crontab";
  if (root) await writeCronFile(CRON_FILE, text);
  else await installUserCrontab(text);
  if (c.out.json) c.out.printJson({ format: 'cron', content: text, written_to: where });
  else c.out.info(`installed ${entries.length} schedule line(s) into ${where}; cron picks them up by itself`);
}

async function installSystemd(c: CliContext, entries: Parameters<typeof renderSystemdUnits>[0], paths: RunPaths, root: boolean, flags: InstallFlags): Promise<void> {
  const user = !root;
  const dir = resolve(flags.dir ?? (root ? '/etc/systemd/system' : join(c.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user')));
  // Rendering converts every cron expression first, so nothing is written when one cannot be converted.
  const units: UnitFile[] = flags.daemon ? [renderDaemonUnit(paths, { user })] : renderSystemdUnits(entries, paths, { user });
  const written = await writeUnits(dir, units);
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const ours = new Set(units.map((u) => u.name));
  const stale = (await readdir(dir)).filter((n) => GENERATED_UNIT_RE.test(n) && !ours.has(n)).sort();
  const next = enableCommand(units, user);
  if (c.out.json) {
    c.out.printJson({ format: 'systemd', dir, files: written, stale, next_command: next });
    return;
  }
  for (const p of written) c.out.info(`wrote ${p}`);
  for (const n of stale) {
    c.out.warn(`${join(dir, n)} is left from an earlier install and not in this schedule: ${user ? 'systemctl --user' : 'systemctl'} disable --now ${n}, then remove the file`);
  }
  c.out.info(`next: ${next}`);
  if (user) c.out.info('so the timers also run while you are logged out: loginctl enable-linger "$USER"');
}
