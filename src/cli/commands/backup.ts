import type { Command } from 'commander';
import { OwbError, PartialBackupError, UsageError } from '../../errors.js';
import type { QuiesceMode } from '../../docker/index.js';
import { runBackup, type BackupResult } from '../../jobs/backup.js';
import { runOpenWebuiBackup, type OpenWebuiBackupResult } from '../../jobs/openwebui-backup.js';
import { replicateSnapshot, type ReplicaResult } from '../../jobs/replicate.js';
import { resolveSource, wantsOpenWebui } from '../../jobs/source.js';
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

const QUIESCE_MODES = ['stop', 'pause', 'none'];

/** `owb backup [path…] [--container NAME | --source DIR]`. */
export function registerBackup(program: Command, ctx: () => CliContext): void {
  program
    .command('backup')
    .description('back up an Open WebUI deployment (--container, --source or the config), or plain paths, into a new snapshot')
    .argument('[path...]', 'files or directories to back up (instead of an Open WebUI deployment)')
    .option('--container <name>', 'Open WebUI container (Docker); its data volume, secret key and settings are found from it')
    .option('--source <dir>', 'Open WebUI data folder (pip install or bind mount)')
    .option('--quiesce <mode>', 'how to hold writes while copying the vector store: stop (default), pause or none')
    .option('--stop-timeout <s>', 'seconds a stopping container gets before it is killed (default 10)')
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
      const cfg = await c.config();
      const owui = { ...(flags.container ? { container: flags.container } : {}), ...(flags.source ? { sourceDir: flags.source } : {}) };
      if (paths.length > 0 && (owui.container || owui.sourceDir)) throw new UsageError('give paths or --container/--source, not both');
      if (flags.quiesce && !QUIESCE_MODES.includes(flags.quiesce)) throw new UsageError('--quiesce takes stop, pause or none');
      const stopTimeout = flags.stopTimeout === undefined ? undefined : Number(flags.stopTimeout);
      if (stopTimeout !== undefined && !(Number.isInteger(stopTimeout) && stopTimeout > 0)) throw new UsageError('--stop-timeout takes whole seconds');
      const openwebui = paths.length === 0 && wantsOpenWebui(owui, cfg);
      if (paths.length === 0 && !openwebui) throw new UsageError('nothing to back up: give paths, --container NAME, --source DIR, or a source: section in the config');
      const source = openwebui
        ? await resolveSource(
            {
              ...owui,
              ...(flags.quiesce ? { quiesce: flags.quiesce as QuiesceMode } : {}),
              ...(stopTimeout !== undefined ? { stopTimeoutS: stopTimeout } : {}),
              ...(flags.includeCache ? { includeCache: true } : {}),
              ...(flags.secretKeyFile ? { secretKeyFile: flags.secretKeyFile } : {}),
              ...(flags.stagingDir ? { stagingDir: flags.stagingDir } : {}),
            },
            cfg,
            c.env,
          )
        : undefined;
      const target = await c.repoTarget();
      let replicas: ReplicaResult[] = [];
      const common = {
        tags: flags.tag ?? [],
        ...(flags.host ? { hostname: flags.host } : {}),
        parent: flags.force ? (false as const) : flags.parent,
        signal: c.abort.signal,
        onWarning: (m: string) => c.out.warn(m),
        onProgress: (p: { counters: { filesDone: number; bytesDone: number }; totalBytes?: number }) =>
          c.out.progress(progressLine(start, p.counters.filesDone, p.counters.bytesDone, p.totalBytes)),
      };
      const result: BackupResult | OpenWebuiBackupResult = await c.recorded(
        'backup',
        (log) =>
          c.withRepoAt(target, 'shared', async (repo) => {
            if (source) c.out.progress(`capturing ${source.deployment.container?.name ?? source.deployment.dataDir}`, true);
            const done = log.step(source ? 'capture and back up' : 'back up');
            const res = source
              ? await runOpenWebuiBackup(repo, { ...source, ...common, onEvent: (kind, detail) => log.event(kind, detail) })
              : await runBackup(repo, { paths, ...common });
            done(`snapshot ${res.snapshotId.slice(0, 8)}`);
            if (target.copyTo.length > 0) {
              const copied = log.step(`copy to ${target.copyTo.join(', ')}`);
              c.out.progress(`copying snapshot to ${target.copyTo.join(', ')}`, true);
              replicas = await replicateSnapshot(repo, res.snapshotId, target.copyTo, async (name, fn) => c.withRepoAt(await c.resolveRepo(name), 'shared', fn));
              copied(replicas.every((r) => r.ok) ? 'ok' : { ok: false, detail: replicas.filter((r) => !r.ok).map((r) => `${r.target}: ${r.error}`).join('; ') });
            }
            return res;
          }),
        (res) => ({
          summary: `snapshot ${res.snapshotId.slice(0, 8)}: ${formatBytes(res.summary.data_added)} new, ${formatBytes(res.summary.data_added_packed)} stored`,
          values: {
            snapshot_id: res.snapshotId,
            files_new: res.summary.files_new,
            files_changed: res.summary.files_changed,
            data_added: res.summary.data_added,
            data_added_packed: res.summary.data_added_packed,
            unreadable: res.unreadable,
            ...('downtimeS' in res ? { downtime_s: (res as OpenWebuiBackupResult).downtimeS } : {}),
          },
          bytesAdded: res.summary.data_added,
          bytesStored: res.summary.data_added_packed,
          ...('downtimeS' in res ? { downtimeS: (res as OpenWebuiBackupResult).downtimeS } : {}),
        }),
      );
      c.out.clearProgress();
      const s = result.summary;
      const ow = 'manifest' in result ? (result as OpenWebuiBackupResult) : undefined;
      const downtime = ow?.downtimeS;
      if (c.out.json) {
        c.out.printJson({
          snapshot_id: result.snapshotId,
          short_id: result.snapshotId.slice(0, 8),
          parent: result.parent ?? null,
          ...s,
          duration_s: result.durationS,
          ...(downtime !== undefined ? { downtime_s: downtime } : {}),
          ...(ow ? { openwebui: ow.manifest } : {}),
          warnings: result.warnings,
          replicas: replicas.map((r) => ({ target: r.target, ok: r.ok, ...(r.snapshotId ? { snapshot_id: r.snapshotId } : {}), ...(r.error ? { error: r.error } : {}) })),
        });
      } else {
        c.out.info(`Files:       ${s.files_new} new, ${s.files_changed} changed, ${s.files_unmodified} unmodified`);
        c.out.info(`Dirs:        ${s.dirs_new} new, ${s.dirs_changed} changed, ${s.dirs_unmodified} unmodified`);
        c.out.info(`Added:       ${formatBytes(s.data_added)} (${formatBytes(s.data_added_packed)} stored)`);
        c.out.info(`Processed:   ${s.total_files_processed} files, ${formatBytes(s.total_bytes_processed)} in ${result.durationS.toFixed(1)} s`);
        if (ow) {
          const m = ow.manifest;
          c.out.info(`Open WebUI:  ${m.version ?? 'version unknown'}, schema ${m.alembic_revision ?? 'unknown'}, ${m.database.engine}, secret key ${m.secret_key.captured ? 'captured' : 'NOT captured'}`);
          c.out.info(`Downtime:    ${(downtime ?? 0).toFixed(3)} s (${m.quiesce.mode})`);
        }
        c.out.info(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
        for (const r of replicas.filter((x) => x.ok)) c.out.info(`copied to ${r.target}`);
      }
      const failed = replicas.filter((r) => !r.ok);
      for (const r of failed) c.out.warn(`copy to ${r.target} failed: ${r.error}`);
      if (failed.length > 0) throw new OwbError(`snapshot ${result.snapshotId.slice(0, 8)} saved, but copying it to ${failed.map((r) => r.target).join(', ')} failed`);
      if (result.unreadable > 0) throw new PartialBackupError(result.snapshotId, result.unreadable);
    });
}
