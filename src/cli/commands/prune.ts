import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { runPrune, type PruneResult } from '../../jobs/prune.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';

/** `owb prune`: delete data no snapshot needs. */
export function registerPrune(program: Command, ctx: () => CliContext): void {
  program
    .command('prune')
    .description('delete data that no snapshot uses any more (takes an exclusive lock)')
    .option('--max-unused <percent>', 'repack packs with more than this share of unused bytes', '5')
    .option('-n, --dry-run', 'only show what would be deleted')
    .action(async (flags: { maxUnused: string; dryRun?: boolean }) => {
      const c = ctx();
      const pct = Number(flags.maxUnused.replace(/%$/, ''));
      if (!Number.isFinite(pct) || pct < 0 || pct > 100) throw new UsageError('--max-unused takes a percentage from 0 to 100');
      const res = await c.recorded(
        'prune',
        (log) =>
          c.withRepo(flags.dryRun ? 'shared' : 'exclusive', (repo) =>
            runPrune(repo, {
              signal: c.abort.signal,
              maxUnusedFraction: pct / 100,
              dryRun: !!flags.dryRun,
              onProgress: (s) => {
                log.event('step', s);
                c.out.progress(s, true);
              },
            }),
          ),
        (r) => ({ summary: `freed ${formatBytes(r.bytesFreed)} of ${formatBytes(r.bytesBefore)}`, values: { bytes_freed: r.bytesFreed, packs_deleted: r.packsDeleted, packs_repacked: r.packsRepacked } }),
      );
      c.out.clearProgress();
      printPrune(c, res);
    });
}

/** The JSON form of a prune result (shared with `forget --prune`). */
export function pruneJson(res: PruneResult): Record<string, unknown> {
  return {
    dry_run: res.dryRun,
    packs_total: res.packsTotal,
    packs_deleted: res.packsDeleted,
    packs_repacked: res.packsRepacked,
    packs_unreferenced: res.packsOrphaned,
    blobs_used: res.blobsUsed,
    blobs_unused: res.blobsUnused,
    bytes_before: res.bytesBefore,
    bytes_freed: res.bytesFreed,
  };
}

/** Prints a prune result (shared with `forget --prune`). */
export function printPrune(c: CliContext, res: PruneResult): void {
  if (c.out.json) {
    c.out.printJson(pruneJson(res));
    return;
  }
  const verb = res.dryRun ? 'would ' : '';
  c.out.info(`${res.blobsUsed} blobs in use, ${res.blobsUnused} unused`);
  c.out.info(`${verb}delete ${res.packsDeleted} unused packs and ${res.packsOrphaned} unreferenced packs, ${verb}repack ${res.packsRepacked}`);
  c.out.info(`${verb}free ${formatBytes(res.bytesFreed)} of ${formatBytes(res.bytesBefore)}`);
}
