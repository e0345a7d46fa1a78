import type { Command } from 'commander';
import { OwbError, PartialBackupError } from '../../errors.js';
import { replicateSnapshot, type ReplicaResult } from '../../jobs/replicate.js';
import { runBackup } from '../../jobs/backup.js';
import type { CliContext } from '../context.js';
import { collect } from '../options.js';
import { formatBytes } from '../format.js';
import { progressLine } from '../output.js';

interface BackupFlags {
  tag?: string[];
  host?: string;
  parent?: string;
  force?: boolean;
}

/** `owb backup <path…>`: snapshot files and directories. */
export function registerBackup(program: Command, ctx: () => CliContext): void {
  program
    .command('backup')
    .description('back up files and directories into a new snapshot')
    .argument('<path...>', 'files or directories to back up')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option('--host <name>', 'hostname to record (default: this host)')
    .option('--parent <id>', 'compare against this snapshot instead of the latest one for the same paths')
    .option('--force', 're-read every file instead of trusting unchanged size and times')
    .action(async (paths: string[], flags: BackupFlags) => {
      const c = ctx();
      const start = Date.now();
      const target = await c.repoTarget();
      let replicas: ReplicaResult[] = [];
      const result = await c.withRepoAt(target, 'shared', async (repo) => {
        const res = await runBackup(repo, {
          paths,
          tags: flags.tag ?? [],
          ...(flags.host ? { hostname: flags.host } : {}),
          parent: flags.force ? false : flags.parent,
          signal: c.abort.signal,
          onWarning: (m) => c.out.warn(m),
          onProgress: (p) => c.out.progress(progressLine(start, p.counters.filesDone, p.counters.bytesDone, p.totalBytes)),
        });
        if (target.copyTo.length > 0) {
          c.out.progress(`copying snapshot to ${target.copyTo.join(', ')}`, true);
          replicas = await replicateSnapshot(repo, res.snapshotId, target.copyTo, async (name, fn) =>
            c.withRepoAt(await c.resolveRepo(name), 'shared', fn),
          );
        }
        return res;
      });
      c.out.clearProgress();
      const s = result.summary;
      if (c.out.json) {
        c.out.printJson({
          snapshot_id: result.snapshotId,
          short_id: result.snapshotId.slice(0, 8),
          parent: result.parent ?? null,
          ...s,
          duration_s: result.durationS,
          warnings: result.warnings,
          replicas: replicas.map((r) => ({ target: r.target, ok: r.ok, ...(r.snapshotId ? { snapshot_id: r.snapshotId } : {}), ...(r.error ? { error: r.error } : {}) })),
        });
      } else {
        c.out.info(`Files:       ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`);
        c.out.info(`Dirs:        ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`);
        c.out.info(`Added:       ${formatBytes(s.data_added)} (${formatBytes(s.data_added_packed)} stored)`);
        c.out.info(`Processed:   ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${result.durationS.toFixed(1)} s`);
        c.out.info(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
        for (const r of replicas.filter((x) => x.ok)) c.out.info(`copied to ${r.target}`);
      }
      const failed = replicas.filter((r) => !r.ok);
      for (const r of failed) c.out.warn(`copy to ${r.target} failed: ${r.error}`);
      if (failed.length > 0) throw new OwbError(`snapshot ${result.snapshotId.slice(0, 8)} saved, but copying it to ${failed.map((r) => r.target).join(', ')} failed`);
      if (result.unreadable > 0) throw new PartialBackupError(result.snapshotId, result.unreadable);
    });
}
