import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { runCopy } from '../../jobs/copy.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';

interface CopyFlags {
  from?: string;
  to?: string;
  all?: boolean;
  fromPasswordFile?: string;
  toPasswordFile?: string;
}

/** `owb copy [snap…|--all] --from A --to B`. */
export function registerCopy(program: Command, ctx: () => CliContext): void {
  program
    .command('copy')
    .description('copy snapshots to another repository, uploading only the data it lacks')
    .argument('[snapshot...]', 'snapshot ids to copy (default with --all: every snapshot not yet copied)')
    .requiredOption('--from <repo>', 'source repository (config name or URL)')
    .option('--to <repo>', 'destination repository (config name or URL; default: --repo)')
    .option('--all', 'copy every snapshot that the destination does not have yet')
    .option('--from-password-file <file>', 'password file of the source (default: its config password_file)')
    .option('--to-password-file <file>', 'password file of the destination (default: its config password_file)')
    .action(async (ids: string[], flags: CopyFlags) => {
      const c = ctx();
      if (ids.length === 0 && !flags.all) throw new UsageError('name the snapshots to copy, or use --all');
      if (ids.length > 0 && flags.all) throw new UsageError('give snapshot ids or --all, not both');
      const src = await c.resolveRepo(flags.from!);
      const dst = flags.to ? await c.resolveRepo(flags.to) : await c.repoTarget();
      if (src.url === dst.url) throw new UsageError('source and destination are the same repository');
      const res = await c.recorded('copy', () => c.withRepoAt(
        src,
        'shared',
        (from) =>
          c.withRepoAt(
            dst,
            'shared',
            (to) => runCopy(from, to, { snapshots: ids, signal: c.abort.signal, onProgress: (p) => c.out.progress(`copying ${p.snapshot.slice(0, 8)}: ${p.blobsCopied} blobs, ${formatBytes(p.bytesCopied)}`) }),
            flags.toPasswordFile,
          ),
        flags.fromPasswordFile,
      ), (r) => ({ summary: `${r.copied.length} snapshot(s) copied, ${formatBytes(r.bytesCopied)} uploaded`, values: { copied: r.copied.length, bytes_copied: r.bytesCopied } }));
      c.out.clearProgress();
      if (c.out.json) {
        c.out.printJson({ copied: res.copied, skipped: res.skipped, blobs_copied: res.blobsCopied, bytes_copied: res.bytesCopied });
        return;
      }
      for (const { from, to } of res.copied) c.out.info(`snapshot ${from.slice(0, 8)} copied as ${to.slice(0, 8)}`);
      if (res.skipped.length > 0) c.out.info(`${res.skipped.length} snapshot(s) already in the destination`);
      c.out.info(`uploaded ${res.blobsCopied} blobs, ${formatBytes(res.bytesCopied)}`);
    });
}
