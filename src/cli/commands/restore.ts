import type { Command } from 'commander';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { RESTORE_PARTS, runOpenWebuiRestore, type RestorePart } from '../../jobs/openwebui-restore.js';
import { runRestore } from '../../jobs/restore.js';
import { resolveSource } from '../../jobs/source.js';
import { resolveSnapshot } from '../../repo/snapshot.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { collect } from '../options.js';
import { progressLine } from '../output.js';

interface RestoreFlags {
  target?: string;
  include?: string[];
  force?: boolean;
  container?: string;
  source?: string;
  only?: string;
  safetySnapshot?: boolean;
  healthTimeout?: string;
  secretKeyFile?: string;
}

/** `owb restore <id|latest> (--target DIR | --container NAME | --source DIR)`. */
export function registerRestore(program: Command, ctx: () => CliContext): void {
  program
    .command('restore')
    .description('restore a snapshot into an empty directory (--target), or into an Open WebUI deployment (--container/--source)')
    .argument('<snapshot>', 'snapshot id (or a unique prefix) or "latest"')
    .option('-t, --target <dir>', 'directory to restore into (refused when not empty, unless --force)')
    .option('-i, --include <pattern>', 'with --target: restore only paths matching this glob, e.g. "/data/uploads" (repeatable)', collect, [])
    .option('--container <name>', 'restore into this Open WebUI container: safety snapshot, stop, swap, start, /health')
    .option('--source <dir>', 'restore into this Open WebUI data folder (stop Open WebUI yourself first)')
    .option('--only <parts>', `with --container/--source: restore only some of ${RESTORE_PARTS.join(',')}`)
    .option('--secret-key-file <file>', 'with --source: where this Open WebUI reads .webui_secret_key (a pip install: the folder `open-webui serve` runs in)')
    .option('--no-safety-snapshot', 'with --container/--source: skip the snapshot of the current data taken first')
    .option('--health-timeout <s>', 'with --container: seconds to wait for /health (default 300; Open WebUI takes up to a minute to start)')
    .option('--force', 'with --target: restore into a non-empty directory; with --container: allow a downgrade')
    .action(async (ref: string, flags: RestoreFlags) => {
      const c = ctx();
      const modes = [flags.target, flags.container, flags.source].filter(Boolean).length;
      if (modes !== 1) throw new UsageError('restore needs exactly one of --target DIR, --container NAME or --source DIR');
      if (flags.target) return restoreToDir(c, ref, flags);
      return restoreToDeployment(c, ref, flags);
    });
}

async function restoreToDir(c: CliContext, ref: string, flags: RestoreFlags): Promise<void> {
  const target = resolve(flags.target!);
  const start = Date.now();
  const { snap, result } = await c.withRepo('shared', async (repo) => {
    const snap = await resolveSnapshot(repo, ref, { onWarning: (m) => c.out.warn(m) });
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
}

async function restoreToDeployment(c: CliContext, ref: string, flags: RestoreFlags): Promise<void> {
  if (flags.include?.length) throw new UsageError('--include works with --target; use --only with --container/--source');
  const only = flags.only?.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of only ?? []) {
    if (!(RESTORE_PARTS as readonly string[]).includes(p)) throw new UsageError(`--only takes ${RESTORE_PARTS.join(', ')}; got "${p}"`);
  }
  // Unset: the restore job's default (300 s).
  const healthS = flags.healthTimeout === undefined ? undefined : Number(flags.healthTimeout);
  if (healthS !== undefined && !(healthS > 0)) throw new UsageError('--health-timeout takes seconds');
  const cfg = await c.config();
  const source = await resolveSource(
    { ...(flags.container ? { container: flags.container } : {}), ...(flags.source ? { sourceDir: flags.source } : {}), ...(flags.secretKeyFile ? { secretKeyFile: flags.secretKeyFile } : {}) },
    cfg,
    c.env,
  );
  const start = Date.now();
  const res = await c.withRepo('shared', async (repo) => {
    const snap = await resolveSnapshot(repo, ref, { onWarning: (m) => c.out.warn(m) });
    return runOpenWebuiRestore(repo, snap, {
      source,
      ...(only ? { only: only as RestorePart[] } : {}),
      force: !!flags.force,
      safetySnapshot: flags.safetySnapshot !== false,
      ...(healthS !== undefined ? { healthTimeoutMs: healthS * 1000 } : {}),
      signal: c.abort.signal,
      onWarning: (m) => c.out.warn(m),
      onStep: (s) => c.out.progress(s, true),
    });
  });
  c.out.clearProgress();
  const where = source.deployment.container?.name ?? source.deployment.dataDir;
  if (c.out.json) {
    c.out.printJson({
      snapshot_id: res.snapshotId,
      target: where,
      safety_snapshot_id: res.safetySnapshotId ?? null,
      restored: res.restored,
      rewritten_paths: res.rewrittenPaths,
      secret_key: res.secretKey,
      healthy: res.healthy ?? null,
      downtime_s: res.downtimeS,
      duration_s: (Date.now() - start) / 1000,
    });
    return;
  }
  c.out.info(`restored snapshot ${res.snapshotId.slice(0, 8)} into ${where}: ${res.restored.join(', ') || 'nothing'}`);
  if (res.safetySnapshotId) c.out.info(`the previous data is in safety snapshot ${res.safetySnapshotId.slice(0, 8)} (owb restore ${res.safetySnapshotId.slice(0, 8)} --container ... undoes this)`);
  if (res.rewrittenPaths > 0) c.out.info(`rewrote ${res.rewrittenPaths} upload path(s) for the new data folder`);
  c.out.info(`secret key: ${res.secretKey}`);
  if (res.healthy) c.out.info(`${where} is up and healthy (down for ${res.downtimeS.toFixed(1)} s)`);
}
