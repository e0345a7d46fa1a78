import { stat } from 'node:fs/promises';

/** Size and mtime of a database and its WAL: equal fingerprints mean no transaction committed in between. */
export async function sqliteFingerprint(dbPath: string): Promise<string> {
  const parts: string[] = [];
  for (const p of [dbPath, `${dbPath}-wal`]) {
    const st = await stat(p, { bigint: true }).catch(() => undefined);
    parts.push(st ? `${st.size}:${st.mtimeNs}` : '-');
  }
  return parts.join('|');
}

/** sqlite3_backup_step's page count for "everything left", as large as better-sqlite3 passes on. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies a live SQLite database through SQLite's online backup API, so the copy is one committed state
 * even while Open WebUI writes (never a torn copy of the file or its WAL). The copy is a self-contained
 * database without a WAL.
 *
 * The copy is made in ONE step, inside one read transaction. In small steps (100 pages by default) SQLite
 * restarts the backup whenever another connection commits between two steps, so a database written every few
 * milliseconds never finished backing up. In WAL mode the one read transaction blocks no writer.
 */
export async function backupSqlite(source: string, dest: string): Promise<void> {
  const { default: Database } = await import('better-sqlite3');
  // Read-only: the last read-write connection to close checkpoints the WAL into the database and deletes
  // the -wal file. On a stopped deployment that last connection would be ours, rewriting the user's files.
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: 30_000 });
  try {
    await db.backup(dest, { progress: () => ALL_PAGES });
  } finally {
    db.close();
  }
  const copy = new Database(dest);
  try {
    // A self-contained file: restores and drills open it without any -wal next to it.
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
}
