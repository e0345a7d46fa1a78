import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OwbError, UsageError } from '../errors.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, quiesce, readContainerFile, readImageMigrations, waitHealthy, writeContainerFile, type QuiesceHandle } from '../docker/index.js';
import { SNAPSHOT_PG_DUMP } from '../openwebui/capture.js';
import { databaseEngine } from '../openwebui/deployment.js';
import { SECRET_KEY_PATH_IN_IMAGE } from '../openwebui/locate.js';
import { hostPathOf, type OpenWebuiManifest } from '../openwebui/manifest.js';
import { pgConnectionOf, pgRestore } from '../openwebui/postgres.js';
import { rewriteFilePaths, verifyDatabase } from '../openwebui/restore-fixups.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { runOpenWebuiBackup } from './openwebui-backup.js';
import { runRestore } from './restore.js';
import { findNode, readNode } from '../repo/snapshot-file.js';
import type { ResolvedSource } from './source.js';
import { pathExists } from '../util/path-exists.js';

/** Parts of a deployment that `--only` can pick. */
export const RESTORE_PARTS = ['db', 'uploads', 'vector', 'secret'] as const;
export type RestorePart = (typeof RESTORE_PARTS)[number];

/** What a restore into a deployment is asked to do. */
export interface OpenWebuiRestoreOptions {
  source: ResolvedSource;
  /** Restore only these parts; undefined restores everything. */
  only?: RestorePart[];
  /** Allow restoring a snapshot whose schema the target image does not know (a downgrade). */
  force?: boolean;
  /** Take a snapshot of the current data first (default true). */
  safetySnapshot?: boolean;
  /** How long to wait for /health after the start, in ms (default 300 s: Open WebUI takes up to a minute). */
  healthTimeoutMs?: number;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  onStep?: (step: string) => void;
}

/** What the restore did. */
export interface OpenWebuiRestoreResult {
  snapshotId: string;
  safetySnapshotId?: string;
  restored: string[];
  rewrittenPaths: number;
  secretKey: 'restored' | 'not selected' | 'not in snapshot';
  healthy?: boolean;
  downtimeS: number;
}

const PATTERNS: Record<Exclude<RestorePart, 'secret'>, string> = { db: '/data/webui.db', uploads: '/data/uploads', vector: '/data/vector_db' };
const DB_SIDE_FILES = ['webui.db-wal', 'webui.db-shm', 'webui.db-journal'];

/**
 * Restores a snapshot into a deployment, refusing to do harm: it refuses a downgrade, snapshots the
 * current data first, stops the container, restores into a staging folder on the same filesystem,
 * verifies it, swaps it in (stale -wal/-shm files go with the old data), rewrites `file.path` prefixes,
 * puts the secret key back, starts the container and waits for /health. Until that answers, the previous
 * data is kept aside; any failure puts it back and starts the container on it.
 */
