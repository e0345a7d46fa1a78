import { access } from 'node:fs/promises';
import { join } from 'node:path';

/** The Open WebUI manifest stored in every snapshot (`snapshot.openwebui`). */
export interface OpenWebuiManifest {
  format: 1;
  version?: string;
  alembic_revision?: string;
  database: { engine: 'sqlite' | 'postgresql'; captured_as: 'sqlite-backup' | 'pg_dump' | 'none' };
  vector_db: { type: string; captured: boolean };
  storage_provider: string;
  table_rows: Record<string, number>;
  integrity_check: string;
  foreign_key_violations: number;
  uploads: { referenced: number; missing: string[] };
  secret_key: { captured: boolean; source: 'env' | 'file' | 'none' };
  /**
   * `downtime_s`: the container was not running (or frozen). `unavailable_s`: until /health answered again
   * after the window (a restarted application needs its start-up time too); null when it did not within
   * the timeout or could not be watched. Absent in snapshots of owb before it was recorded.
   */
  quiesce: { mode: 'stop' | 'pause' | 'none'; downtime_s: number; unavailable_s?: number | null; container?: string };
  /** The data directory as the application saw it, which `file.path` values start with. */
  app_data_dir: string;
  image?: string;
  warnings: string[];
}

/** Facts read from a (staged, consistent) copy of webui.db. */
export interface DatabaseFacts {
  alembicRevision?: string;
  tableRows: Record<string, number>;
  integrityCheck: string;
  foreignKeyViolations: number;
  /** `file.path` values (absolute paths inside the app). */
  filePaths: string[];
}

/** Reads the manifest facts from a SQLite copy; never from the live file. */
export async function inspectSqlite(dbPath: string): Promise<DatabaseFacts> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    const tableRows: Record<string, number> = {};
    for (const t of tables) {
      tableRows[t] = (db.prepare(`SELECT count(*) AS n FROM "${t.replace(/"/g, '""')}"`).get() as { n: number }).n;
    }
    let alembicRevision: string | undefined;
    if (tables.includes('alembic_version')) {
      alembicRevision = (db.prepare('SELECT version_num FROM alembic_version').get() as { version_num?: string } | undefined)?.version_num;
    }
    const integrity = (db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map((r) => r.integrity_check);
    const fk = db.prepare('PRAGMA foreign_key_check').all().length;
    const filePaths = tables.includes('file')
      ? (db.prepare('SELECT path FROM file WHERE path IS NOT NULL').all() as { path: string }[]).map((r) => r.path)
      : [];
    return { alembicRevision, tableRows, integrityCheck: integrity.join('; '), foreignKeyViolations: fk, filePaths };
  } finally {
    db.close();
  }
}

/**
 * Maps an application path (`/app/backend/data/uploads/x`, or relative for a relative DATA_DIR) to the host data directory. Paths outside the
 * application's data directory (other storage providers, odd installs) map to undefined.
 */
export function hostPathOf(appPath: string, appDataDir: string, hostDataDir: string): string | undefined {
  let prefix = appDataDir.replace(/\/+$/, '');
  if (!prefix.startsWith('/')) {
    // A relative DATA_DIR (pip install): `data/uploads/x` and `./data/uploads/x` are the same file.
    prefix = prefix.replace(/^(\.\/)+/, '');
    appPath = appPath.replace(/^(\.\/)+/, '');
  }
  if (appPath !== prefix && !appPath.startsWith(`${prefix}/`)) return undefined;
  return join(hostDataDir, appPath.slice(prefix.length));
}

/** Uploads that `file.path` references but that are not on disk. */
export async function missingUploads(filePaths: string[], appDataDir: string, hostDataDir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const p of filePaths) {
    const host = hostPathOf(p, appDataDir, hostDataDir);
    if (host === undefined) continue;
    try {
      await access(host);
    } catch {
      missing.push(p);
    }
  }
  return missing;
}
