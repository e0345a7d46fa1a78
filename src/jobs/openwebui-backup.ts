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
  downtimeS: number;
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
      openwebui: capture.manifest,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    // The whole run, capture included (runBackup times only the archiving).
    return { ...result, durationS: (Date.now() - started) / 1000, warnings: [...capture.manifest.warnings, ...result.warnings], manifest: capture.manifest, downtimeS: capture.manifest.quiesce.downtime_s };
  } finally {
    await capture.cleanup();
  }
}
