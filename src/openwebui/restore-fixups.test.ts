import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rewriteFilePaths } from './restore-fixups.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'owb-fixups-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function dbWith(paths: string[]): string {
  const file = join(dir, 'webui.db');
  const db = new Database(file);
  db.exec('CREATE TABLE file (id TEXT PRIMARY KEY, path TEXT)');
  const ins = db.prepare('INSERT INTO file VALUES (?, ?)');
  paths.forEach((p, i) => ins.run(`f${i}`, p));
  db.close();
  return file;
}

function pathsOf(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT path FROM file ORDER BY id').all() as { path: string }[]).map((r) => r.path);
  } finally {
    db.close();
  }
}

describe('rewriteFilePaths', () => {
  it('rewrites absolute prefixes, and only whole path components', async () => {
    const db = dbWith(['/app/backend/data/uploads/a.txt', '/app/backend/database/x', '/elsewhere/b.txt']);
    expect(await rewriteFilePaths(db, '/app/backend/data/', '/srv/owui/data')).toBe(1);
    expect(pathsOf(db)).toEqual(['/srv/owui/data/uploads/a.txt', '/app/backend/database/x', '/elsewhere/b.txt']);
  });

  it('rewrites the relative paths a pip install with a relative DATA_DIR stores, with or without ./', async () => {
    const db = dbWith(['data/uploads/a.txt', './data/uploads/b.txt', 'database/c.txt', '/abs/data/uploads/d.txt']);
    expect(await rewriteFilePaths(db, './data', '/app/backend/data')).toBe(2);
    expect(pathsOf(db)).toEqual(['/app/backend/data/uploads/a.txt', '/app/backend/data/uploads/b.txt', 'database/c.txt', '/abs/data/uploads/d.txt']);
  });

  it('a relative snapshot prefix given without ./ matches ./ paths too', async () => {
    const db = dbWith(['./data/uploads/b.txt']);
    expect(await rewriteFilePaths(db, 'data', '/srv/data')).toBe(1);
    expect(pathsOf(db)).toEqual(['/srv/data/uploads/b.txt']);
  });
});
