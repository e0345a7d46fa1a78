import type { OpenWebuiManifest } from './manifest.js';
import { inspectSqlite } from './manifest.js';

/**
 * Rewrites `file.path` values from the data directory the snapshot was taken in to the one it is restored
 * into. Docker deployments store absolute paths; a pip install run with a relative DATA_DIR stores them
 * relative (`data/uploads/x` or `./data/uploads/x`), so a relative prefix matches with or without its
 * leading `./`. Returns how many rows changed.
 */
export async function rewriteFilePaths(dbPath: string, from: string, to: string): Promise<number> {
  const newPrefix = to.replace(/\/+$/, '');
  const bare = from.replace(/\/+$/, '').replace(/^(\.\/)+/, '');
  const oldPrefixes = from.startsWith('/') ? [from.replace(/\/+$/, '')] : [bare, `./${bare}`];
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    const hasFile = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file'").get();
    if (!hasFile) return 0;
    const update = db.prepare('UPDATE file SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?');
    let changes = 0;
    for (const oldPrefix of oldPrefixes) {
      if (oldPrefix === newPrefix || oldPrefix === '' || oldPrefix === './') continue;
      changes += update.run(newPrefix, oldPrefix.length + 1, oldPrefix.length + 1, `${oldPrefix}/`).changes;
    }
    return changes;
  } finally {
    db.close();
  }
}

/**
 * Checks a restored database against its snapshot's manifest: integrity_check passes and every table holds
 * the recorded number of rows. Returns one line per problem (empty when all is well).
 */
export async function verifyDatabase(dbPath: string, manifest: OpenWebuiManifest): Promise<string[]> {
  const facts = await inspectSqlite(dbPath);
  const problems: string[] = [];
  if (facts.integrityCheck !== 'ok') problems.push(`integrity_check: ${facts.integrityCheck.slice(0, 200)}`);
  for (const [table, rows] of Object.entries(manifest.table_rows)) {
    const got = facts.tableRows[table];
    if (got === undefined) problems.push(`table ${table} is missing`);
    else if (got !== rows) problems.push(`table ${table} has ${got} rows, the manifest says ${rows}`);
  }
  return problems;
}