export async function runOpenWebuiRestore(repo: Repository, snap: Snapshot, opts: OpenWebuiRestoreOptions): Promise<OpenWebuiRestoreResult> {
  const manifest = snap.openwebui as OpenWebuiManifest | undefined;
  if (!manifest || manifest.format !== 1) throw new UsageError(`snapshot ${snap.id.slice(0, 8)} is not an Open WebUI snapshot; restore it with --target DIR`);
  const step = opts.onStep ?? (() => undefined);
  const warn = opts.onWarning ?? (() => undefined);
  const { deployment: dep, docker } = opts.source;
  const parts = new Set<RestorePart>(opts.only ?? RESTORE_PARTS);
  const full = opts.only === undefined;

  step('checking the target image');
  if (dep.container && docker) await refuseDowngrade(manifest, dep.container.imageId, dep.container.image, opts.force ?? false, docker, warn);
  else if (manifest.alembic_revision) warn('no image to check the schema revision against (plain folder): make sure this Open WebUI is at least as new as the snapshot');

  let safetySnapshotId: string | undefined;
  if ((opts.safetySnapshot ?? true) && (await nonEmpty(dep.dataDir))) {
    step('taking a safety snapshot of the current data');
    const safety = await runOpenWebuiBackup(repo, { ...opts.source, tags: ['pre-restore'], ...(opts.signal ? { signal: opts.signal } : {}), onWarning: warn });
    safetySnapshotId = safety.snapshotId;
  }

  const tag = randomBytes(4).toString('hex');
  const staging = join(dep.dataDir, `.owb-restore-${tag}`);
  const aside = join(dep.dataDir, `.owb-previous-${tag}`);
  const swaps: { live: string; aside: string }[] = [];
  let handle: QuiesceHandle | undefined;
  let startedByUs = false;
  let downtimeMs = 0;
  let previousKey: Buffer | undefined;
  let keyReplaced = false;
  const result: OpenWebuiRestoreResult = { snapshotId: snap.id, restored: [], rewrittenPaths: 0, secretKey: 'not selected', downtimeS: 0, ...(safetySnapshotId ? { safetySnapshotId } : {}) };
  try {
    if (dep.container && docker) {
      step(`stopping ${dep.container.name}`);
      handle = await quiesce(docker, dep.container.id, 'stop', { stateDir: opts.source.stateDir, timeoutS: opts.source.stopTimeoutS });
    } else {
      warn('plain folder: stop Open WebUI yourself before restoring into it');
    }

    step('restoring into a staging folder');
    const patterns = full ? ['/data'] : [...parts].filter((p): p is Exclude<RestorePart, 'secret'> => p !== 'secret').map((p) => PATTERNS[p]);
    if (parts.has('secret')) patterns.push('/secret');
    await runRestore(repo, snap, { target: staging, include: patterns, ...(opts.signal ? { signal: opts.signal } : {}), onWarning: warn });
    const stagedData = join(staging, 'data');

    step('verifying the restored data');
    const stagedDb = join(stagedData, 'webui.db');
    if (parts.has('db') && (await pathExists(stagedDb))) {
      const problems = await verifyDatabase(stagedDb, manifest);
      if (problems.length > 0) throw new OwbError(`the restored database does not match its snapshot: ${problems[0]}`);
      result.rewrittenPaths = await rewriteFilePaths(stagedDb, manifest.app_data_dir, dep.appDataDir);
    }

    step('swapping the restored data in');
    await mkdir(aside, { mode: 0o700 });
    const incoming = (await pathExists(stagedData)) ? await readdir(stagedData) : [];
    const outgoing = new Set(incoming);
    if (parts.has('db')) DB_SIDE_FILES.forEach((f) => outgoing.add(f)); // stale WAL must never meet a new db
    if (full) {
      // A full restore makes the folder equal to the snapshot; the model cache is kept as it is not backed up.
      for (const name of await readdir(dep.dataDir)) if (!name.startsWith('.owb-') && name !== 'cache') outgoing.add(name);
    }
    for (const name of outgoing) {
      const live = join(dep.dataDir, name);
      if (await pathExists(live)) {
        await rename(live, join(aside, name));
        swaps.push({ live, aside: join(aside, name) });
      }
    }
    for (const name of incoming) {
      await rename(join(stagedData, name), join(dep.dataDir, name));
      swaps.push({ live: join(dep.dataDir, name), aside: '' });
      result.restored.push(name);
    }

    if (parts.has('secret')) {
      // The key in use now, so a rollback can put it back (else users of the old data are logged out).
      previousKey = await currentSecretKey(dep, docker);
      result.secretKey = await restoreSecret(staging, dep, docker, warn);
      keyReplaced = result.secretKey === 'restored';
    }

    if (parts.has('db') && databaseEngine(dep.env) === 'postgresql') {
      step('restoring the PostgreSQL database');
      const node = await findNode(repo, snap, SNAPSHOT_PG_DUMP);
      if (!node) throw new OwbError('the snapshot holds no PostgreSQL dump');
      await pgRestore(pgConnectionOf(dep.env), readNode(repo, node));
      result.restored.push('postgresql');
    }

    if (handle) {
      step(`starting ${dep.container!.name}`);
      downtimeMs = (await handle.resume()).downtimeMs;
      // A container that was not running (a new one on an empty volume, the disaster case) is started
      // too: the point of the restore is a working deployment.
      if (handle.action === 'none') {
        await docker!.api.getContainer(dep.container!.id).start();
        startedByUs = true;
      }
    }
    if (dep.container && docker && dep.baseUrl) {
      step('waiting for /health');
      const u = new URL(dep.baseUrl);
      await waitHealthy({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) }, { timeoutMs: opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS });
      result.healthy = true;
    }
    await rm(aside, { recursive: true, force: true });
    swaps.length = 0;
  } catch (err) {
    const c = handle && dep.container && docker ? docker.api.getContainer(dep.container.id) : undefined;
    const ranOnNewData = handle !== undefined && (handle.downtimeMs !== undefined || startedByUs);
    // Stop it first when it already runs on the new data: files are never swapped under a running Open WebUI.
    if (c && ranOnNewData) await c.stop({ t: opts.source.stopTimeoutS }).catch((e: Error) => warn(`could not stop ${dep.container!.name}: ${e.message}`));
    // A -wal or -shm that the new database grew while it ran must never meet the old database (it would corrupt
    // it); the old side files, if any, are in `swaps` and come back below.
    if (ranOnNewData && parts.has('db')) for (const f of DB_SIDE_FILES) await rm(join(dep.dataDir, f), { force: true });
    await rollBack(swaps, warn);
    if (keyReplaced) await putSecretKeyBack(dep, docker, previousKey, warn);
    if (c && handle) {
      // It was not running before (the disaster case): leave it stopped, as the user had it. Otherwise start it on
      // the old data.
      if (handle.action !== 'none') {
        const start = ranOnNewData ? c.start() : handle.resume();
        await start.catch((e: Error) => warn(`could not start ${dep.container!.name}: ${e.message}`));
      }
    }
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
    if (swaps.length === 0) await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  }
  result.downtimeS = downtimeMs / 1000;
  return result;
}

