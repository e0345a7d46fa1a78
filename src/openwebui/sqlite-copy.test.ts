import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupSqlite } from './sqlite-copy.js';

/** A writer in another process that commits a row every 2 ms, as a busy Open WebUI would, and prints each commit. */
const WRITER = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute('PRAGMA journal_mode=WAL')
n = 0
while True:
    n += 1
    db.execute('INSERT INTO chat (id, body) VALUES (?, ?)', (n, 'x' * 500))
    sys.stdout.write(f'{n}\\n'); sys.stdout.flush()
    time.sleep(0.002)
`;

describe('backupSqlite under a writer committing every 2 ms', () => {
  let dir: string;
  let writer: ChildProcess;
  let committed = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-busy-db-'));
    const db = new Database(join(dir, 'webui.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE chat (id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE filler (b BLOB)');
    // About 40 MB, so a copy takes many 100-page steps: each one a chance for the writer to restart it.
    const insert = db.prepare('INSERT INTO filler (b) VALUES (randomblob(65536))');
    db.transaction(() => {
      for (let i = 0; i < 600; i++) insert.run();
    })();
    db.close();
    writer = spawn('python3', ['-c', WRITER, join(dir, 'webui.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
    writer.stdout!.on('data', (d: Buffer) => {
      committed = Math.max(committed, ...d.toString().trim().split('\n').map(Number));
    });
    // The writer is really writing before the copy starts.
    while (committed < 100) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    writer.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('finishes with one consistent committed state (it used to restart forever)', async () => {
    const before = committed;
    await backupSqlite(join(dir, 'webui.db'), join(dir, 'copy.db'));
    // The writer was never blocked: it is alive and goes on committing (the copy held no lock it waits on).
    expect(writer.exitCode).toBeNull();
    while (committed <= before + 10) await new Promise((r) => setTimeout(r, 20));
    const copy = new Database(join(dir, 'copy.db'), { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
      const { n, max } = copy.prepare('SELECT count(*) AS n, max(id) AS max FROM chat').get() as { n: number; max: number };
      // Rows 1..max, none missing: one committed state, not a torn mix.
      expect(n).toBe(max);
      expect(max).toBeGreaterThanOrEqual(before);
      expect((copy.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n).toBe(600);
    } finally {
      copy.close();
    }
  }, 60_000);
});

/** Open WebUI killed or stopped with committed transactions still only in its WAL (no checkpoint on exit). */
const STOPPED_WITH_WAL = `
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('CREATE TABLE chat (id INTEGER PRIMARY KEY, body TEXT)')
for i in range(1, 51):
    db.execute('INSERT INTO chat (id, body) VALUES (?, ?)', (i, 'x' * 200))
os._exit(0)
`;

describe('backupSqlite of a stopped deployment', () => {
  it("leaves the user's webui.db and -wal in place, byte for byte, and copies the rows committed in the WAL", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'owb-stopped-db-'));
    try {
      const db = join(dir, 'webui.db');
      expect(spawnSync('python3', ['-c', STOPPED_WITH_WAL, db]).status).toBe(0);
      const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
      const before = { db: sha(db), wal: sha(`${db}-wal`) };
      expect(readFileSync(`${db}-wal`).length).toBeGreaterThan(0);

      await backupSqlite(db, join(dir, 'copy.db'));

      // A read-write connection, the last to close, would have checkpointed the WAL and deleted it.
      expect(existsSync(`${db}-wal`)).toBe(true);
      expect(sha(`${db}-wal`)).toBe(before.wal);
      expect(sha(db)).toBe(before.db);
      const copy = new Database(join(dir, 'copy.db'), { readonly: true });
      try {
        expect((copy.prepare('SELECT count(*) AS n FROM chat').get() as { n: number }).n).toBe(50);
      } finally {
        copy.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
