import type { Command } from 'commander';
import { runUnlock } from '../../jobs/unlock.js';
import type { CliContext } from '../context.js';

/** `owb unlock`: remove stale locks (or all with --remove-all). */
export function registerUnlock(program: Command, ctx: () => CliContext): void {
  program
    .command('unlock')
    .description('remove stale locks left by crashed runs (--remove-all removes every lock)')
    .option('--remove-all', 'also remove locks of processes that may still run')
    .action(async (flags: { removeAll?: boolean }) => {
      const c = ctx();
      const removed = await c.withRepo('none', (repo) => runUnlock(repo, { all: !!flags.removeAll }));
      if (c.out.json) c.out.printJson({ removed });
      else c.out.info(removed.length === 0 ? 'no stale locks' : `removed ${removed.length} lock(s)`);
    });
}