async function refuseDowngrade(
  manifest: OpenWebuiManifest,
  imageId: string,
  image: string,
  force: boolean,
  docker: NonNullable<ResolvedSource['docker']>,
  warn: (m: string) => void,
): Promise<void> {
  const rev = manifest.alembic_revision;
  if (!rev) return;
  const migrations = await readImageMigrations(docker, imageId || image);
  if (!migrations) {
    warn(`image ${image} has no migrations folder; cannot check the schema revision`);
    return;
  }
  if (migrations.revisions.some((r) => r.revision === rev)) return;
  const msg = `the snapshot's database schema ${rev} is unknown to image ${image} (its newest is ${migrations.heads.join(', ')}): the snapshot comes from a newer Open WebUI, and this image would run on it and silently break`;
  if (!force) throw new OwbError(`refusing to restore: ${msg}; upgrade the image, or use --force`);
  warn(`--force: ${msg}`);
}

/** The secret key file the deployment uses now, if there is one. */
async function currentSecretKey(dep: ResolvedSource['deployment'], docker: ResolvedSource['docker']): Promise<Buffer | undefined> {
  if (dep.container && docker) return readContainerFile(docker, dep.container.id, SECRET_KEY_PATH_IN_IMAGE).catch(() => undefined);
  if (dep.secretKeyFile) return readFile(dep.secretKeyFile).catch(() => undefined);
  return undefined;
}

/** Rollback: the previous key file back (or none, if there was none). */
async function putSecretKeyBack(dep: ResolvedSource['deployment'], docker: ResolvedSource['docker'], key: Buffer | undefined, warn: (m: string) => void): Promise<void> {
  try {
    if (dep.container && docker) {
      if (key) await writeContainerFile(docker, dep.container.id, SECRET_KEY_PATH_IN_IMAGE, key, { mode: 0o600 });
    } else if (dep.secretKeyFile) {
      if (key) await writeFile(dep.secretKeyFile, key, { mode: 0o600 });
      else await rm(dep.secretKeyFile, { force: true });
    }
  } catch (err) {
    warn(`could not put the previous secret key back: ${(err as Error).message}`);
  }
}

async function restoreSecret(
  staging: string,
  dep: ResolvedSource['deployment'],
  docker: ResolvedSource['docker'],
  warn: (m: string) => void,
): Promise<OpenWebuiRestoreResult['secretKey']> {
  const file = join(staging, 'secret', '.webui_secret_key');
  if (!(await pathExists(file))) return 'not in snapshot';
  const key = await readFile(file);
  // Key files end in a newline or not (start.sh writes one, `open-webui serve` does not); the key is the same.
  if (dep.env.WEBUI_SECRET_KEY !== undefined && dep.env.WEBUI_SECRET_KEY.trim() !== key.toString('utf8').trim()) {
    warn('this deployment sets WEBUI_SECRET_KEY in its environment, which wins over the key file: set it to the restored key');
  }
  if (dep.container && docker) await writeContainerFile(docker, dep.container.id, SECRET_KEY_PATH_IN_IMAGE, key, { mode: 0o600 });
  else if (dep.secretKeyFile) await writeFile(dep.secretKeyFile, key, { mode: 0o600 });
  return 'restored';
}

async function rollBack(swaps: { live: string; aside: string }[], warn: (m: string) => void): Promise<void> {
  for (const s of swaps.reverse()) {
    try {
      if (s.aside === '') await rm(s.live, { recursive: true, force: true });
      else await rename(s.aside, s.live);
    } catch (err) {
      warn(`could not put ${s.live} back: ${(err as Error).message} (the previous data is in ${s.aside})`);
    }
  }
  swaps.length = 0;
}


async function nonEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).some((n) => !n.startsWith('.owb-'));
  } catch {
    return false;
  }
}

/** Uploads that a restored database references but the restored folder lacks (used by drill). */
export async function missingRestoredUploads(filePaths: string[], appDataDir: string, restoredDataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of filePaths) {
    const host = hostPathOf(p, appDataDir, restoredDataDir);
    if (host !== undefined && !(await pathExists(host))) out.push(p);
  }
  return out;
}
