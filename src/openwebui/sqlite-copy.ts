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

/**
 * Copies a live SQLite database through SQLite's online backup API, so the copy is one committed state
 * even while Open WebUI writes (never a torn copy of the file or its WAL). The copy is a self-contained
 * database without a WAL.
 */
export async function backupSqlite(source: string, dest: string): Promise<void> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(source, { fileMustExist: true, timeout: 30_000 });
  try {
    await db.backup(dest);
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
