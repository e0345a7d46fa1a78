import type { Command } from 'commander';
import { listLocks } from '../../repo/lock.js';
import type { CliContext } from '../context.js';

/** `owb unlock`: remove stale locks (or all with --remove-all). */
export function registerUnlock(program: Command, ctx: () => CliContext): void {
  program
    .command('unlock')
    .description('remove stale locks left by crashed runs (--remove-all removes every lock)')
    .option('--remove-all', 'also remove locks of processes that may still run')
    .action(async (flags: { removeAll?: boolean }) => {
      const c = ctx();
      const removed = await c.withRepo('none', async (repo) => {
        const out: string[] = [];
        for (const l of await listLocks({ backend: repo.backend, codec: repo.codec })) {
          if (!l.stale && !flags.removeAll) continue;
          await repo.backend.remove({ type: 'locks', name: l.id }).catch(() => undefined);
          out.push(l.id);
        }
        return out;
      });
      if (c.out.json) c.out.printJson({ removed });
      else c.out.info(removed.length === 0 ? 'no stale locks' : `removed ${removed.length} lock(s)`);
    });
}
