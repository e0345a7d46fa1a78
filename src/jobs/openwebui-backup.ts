import type { DockerClient, QuiesceMode } from '../docker/index.js';
import { captureDeployment } from '../openwebui/capture.js';
import type { Deployment } from '../openwebui/deployment.js';
import type { OpenWebuiManifest } from '../openwebui/manifest.js';
import type { Repository } from '../repo/repository.js';
import { runBackup, type BackupProgress, type BackupResult } from './backup.js';

/** What an Open WebUI backup is asked to do. */
export interface OpenWebuiBackupOptions {
  deployment: Deployment;
  quiesce: QuiesceMode;
  stopTimeoutS?: number;
  /** After a `stop` window, how long /health may take to answer again, in ms (default 300 s). */
  healthTimeoutMs?: number;
  includeCache?: boolean;
  stagingRoot: string;
  stateDir: string;
  docker?: DockerClient;
  tags?: string[];
  hostname?: string;
  parent?: string | false;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onProgress?: (p: BackupProgress) => void;
  onEvent?: (kind: 'container_down' | 'container_up', detail: Record<string, unknown>) => void;
}

/** A backup result with the Open WebUI manifest and the measured downtime. */
export interface OpenWebuiBackupResult extends BackupResult {
  manifest: OpenWebuiManifest;
  /** The container was not running (or frozen). */
  downtimeS: number;
  /** Until /health answered again; null when it did not (or could not be watched). */
  unavailableS: number | null;
}

/**
 * Backs up an Open WebUI deployment: a consistent capture (container quiesced for the shortest window,
 * resumed before any chunking or upload), then one snapshot with `/data`, `/secret` and, for PostgreSQL,
 * `/postgres`, and the manifest. The staging copy is always removed.
 */
export async function runOpenWebuiBackup(repo: Repository, opts: OpenWebuiBackupOptions): Promise<OpenWebuiBackupResult> {
  const started = Date.now();
  const capture = await captureDeployment(opts.deployment, {
    stagingRoot: opts.stagingRoot,
    quiesce: opts.quiesce,
    ...(opts.stopTimeoutS !== undefined ? { stopTimeoutS: opts.stopTimeoutS } : {}),
    ...(opts.healthTimeoutMs !== undefined ? { healthTimeoutMs: opts.healthTimeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    includeCache: !!opts.includeCache,
    stateDir: opts.stateDir,
    ...(opts.docker ? { docker: opts.docker } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  try {
    const result = await runBackup(repo, {
      paths: [opts.deployment.dataDir],
      layout: capture.items,
      tags: ['openwebui', ...(opts.tags ?? [])],
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      ...(opts.parent !== undefined ? { parent: opts.parent } : {}),
      // Archiving does not wait for the restarted application; the snapshot records when it answered.
      openwebui: () => capture.finish(),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    // The whole run, capture included (runBackup times only the archiving).
    return { ...result, durationS: (Date.now() - started) / 1000, warnings: [...capture.manifest.warnings, ...result.warnings], manifest: capture.manifest, downtimeS: capture.manifest.quiesce.downtime_s, unavailableS: capture.manifest.quiesce.unavailable_s ?? null };
  } finally {
    await capture.cleanup();
  }
}
