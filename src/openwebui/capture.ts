import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_HEALTH_TIMEOUT_MS, fetchVersion, readContainerFile, waitHealthy, withQuiesced, type DockerClient, type HttpEndpoint, type QuiesceMode } from '../docker/index.js';
import { databaseEngine, refuseEncryptedSqlite, vectorDbOf, vectorStoreCaptured, type Deployment } from './deployment.js';
import { SECRET_KEY_PATH_IN_IMAGE } from './locate.js';
import { inspectSqlite, missingUploads, type DatabaseFacts, type OpenWebuiManifest } from './manifest.js';
import { inspectPostgres, pgConnectionOf, pgDumpStream } from './postgres.js';
import { backupSqlite, sqliteFingerprint } from './sqlite-copy.js';
import { copyTreePass, type CopyState } from './tree-copy.js';
import { instrumentationPoint } from '../util/instrument.js';
import { pathExists } from '../util/path-exists.js';

/** One item of the snapshot layout (same shape as jobs' LayoutEntry; openwebui/ knows no repository). */
export interface CapturedItem {
  target: string;
  source?: string;
  stream?: () => Readable;
  metaFrom?: string;
}

/** Snapshot paths of a capture: `/data` is the data folder, `/secret` the key, `/postgres` the dump. */
export const SNAPSHOT_DATA = '/data';
export const SNAPSHOT_SECRET_FILE = '/secret/.webui_secret_key';
export const SNAPSHOT_PG_DUMP = '/postgres/openwebui.dump';

/** How to capture. */
export interface CaptureOptions {
  stagingRoot: string;
  quiesce: QuiesceMode;
  stopTimeoutS?: number;
  includeCache?: boolean;
  /** Where always-resume markers live. */
  stateDir: string;
  docker?: DockerClient;
  onWarning?: (message: string) => void;
  onEvent?: (kind: 'container_down' | 'container_up', detail: Record<string, unknown>) => void;
  /** After a `stop` window, how long to wait for /health to answer again, in ms (default 300 s). */
  healthTimeoutMs?: number;
  /** Stops the background wait for /health. */
  signal?: AbortSignal;
}

/** A consistent capture, staged and ready to archive. Call cleanup() when the snapshot is written. */
export interface Capture {
  items: CapturedItem[];
  manifest: OpenWebuiManifest;
  /**
   * The manifest once the deployment answers /health again after a `stop` window (waited for in the
   * background, bounded by healthTimeoutMs), with `quiesce.unavailable_s` filled in. Call it after archiving.
   */
  finish(): Promise<OpenWebuiManifest>;
  cleanup(): Promise<void>;
}

const SQLITE_SIDE = /^(webui\.db|vector_db\/chroma\.sqlite3)(-wal|-shm|-journal)?$/;

/**
 * Captures a deployment consistently with the least downtime: the vector folder and both SQLite databases
 * are copied first while Open WebUI runs; then, inside a short stop/pause window, only what changed since is
 * copied again; then the container is resumed, before any chunking or upload. Uploads, audit.log and the
 * rest are read live afterwards, by the archiver.
 */
