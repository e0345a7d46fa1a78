import type { Command } from 'commander';
import { OwbError, UsageError } from '../../errors.js';
import { runUnlock } from '../../jobs/unlock.js';
import type { CliContext } from '../context.js';

/** `owb unlock`: remove stale locks (or all with --remove-all). */
export function registerUnlock(program: Command, ctx: () => CliContext): void {
  program
    .command('unlock')
    .description('remove stale locks left by crashed runs (--remove-all removes every lock)')
    .option('--remove-all', 'also remove locks that are not stale (of processes that may still run elsewhere)')
    .option('--force', 'with --remove-all: also remove locks of processes that are alive on this host')
    .action(async (flags: { removeAll?: boolean; force?: boolean }) => {
      const c = ctx();
      if (flags.force && !flags.removeAll) throw new UsageError('--force goes with --remove-all');
      const res = await c.withRepo('none', (repo) => runUnlock(repo, { all: !!flags.removeAll, force: !!flags.force }));
      for (const k of res.keptLive) c.out.warn(`kept lock ${k.id.slice(0, 8)}: process ${k.pid} is running on this host (stop it, or use --force)`);
      if (c.out.json) c.out.printJson({ removed: res.removed, ...(res.keptLive.length > 0 ? { kept_live: res.keptLive.map((k) => ({ id: k.id, pid: k.pid })) } : {}) });
      else c.out.info(res.removed.length === 0 ? 'no stale locks' : `removed ${res.removed.length} lock(s)`);
      if (res.keptLive.length > 0) throw new OwbError(`${res.keptLive.length} lock(s) of running processes kept`);
    });
}
