import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAbort } from '../errors.js';
import { type OpenWebuiManifest, inspectSqlite } from '../openwebui/manifest.js';
import { verifyDatabase } from '../openwebui/restore-fixups.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { missingRestoredUploads } from './openwebui-restore.js';
import { runRestore } from './restore.js';

/** One line of a drill report. */
export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** A drill's outcome. */
export interface DrillResult {
  snapshotId: string;
  ok: boolean;
  checks: DrillCheck[];
  durationS: number;
}

/** File in the state folder recording the last successful drill (read by doctor and metrics). */
export const LAST_DRILL_FILE = 'last-drill.json';

/**
 * A restore drill: restores the snapshot into a scratch folder (every blob checked against its keyed id on
 * the way) and proves it usable: the database passes integrity_check and holds the row counts of the
 * manifest, every upload the database references is there, and the secret key is present when it was
 * captured. The scratch folder is always removed. "Regularly test your backups by restoring them", automated.
 */
export async function runDrill(repo: Repository, snap: Snapshot, opts: { scratchRoot: string; stateDir?: string; signal?: AbortSignal }): Promise<DrillResult> {
  const started = Date.now();
  const checks: DrillCheck[] = [];
  await mkdir(opts.scratchRoot, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(join(opts.scratchRoot, 'drill-'));
  const target = join(scratch, 'restore');
  try {
    try {
      const r = await runRestore(repo, snap, { target, ...(opts.signal ? { signal: opts.signal } : {}) });
      checks.push({ name: 'restore', ok: true, detail: `${r.filesRestored} files, ${r.bytesRestored} bytes, every blob verified` });
    } catch (err) {
      // Interrupted (SIGINT, a lost lock) is not a failed drill: the run stops with its own exit code.
      if (isAbort(err)) throw err;
      checks.push({ name: 'restore', ok: false, detail: (err as Error).message });
    }
    const manifest = snap.openwebui as OpenWebuiManifest | undefined;
    if (manifest?.format === 1 && checks[0]!.ok) await checkOpenWebui(manifest, join(target, 'data'), target, checks);
    else if (!manifest) checks.push({ name: 'open webui', ok: true, detail: 'not an Open WebUI snapshot: restore check only' });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const ok = checks.every((c) => c.ok);
  const res: DrillResult = { snapshotId: snap.id, ok, checks, durationS: (Date.now() - started) / 1000 };
  if (ok && opts.stateDir) {
    await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(join(opts.stateDir, LAST_DRILL_FILE), JSON.stringify({ time: new Date().toISOString(), snapshot_id: snap.id }), { mode: 0o600 });
  }
  return res;
}

async function checkOpenWebui(manifest: OpenWebuiManifest, dataDir: string, root: string, checks: DrillCheck[]): Promise<void> {
  if (manifest.database.captured_as === 'sqlite-backup') {
    const db = join(dataDir, 'webui.db');
    try {
      const problems = await verifyDatabase(db, manifest);
      const total = Object.values(manifest.table_rows).reduce((a, b) => a + b, 0);
      checks.push({
        name: 'database',
        ok: problems.length === 0,
        detail: problems.length === 0 ? `integrity_check ok, ${Object.keys(manifest.table_rows).length} tables and ${total} rows as recorded` : problems.join('; '),
      });
      const facts = await inspectSqlite(db);
      const missing = await missingRestoredUploads(facts.filePaths, manifest.app_data_dir, dataDir);
      const atBackup = missing.filter((p) => manifest.uploads.missing.includes(p)).length;
      checks.push({
        name: 'uploads',
        ok: missing.length === 0,
        detail:
          missing.length === 0
            ? `${facts.filePaths.length} referenced uploads present`
            : `${missing.length} referenced upload(s) missing, e.g. ${missing[0]}${atBackup ? ` (${atBackup} already missing from the deployment when the backup ran)` : ''}`,
      });
    } catch (err) {
      checks.push({ name: 'database', ok: false, detail: `cannot open the restored webui.db: ${(err as Error).message}` });
    }
  } else if (manifest.database.captured_as === 'pg_dump') {
    const st = await lstat(join(root, 'postgres', 'openwebui.dump')).catch(() => undefined);
    checks.push({ name: 'database', ok: !!st && st.size > 0, detail: st ? `PostgreSQL dump present (${st.size} bytes)` : 'PostgreSQL dump missing' });
  }
  if (manifest.secret_key.captured) {
    const st = await lstat(join(root, 'secret', '.webui_secret_key')).catch(() => undefined);
    checks.push({ name: 'secret key', ok: !!st && st.size > 0, detail: st ? 'present' : 'missing although the manifest says it was captured' });
  }
}
