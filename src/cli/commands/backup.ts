import type { Command } from 'commander';
import { backupOutcomeError, backupRunReport, planBackup, runBackupJob, type BackupJobResult } from '../../jobs/backup-job.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { collect } from '../options.js';
import { progressLine } from '../output.js';

interface BackupFlags {
  tag?: string[];
  host?: string;
  parent?: string;
  force?: boolean;
  container?: string;
  source?: string;
  quiesce?: string;
  stopTimeout?: string;
  includeCache?: boolean;
  secretKeyFile?: string;
  stagingDir?: string;
}

/** `owb backup [path…] [--container NAME | --source DIR]`. */
export function registerBackup(program: Command, ctx: () => CliContext): void {
  program
    .command('backup')
    .description('back up an Open WebUI deployment (--container, --source or the config), or plain paths, into a new snapshot')
    .argument('[path...]', 'files or directories to back up (instead of an Open WebUI deployment)')
    .option('--container <name>', 'Open WebUI container (Docker); its data volume, secret key and settings are found from it')
    .option('--source <dir>', 'Open WebUI data folder (pip install or bind mount)')
    .option('--quiesce <mode>', 'how to hold writes while copying the vector store: stop (default), pause or none')
    .option('--stop-timeout <s>', 'seconds a stopping container gets before it is killed (default 30)')
    .option('--include-cache', 'also back up cache/ (re-downloadable models; left out by default)')
    .option('--secret-key-file <file>', 'with --source: where .webui_secret_key is (default: next to the data folder)')
    .option('--staging-dir <dir>', 'private folder for the consistent copy (default: in the state folder)')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option('--host <name>', 'hostname to record (default: this host)')
    .option('--parent <id>', 'compare against this snapshot instead of the latest one for the same paths')
    .option('--force', 're-read every file instead of trusting unchanged size and times')
    .action(async (paths: string[], flags: BackupFlags) => {
      const c = ctx();
      const start = Date.now();
      const stopTimeoutS = flags.stopTimeout === undefined ? undefined : Number(flags.stopTimeout);
      const plan = await planBackup(
        {
          paths,
          ...(flags.container ? { container: flags.container } : {}),
          ...(flags.source ? { sourceDir: flags.source } : {}),
          ...(flags.quiesce ? { quiesce: flags.quiesce } : {}),
          ...(stopTimeoutS !== undefined ? { stopTimeoutS } : {}),
          ...(flags.includeCache ? { includeCache: true } : {}),
          ...(flags.secretKeyFile ? { secretKeyFile: flags.secretKeyFile } : {}),
          ...(flags.stagingDir ? { stagingDir: flags.stagingDir } : {}),
        },
        await c.config(),
        c.env,
      );
      const target = await c.repoTarget();
      const res = await c.recorded(
        'backup',
        (log) =>
          c.withRepoAt(target, 'shared', (repo) =>
            runBackupJob(repo, {
              plan,
              tags: flags.tag ?? [],
              ...(flags.host ? { hostname: flags.host } : {}),
              parent: flags.force ? false : flags.parent,
              copyTo: target.copyTo,
              openReplica: async (name, fn) => c.withRepoAt(await c.resolveRepo(name), 'shared', fn),
              signal: c.abort.signal,
              log,
              onWarning: (m) => c.out.warn(m),
              onProgress: (p) => c.out.progress(progressLine(start, p.counters.filesDone, p.counters.bytesDone, p.totalBytes)),
              onStatus: (text) => c.out.progress(text, true),
            }),
          ),
        backupRunReport,
      );
      c.out.clearProgress();
      printBackup(c, res);
      const err = backupOutcomeError(res);
      if (err) throw err;
    });
}

function printBackup(c: CliContext, res: BackupJobResult): void {
  const { backup: result, openwebui: ow, replicas } = res;
  const s = result.summary;
  const downtime = ow?.downtimeS;
  if (c.out.json) {
    c.out.printJson({
      snapshot_id: result.snapshotId,
      short_id: result.snapshotId.slice(0, 8),
      parent: result.parent ?? null,
      ...s,
      duration_s: result.durationS,
      ...(downtime !== undefined ? { downtime_s: downtime, unavailable_s: ow!.unavailableS } : {}),
      ...(ow ? { openwebui: ow.manifest } : {}),
      warnings: result.warnings,
      replicas: replicas.map((r) => ({ target: r.target, ok: r.ok, ...(r.snapshotId ? { snapshot_id: r.snapshotId } : {}), ...(r.error ? { error: r.error } : {}) })),
    });
  } else {
    printBackupText(c, res);
  }
  for (const r of replicas.filter((x) => !x.ok)) c.out.warn(`copy to ${r.target} failed: ${r.error}`);
}

function printBackupText(c: CliContext, { backup: result, openwebui: ow, replicas }: BackupJobResult): void {
  const s = result.summary;
  const downtime = ow?.downtimeS;
  c.out.info(`Files:       ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`);
  c.out.info(`Dirs:        ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`);
  c.out.info(`Added:       ${formatBytes(s.data_added)} (${formatBytes(s.data_added_packed)} stored)`);
  c.out.info(`Processed:   ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${result.durationS.toFixed(1)} s`);
  if (ow) {
    const m = ow.manifest;
    c.out.info(`Open WebUI:  ${m.version ?? 'version unknown'}, schema ${m.alembic_revision ?? 'unknown'}, ${m.database.engine}, secret key ${m.secret_key.captured ? 'captured' : 'NOT captured'}`);
    c.out.info(`Downtime:    ${(downtime ?? 0).toFixed(3)} s (${m.quiesce.mode})${unavailableText(m.quiesce)}`);
  }
  c.out.info(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
  for (const r of replicas.filter((x) => x.ok)) c.out.info(`copied to ${r.target}`);
}

/** After a `stop` window the application also needs its start-up time: say how long it did not answer. */
function unavailableText(q: { mode: string; unavailable_s?: number | null }): string {
  if (q.mode !== 'stop') return '';
  return q.unavailable_s == null ? ', /health did not answer again in time' : `, unavailable ${q.unavailable_s.toFixed(1)} s until /health answered`;
}
