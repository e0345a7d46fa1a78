import type { Command } from 'commander';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { runRestore } from '../../jobs/restore.js';
import { findSnapshot, listSnapshots } from '../../repo/snapshot.js';
import type { CliContext } from '../context.js';
import { collect } from '../options.js';
import { formatBytes } from '../format.js';
import { progressLine } from '../output.js';

interface RestoreFlags {
  target?: string;
  include?: string[];
  force?: boolean;
}

/** `owb restore <id|latest> --target DIR`. */
export function registerRestore(program: Command, ctx: () => CliContext): void {
  program
    .command('restore')
    .description('restore a snapshot into a directory (refuses a non-empty one unless --force)')
    .argument('<snapshot>', 'snapshot id (or a unique prefix) or "latest"')
    .option('-t, --target <dir>', 'directory to restore into (required)')
    .option('-i, --include <pattern>', 'restore only paths matching this glob, e.g. "/srv/data/uploads" (repeatable)', collect, [])
    .option('--force', 'restore into a non-empty directory, replacing what the snapshot holds')
    .action(async (ref: string, flags: RestoreFlags) => {
      if (!flags.target) throw new UsageError('restore needs --target DIR');
      const c = ctx();
      const target = resolve(flags.target);
      const start = Date.now();
      const { snap, result } = await c.withRepo('shared', async (repo) => {
        const snap = findSnapshot(await listSnapshots(repo), ref);
        const totalBytes = snap.summary?.total_bytes_processed;
        const result = await runRestore(repo, snap, {
          target,
          include: flags.include ?? [],
          force: !!flags.force,
          signal: c.abort.signal,
          onWarning: (m) => c.out.warn(m),
          onProgress: (p) => c.out.progress(progressLine(start, p.filesDone, p.bytesDone, flags.include?.length ? undefined : totalBytes)),
        });
        return { snap, result };
      });
      c.out.clearProgress();
      if (c.out.json) {
        c.out.printJson({
          snapshot_id: snap.id,
          target,
          files_restored: result.filesRestored,
          dirs_restored: result.dirsRestored,
          symlinks_restored: result.symlinksRestored,
          bytes_restored: result.bytesRestored,
          duration_s: (Date.now() - start) / 1000,
        });
      } else {
        c.out.info(`restored snapshot ${snap.id.slice(0, 8)} to ${target}: ${result.filesRestored} files, ${formatBytes(result.bytesRestored)}`);
      }
    });
}
