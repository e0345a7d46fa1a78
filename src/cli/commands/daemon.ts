import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { runDaemon } from '../../ops/daemon.js';
import { stateDirOf } from '../../jobs/source.js';
import type { CliContext } from '../context.js';

/** `owb daemon`: run the config's schedule in the foreground (as a container or systemd service would). */
export function registerDaemon(program: Command, ctx: () => CliContext): void {
  program
    .command('daemon')
    .description('run the schedule: entries of the config in the foreground; SIGHUP reloads, SIGTERM stops safely')
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics on /metrics (default: the config metrics.listen)')
    .action(async (flags: { metricsListen?: string }) => {
      const c = ctx();
      c.ownSignals = true;
      const cfg = await c.config();
      const entry = fileURLToPath(new URL('../main.js', import.meta.url));
      const globals = [...(c.globals.config ? ['--config', c.globals.config] : []), ...(c.globals.verbose ? ['--verbose'] : ['--quiet'])];
      const code = await runDaemon({
        // Each reload reads the file again (SIGHUP).
        loadConfig: () => c.reloadConfig(),
        command: { argv: [process.execPath, entry], globals, env: process.env },
        stateDir: stateDirOf(cfg, c.env),
        ...(flags.metricsListen ? { metricsListen: flags.metricsListen } : {}),
        events: { onLine: (line) => process.stderr.write(`${new Date().toISOString()} owb daemon: ${line}\n`) },
      });
      process.exitCode = code;
    });
}