export async function captureDeployment(dep: Deployment, opts: CaptureOptions): Promise<Capture> {
  refuseEncryptedSqlite(dep.env);
  await mkdir(opts.stagingRoot, { recursive: true, mode: 0o700 });
  await removeDeadStaging(opts.stagingRoot);
  const staging = await mkdtemp(join(opts.stagingRoot, `capture-${process.pid}-`));
  const cleanup = (): Promise<void> => rm(staging, { recursive: true, force: true });
  try {
    return await capture(dep, opts, staging, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function capture(dep: Deployment, opts: CaptureOptions, staging: string, cleanup: () => Promise<void>): Promise<Capture> {
  const warn = (m: string): void => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  const warnings: string[] = [];
  // Asked first, while Open WebUI runs: after a stop-mode window the real application takes 20–60 s to answer
  // again, and asking then recorded no version at all. Given time, since a loaded host answers slowly.
  const version = dep.baseUrl ? await fetchVersionAt(dep.baseUrl) : undefined;
  const engine = databaseEngine(dep.env);
  const webuiDb = join(dep.dataDir, 'webui.db');
  const chromaDb = join(dep.dataDir, 'vector_db', 'chroma.sqlite3');
  const hasWebuiDb = engine === 'sqlite' && (await pathExists(webuiDb));
  const hasVector = await pathExists(join(dep.dataDir, 'vector_db'));
  const hasChroma = await pathExists(chromaDb);
  const stagedVector = join(staging, 'vector_db');
  const skipSqlite = (rel: string): boolean => SQLITE_SIDE.test(`vector_db/${rel}`);

  // Phase 1, live: may be torn, fixed up in the window.
  const sqliteJobs = [
    ...(hasWebuiDb ? [{ live: webuiDb, staged: join(staging, 'webui.db') }] : []),
    ...(hasChroma ? [{ live: chromaDb, staged: join(stagedVector, 'chroma.sqlite3') }] : []),
  ];
  const prints = new Map<string, string>();
  let vectorState: CopyState | undefined;
  if (hasVector) vectorState = (await copyTreePass(join(dep.dataDir, 'vector_db'), stagedVector, undefined, skipSqlite)).state;
  for (const j of sqliteJobs) {
    prints.set(j.live, await sqliteFingerprint(j.live));
    await backupSqlite(j.live, j.staged);
    await chmod(j.staged, (await stat(j.live)).mode & 0o7777);
  }

  // Phase 2, quiesced: only what changed since phase 1.
  const phase2 = async (): Promise<void> => {
    await instrumentationPoint('capture.window');
    for (const j of sqliteJobs) {
      if ((await sqliteFingerprint(j.live)) !== prints.get(j.live)) await backupSqlite(j.live, j.staged);
    }
    if (hasVector) await copyTreePass(join(dep.dataDir, 'vector_db'), stagedVector, vectorState, skipSqlite);
  };
  let mode: QuiesceMode = opts.quiesce;
  let downtimeMs = 0;
  let quiesced = false;
  // A restarted Open WebUI needs 16-60 s before it serves again: measured in the background, only when
  // /health answered before the stop (else there is nothing to wait for, and no point waiting).
  const endpoint = dep.baseUrl ? endpointOf(dep.baseUrl) : undefined;
  const watchHealth = mode === 'stop' && !!dep.container?.running && !!endpoint && (await answers(endpoint));
  let healthAfterResume: Promise<number | null> | undefined;
  if (dep.container && opts.docker && mode !== 'none') {
    const docker = opts.docker;
    const containerName = dep.container.name;
    const res = await withQuiesced(docker, dep.container.id, mode, { stateDir: opts.stateDir, timeoutS: opts.stopTimeoutS }, async (h) => {
      opts.onEvent?.('container_down', { container: containerName, mode, action: h.action });
      await phase2();
      // Resume as soon as the staging copy is complete, before any chunking or upload.
      await h.resume();
      opts.onEvent?.('container_up', { container: containerName });
      if (watchHealth && h.action === 'stopped') {
        healthAfterResume = waitHealthy(endpoint!, { timeoutMs: opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) }).catch(() => null);
      }
    });
    downtimeMs = res.downtimeMs;
    // A container that was not running needed no window: nothing could write.
    if (res.action === 'none') mode = 'none';
    else quiesced = true;
  } else {
    if (mode !== 'none') warn(dep.container ? 'no Docker connection: copied without quiescing' : `no container to quiesce: copied the live folder${hasWebuiDb || hasChroma ? ' (SQLite files through the backup API)' : ''}`);
    mode = 'none';
    await phase2();
  }
  const running = dep.container ? dep.container.running : true;
  if (!quiesced && running && hasVector) warn('quiesce: none — the vector store was copied while Open WebUI may have been writing to it');

  const secret = await captureSecret(dep, opts, staging, warn);
  const facts: DatabaseFacts | undefined = hasWebuiDb ? await inspectSqlite(join(staging, 'webui.db')) : undefined;
  if (facts && facts.integrityCheck !== 'ok') warn(`webui.db integrity_check: ${facts.integrityCheck.slice(0, 200)}`);
  const missing = facts ? await missingUploads(facts.filePaths, dep.appDataDir, dep.dataDir) : [];
  if (missing.length > 0) warn(`${missing.length} upload(s) referenced by the database are missing from the data folder`);
  if (!vectorStoreCaptured(dep.env)) warn(`VECTOR_DB=${vectorDbOf(dep.env)}: an external vector store is not captured; back it up separately`);

  const items: CapturedItem[] = [{ target: SNAPSHOT_DATA, metaFrom: dep.dataDir }];
  if (hasWebuiDb) items.push({ target: `${SNAPSHOT_DATA}/webui.db`, source: join(staging, 'webui.db') });
  if (hasVector) items.push({ target: `${SNAPSHOT_DATA}/vector_db`, source: stagedVector });
  for (const name of (await readdir(dep.dataDir)).sort()) {
    if (name === 'vector_db' || /^webui\.db(-wal|-shm|-journal)?$/.test(name)) continue;
    if (name === 'cache' && !opts.includeCache) continue;
    items.push({ target: `${SNAPSHOT_DATA}/${name}`, source: join(dep.dataDir, name) });
  }
  if (secret.captured) items.push({ target: SNAPSHOT_SECRET_FILE, source: join(staging, 'secret', '.webui_secret_key') });

  let pgFacts: Awaited<ReturnType<typeof inspectPostgres>> | undefined;
  if (engine === 'postgresql') {
    const conn = pgConnectionOf(dep.env);
    pgFacts = await inspectPostgres(conn);
    items.push({ target: SNAPSHOT_PG_DUMP, stream: () => pgDumpStream(conn) });
  }

  const manifest: OpenWebuiManifest = {
    format: 1,
    ...(version ? { version } : {}),
    ...((facts ?? pgFacts)?.alembicRevision ? { alembic_revision: (facts ?? pgFacts)!.alembicRevision! } : {}),
    database: { engine, captured_as: engine === 'postgresql' ? 'pg_dump' : hasWebuiDb ? 'sqlite-backup' : 'none' },
    vector_db: { type: vectorDbOf(dep.env), captured: vectorStoreCaptured(dep.env) },
    storage_provider: (dep.env.STORAGE_PROVIDER ?? 'local').toLowerCase(),
    table_rows: facts?.tableRows ?? pgFacts?.tableRows ?? {},
    integrity_check: facts?.integrityCheck ?? (engine === 'postgresql' ? 'not applicable (PostgreSQL)' : 'no database'),
    foreign_key_violations: facts?.foreignKeyViolations ?? 0,
    uploads: { referenced: facts?.filePaths.length ?? 0, missing },
    secret_key: secret,
    quiesce: {
      mode,
      downtime_s: downtimeMs / 1000,
      // pause and none restart nothing: the application is unavailable exactly while frozen.
      unavailable_s: mode === 'stop' ? null : downtimeMs / 1000,
      ...(dep.container ? { container: dep.container.name } : {}),
    },
    app_data_dir: dep.appDataDir,
    ...(dep.container ? { image: dep.container.image } : {}),
    warnings,
  };
  const finish = async (): Promise<OpenWebuiManifest> => {
    if (healthAfterResume) {
      const waited = await healthAfterResume;
      manifest.quiesce.unavailable_s = waited === null ? null : (downtimeMs + waited) / 1000;
      if (waited === null) warn(`${dep.container!.name} did not answer /health within ${((opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS) / 1000).toFixed(0)} s after the restart`);
    }
    return manifest;
  };
  return { items, manifest, finish, cleanup };
}

async function captureSecret(
  dep: Deployment,
  opts: CaptureOptions,
  staging: string,
  warn: (m: string) => void,
): Promise<OpenWebuiManifest['secret_key']> {
  const dest = join(staging, 'secret', '.webui_secret_key');
  await mkdir(join(staging, 'secret'), { mode: 0o700 });
  if (dep.env.WEBUI_SECRET_KEY) {
    await writeFile(dest, dep.env.WEBUI_SECRET_KEY, { mode: 0o600 });
    return { captured: true, source: 'env' };
  }
  if (dep.container && opts.docker) {
    const data = await readContainerFile(opts.docker, dep.container.id, SECRET_KEY_PATH_IN_IMAGE).catch(() => undefined);
    if (data) {
      await writeFile(dest, data, { mode: 0o600 });
      return { captured: true, source: 'file' };
    }
  } else if (dep.secretKeyFile && (await pathExists(dep.secretKeyFile))) {
    await copyFile(dep.secretKeyFile, dest);
    return { captured: true, source: 'file' };
  }
  warn(secretKeyMissing(dep));
  return { captured: false, source: 'none' };
}

/** The warning for a key that was not found: where Open WebUI puts it, where owb looked, how to pass it. */
function secretKeyMissing(dep: Deployment): string {
  const base = 'the secret key was not found (WEBUI_SECRET_KEY is unset';
  const after = 'users will be logged out after a restore';
  if (dep.container) return `${base} and ${SECRET_KEY_PATH_IN_IMAGE} is not in container ${dep.container.name}): ${after}`;
  const looked = (dep.secretKeyCandidates ?? (dep.secretKeyFile ? [dep.secretKeyFile] : [])).join(', ');
  return (
    `${base}; no .webui_secret_key in ${looked || 'any known place'}): \`open-webui serve\` writes it into the directory it was started from; ` +
    `pass that file with --secret-key-file FILE (config: source.secret_key_file), or ${after}`
  );
}

function endpointOf(baseUrl: string): HttpEndpoint {
  const u = new URL(baseUrl);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}

async function answers(endpoint: HttpEndpoint): Promise<boolean> {
  return waitHealthy(endpoint, { timeoutMs: 2_000 }).then(
    () => true,
    () => false,
  );
}

async function fetchVersionAt(baseUrl: string): Promise<string | undefined> {
  return fetchVersion(endpointOf(baseUrl), 30_000).catch(() => undefined);
}



/**
 * Staging copies hold unencrypted databases: remove those left by owb processes that died (kill -9), and
 * never one of a live process (another backup may be running).
 */
async function removeDeadStaging(root: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const m = /^capture-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') await rm(join(root, name), { recursive: true, force: true });
    }
  }
}
