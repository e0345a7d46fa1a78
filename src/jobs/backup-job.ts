import type { OwbConfig } from '../config/schema.js';
import type { QuiesceMode } from '../docker/index.js';
import { OwbError, PartialBackupError, UsageError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { formatBytes } from '../util/format-bytes.js';
import { runBackup, type BackupProgress, type BackupResult } from './backup.js';
import { runOpenWebuiBackup, type OpenWebuiBackupResult } from './openwebui-backup.js';
import type { RunReport } from '../ops/recorded-run.js';
import { replicateSnapshot, type OpenRepository, type ReplicaResult } from './replicate.js';
import type { RunLog } from '../ops/run-log.js';
import { resolveSource, wantsOpenWebui, type ResolvedSource } from './source.js';

/** What the user asked `owb backup` to do, before anything is located. */
export interface BackupRequest {
  /** Plain paths to back up; empty for an Open WebUI deployment. */
  paths: string[];
  container?: string;
  sourceDir?: string;
  quiesce?: string;
  stopTimeoutS?: number;
  includeCache?: boolean;
  secretKeyFile?: string;
  stagingDir?: string;
}

/** What a backup will read: plain paths, or a located Open WebUI deployment. */
export type BackupPlan = { kind: 'files'; paths: string[] } | { kind: 'openwebui'; source: ResolvedSource };

const QUIESCE_MODES: readonly string[] = ['stop', 'pause', 'none'];

/**
 * Decides between a files backup and an Open WebUI backup (flags first, then the config's `source:`), refuses
 * contradictory requests, and locates the deployment.
 */
export async function planBackup(req: BackupRequest, cfg: OwbConfig, env: NodeJS.ProcessEnv): Promise<BackupPlan> {
  const owui = { ...(req.container ? { container: req.container } : {}), ...(req.sourceDir ? { sourceDir: req.sourceDir } : {}) };
  if (req.paths.length > 0 && (owui.container || owui.sourceDir)) throw new UsageError('give paths or --container/--source, not both');
  if (req.quiesce !== undefined && !QUIESCE_MODES.includes(req.quiesce)) throw new UsageError('--quiesce takes stop, pause or none');
  if (req.stopTimeoutS !== undefined && !(Number.isInteger(req.stopTimeoutS) && req.stopTimeoutS > 0)) throw new UsageError('--stop-timeout takes whole seconds');
  if (req.paths.length > 0) return { kind: 'files', paths: req.paths };
  if (!wantsOpenWebui(owui, cfg)) throw new UsageError('nothing to back up: give paths, --container NAME, --source DIR, or a source: section in the config');
  const source = await resolveSource(
    {
      ...owui,
      ...(req.quiesce ? { quiesce: req.quiesce as QuiesceMode } : {}),
      ...(req.stopTimeoutS !== undefined ? { stopTimeoutS: req.stopTimeoutS } : {}),
      ...(req.includeCache ? { includeCache: true } : {}),
      ...(req.secretKeyFile ? { secretKeyFile: req.secretKeyFile } : {}),
      ...(req.stagingDir ? { stagingDir: req.stagingDir } : {}),
    },
    cfg,
    env,
  );
  return { kind: 'openwebui', source };
}

/** How a backup job runs. */
export interface BackupJobOptions {
  plan: BackupPlan;
  tags: string[];
  hostname?: string;
  /** A snapshot id, `false` to read every file again, or undefined for the latest matching snapshot. */
  parent?: string | false;
  /** Repository names each new snapshot is copied to (`copy_to`). */
  copyTo: string[];
  openReplica: OpenRepository;
  signal?: AbortSignal;
  /** The run's record, for its steps and the container's down/up events. */
  log?: Pick<RunLog, 'step' | 'event'>;
  onWarning?: (message: string) => void;
  onProgress?: (p: BackupProgress) => void;
  /** A one-line status for the phases without byte progress (capture, replication). */
  onStatus?: (text: string) => void;
}

/** A finished backup, and what copying it to each replica did. */
export interface BackupJobResult {
  backup: BackupResult | OpenWebuiBackupResult;
  /** Set for Open WebUI backups. */
  openwebui?: OpenWebuiBackupResult;
  replicas: ReplicaResult[];
}

/**
 * Runs `owb backup`: captures and backs up the deployment (or the paths) into `repo`, which the caller has locked,
 * then copies the new snapshot to every `copy_to` replica. A failing replica does not fail the backup here; see
 * {@link backupOutcomeError}.
 */
export async function runBackupJob(repo: Repository, opts: BackupJobOptions): Promise<BackupJobResult> {
  const { plan, log } = opts;
  const common = {
    tags: opts.tags,
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
    ...(opts.parent !== undefined ? { parent: opts.parent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  let backup: BackupResult | OpenWebuiBackupResult;
  let openwebui: OpenWebuiBackupResult | undefined;
  if (plan.kind === 'openwebui') {
    opts.onStatus?.(`capturing ${plan.source.deployment.container?.name ?? plan.source.deployment.dataDir}`);
    const done = log?.step('capture and back up');
    backup = openwebui = await runOpenWebuiBackup(repo, { ...plan.source, ...common, ...(log ? { onEvent: (kind, detail) => log.event(kind, detail) } : {}) });
    done?.(`snapshot ${backup.snapshotId.slice(0, 8)}`);
  } else {
    const done = log?.step('back up');
    backup = await runBackup(repo, { paths: plan.paths, ...common });
    done?.(`snapshot ${backup.snapshotId.slice(0, 8)}`);
  }
  let replicas: ReplicaResult[] = [];
  if (opts.copyTo.length > 0) {
    const copied = log?.step(`copy to ${opts.copyTo.join(', ')}`);
    opts.onStatus?.(`copying snapshot to ${opts.copyTo.join(', ')}`);
    replicas = await replicateSnapshot(repo, backup.snapshotId, opts.copyTo, opts.openReplica);
    const failed = replicas.filter((r) => !r.ok);
    copied?.(failed.length === 0 ? 'ok' : { ok: false, detail: failed.map((r) => `${r.target}: ${r.error}`).join('; ') });
  }
  return { backup, ...(openwebui ? { openwebui } : {}), replicas };
}

/** The run record of a backup: one summary line and the values reports, metrics and notifications carry. */
export function backupRunReport(res: BackupJobResult): RunReport {
  const { backup, openwebui } = res;
  return {
    summary: `snapshot ${backup.snapshotId.slice(0, 8)}: ${formatBytes(backup.summary.data_added)} new, ${formatBytes(backup.summary.data_added_packed)} stored`,
    values: {
      snapshot_id: backup.snapshotId,
      files_new: backup.summary.files_new,
      files_changed: backup.summary.files_changed,
      data_added: backup.summary.data_added,
      data_added_packed: backup.summary.data_added_packed,
      unreadable: backup.unreadable,
      ...(openwebui ? { downtime_s: openwebui.downtimeS } : {}),
      ...(openwebui && openwebui.unavailableS !== null ? { unavailable_s: openwebui.unavailableS } : {}),
    },
    bytesAdded: backup.summary.data_added,
    bytesStored: backup.summary.data_added_packed,
    ...(openwebui ? { downtimeS: openwebui.downtimeS } : {}),
  };
}

/**
 * The error a finished backup ends with, if any: a failed replica (exit 1) before unreadable files (exit 3), as
 * both mean the snapshot was saved but something the user relies on did not happen.
 */
export function backupOutcomeError(res: BackupJobResult): OwbError | undefined {
  const failed = res.replicas.filter((r) => !r.ok);
  const id = res.backup.snapshotId;
  if (failed.length > 0) return new OwbError(`snapshot ${id.slice(0, 8)} saved, but copying it to ${failed.map((r) => r.target).join(', ')} failed`);
  if (res.backup.unreadable > 0) return new PartialBackupError(id, res.backup.unreadable);
  return undefined;
}
