#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitCode, OwbError } from '../errors.js';
import { PROGRAM_VERSION } from '../version.js';
import { registerBackup } from './commands/backup.js';
import { registerCheck } from './commands/check.js';
import { registerCopy } from './commands/copy.js';
import { registerDaemon } from './commands/daemon.js';
import { registerDoctor } from './commands/doctor.js';
import { registerDrill } from './commands/drill.js';
import { registerForget } from './commands/forget.js';
import { registerInit } from './commands/init.js';
import { registerKey } from './commands/key.js';
import { registerLs } from './commands/ls.js';
import { registerPrune } from './commands/prune.js';
import { registerRestore } from './commands/restore.js';
import { registerSchedule } from './commands/schedule.js';
import { registerSnapshots } from './commands/snapshots.js';
import { registerUnlock } from './commands/unlock.js';
import { CliContext, type GlobalOptions } from './context.js';
import { resumeLeftContainers } from '../jobs/leftovers.js';
import { stateDirOf } from '../jobs/source.js';
import { defaultStateDir } from '../config/ops-schema.js';

const HELP_FOOTER = `
Environment: OWB_REPOSITORY, OWB_PASSWORD_FILE, OWB_PASSWORD, OWB_CONFIG (every secret also as *_FILE).
Exit codes: 0 ok, 1 failure, 2 usage, 3 snapshot saved but some files unreadable, 10 no repository,
            11 locked, 12 wrong password, 130 interrupted.

Example:
  export OWB_REPOSITORY=/srv/backups/owb OWB_PASSWORD_FILE=~/.owb-password
  owb init && owb backup /srv/open-webui/data && owb snapshots`;

/** Builds the command tree. */
export function buildProgram(getContext: () => CliContext): Command {
  const program = new Command('owb')
    .description('Backup and restore for self-hosted Open WebUI: deduplicated, compressed, encrypted snapshots')
    .version(PROGRAM_VERSION)
    .option('-r, --repo <url>', 'repository: /path, local:/path, or a repository name from the config (env OWB_REPOSITORY)')
    .option('--password-file <file>', 'file holding the repository password (env OWB_PASSWORD_FILE)')
    .option('-c, --config <file>', 'YAML config (env OWB_CONFIG; default ./owb.yaml, then $XDG_CONFIG_HOME/owb/config.yaml, then /etc/owb/config.yaml)')
    .option('--json', 'print one JSON document on stdout and no progress')
    .option('-q, --quiet', 'print only warnings and errors')
    .option('-v, --verbose', 'print more detail, including error stacks')
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run "owb --help" for usage)')
    .exitOverride();
  for (const register of [registerInit, registerBackup, registerSnapshots, registerLs, registerRestore, registerDrill, registerCheck, registerForget, registerPrune, registerCopy, registerKey, registerUnlock, registerDoctor, registerSchedule, registerDaemon]) {
    register(program, getContext);
  }
  for (const cmd of program.commands) cmd.exitOverride();
  // Before any command: bring back containers a killed owb left stopped or paused.
  program.hook('preAction', async () => {
    const c = getContext();
    // A broken config must not stop containers from coming back: fall back to the default state folder.
    const cfg = await c.config().catch(() => undefined);
    const stateDir = cfg ? stateDirOf(cfg, c.env) : defaultStateDir(c.env);
    for (const line of await resumeLeftContainers(stateDir, c.env)) c.out.warn(line);
  });
  return program;
}

/** Entry point: the one place where errors become exit codes. */
export async function main(argv: string[]): Promise<number> {
  let ctx: CliContext | undefined;
  const program = buildProgram(() => (ctx ??= new CliContext(program.opts<GlobalOptions>())));
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // The daemon handles its own signals (it waits for the running job to stop safely).
    if (ctx?.ownSignals) return;
    signals++;
    if (signals > 1) process.exit(ExitCode.Interrupted);
    ctx?.out.clearProgress();
    process.stderr.write(`owb: ${sig} received, stopping safely (send again to force)\n`);
    ctx?.abort.abort(sig);
    if (!ctx) process.exit(ExitCode.Interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await program.parseAsync(argv);
    return ExitCode.Ok;
  } catch (err) {
    ctx?.out.clearProgress();
    // --json is known from argv too: a usage error can end the run before any context exists.
    // The command's own document may already report the failure (exit 3 after a backup): then no second one.
    const json = (ctx?.out.json ?? argv.slice(2).includes('--json')) && !ctx?.out.jsonPrinted;
    return reportError(err, ctx?.out.verbose ?? false, json);
  }
}

/** Prints the one error line (and with --json, one JSON error document on stdout) and returns the exit code. */
function reportError(err: unknown, verbose: boolean, json: boolean): number {
  const { code, message, printed } = describeError(err);
  if (message === undefined) return code;
  if (!printed) process.stderr.write(`owb: ${message}\n`);
  if (verbose) {
    const cause = err instanceof OwbError ? err.cause : err;
    if (cause) process.stderr.write(`${String((cause as Error).stack ?? cause)}\n`);
  }
  // Scripts reading --json get a document on failure too, never an empty stdout.
  if (json) process.stdout.write(`${JSON.stringify({ error: { message, exit_code: code, type: err instanceof Error ? err.name : 'Error' } }, null, 2)}\n`);
  return code;
}

/** The exit code and one-line message of a failure; `printed` when commander has already written it to stderr. */
function describeError(err: unknown): { code: number; message?: string; printed?: boolean } {
  if (err instanceof CommanderError) {
    // Help and version "errors" are normal exits.
    if (err.exitCode === 0) return { code: ExitCode.Ok };
    return { code: ExitCode.Usage, message: err.message.replace(/^error: /, ''), printed: true };
  }
  if (err instanceof OwbError) return { code: err.exitCode, message: err.message };
  const e = err as NodeJS.ErrnoException;
  const where = e.path ? ` (${e.path})` : '';
  const hint = e.code === 'ENOSPC' ? ': no space left on device' : e.code === 'EACCES' ? ': permission denied' : '';
  return { code: ExitCode.Failure, message: e.code ? `${e.code}${hint}${where}` : e.message };
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`owb: internal error: ${(err as Error).message}\n`);
    process.exitCode = ExitCode.Failure;
  },
);
