/**
 * Open WebUI on PostgreSQL (DATABASE_URL): `owb backup --source DIR` dumps the database with pg_dump, and
 * `owb restore --source DIR` puts it back with pg_restore. Real PostgreSQL 15 on 127.0.0.1 with password
 * auth over TCP (scripts/services/postgres.sh), real CLI. The password must never show in anything owb prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliResult } from '../support/cli.js';
import { service } from '../support/services.js';
import { backupJson, owbWorld, uniqueName, type OwbWorld, type RestoreJson } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

let pg: Record<string, string>;
// Only for the world's DOCKER_HOST; no container is used here.
const { s } = useStandin();
const databases: string[] = [];

/** Runs SQL through psql; `admin` uses the trusted local socket as the superuser, else TCP with the password. */
function psql(sql: string, opts: { db?: string; admin?: boolean } = {}): string {
  const args = opts.admin
    ? ['-h', pg.PG_SOCKET_DIR!, '-p', pg.PG_PORT!, '-U', pg.PG_ADMIN_USER!]
    : ['-h', pg.PG_HOST!, '-p', pg.PG_PORT!, '-U', pg.PG_USER!];
  const r = spawnSync('psql', [...args, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', opts.db ?? 'postgres'], {
    input: sql,
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: opts.admin ? undefined : pg.PG_PASSWORD },
  });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  pg = service('postgres');
});

afterAll(() => {
  for (const db of databases) psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, { admin: true });
});

/** A fresh database owned by the test role, with a table of three rows. */
function freshDatabase(): string {
  const db = uniqueName('owb_pg_');
  psql(`CREATE DATABASE ${db} OWNER ${pg.PG_USER}`, { admin: true });
  databases.push(db);
  psql(
    `CREATE TABLE chat (id text PRIMARY KEY, title text NOT NULL);
     INSERT INTO chat VALUES ('c1', 'first'), ('c2', 'second'), ('c3', 'third with ünïcode');`,
    { db },
  );
  return db;
}

async function dataFolder(w: OwbWorld): Promise<string> {
  const dir = join(w.dir, 'owui', 'data');
  await mkdir(join(dir, 'uploads'), { recursive: true });
  await writeFile(join(dir, 'uploads', 'f1_notes.txt'), 'an upload\n');
  return dir;
}

function url(db: string, password = pg.PG_PASSWORD!): string {
  return `postgresql://${pg.PG_USER}:${encodeURIComponent(password)}@${pg.PG_HOST}:${pg.PG_PORT}/${db}`;
}

function expectNoSecret(results: CliResult[], secret: string): void {
  for (const r of results) {
    expect(r.stdout.includes(secret), `password in stdout: ${r.stdout.slice(0, 300)}`).toBe(false);
    expect(r.stderr.includes(secret), `password in stderr: ${r.stderr.slice(0, 300)}`).toBe(false);
  }
}

describe('Open WebUI on PostgreSQL', () => {
  it('backup --source with DATABASE_URL, drop the table, restore --source: the rows are back; no password anywhere', async () => {
    const w = await owbWorld(s);
    const db = freshDatabase();
    const dir = await dataFolder(w);
    const env = { DATABASE_URL: url(db) };
    const printed: CliResult[] = [];

    const backup = await w.ok(['backup', '--source', dir, '--json'], env);
    printed.push(backup);
    const m = backupJson(backup).openwebui;
    expect(m.database).toEqual({ engine: 'postgresql', captured_as: 'pg_dump' });
    printed.push(await w.ok(['backup', '--source', dir], env)); // the human output too

    psql('DROP TABLE chat', { db });
    expect(psql("SELECT count(*) FROM pg_tables WHERE tablename = 'chat'", { db })).toBe('0');

    const restore = await w.ok(['restore', backupJson(backup).snapshot_id, '--source', dir, '--json'], env);
    printed.push(restore);
    expect((restore.json as RestoreJson).restored).toContain('postgresql');
    expect(psql('SELECT id, title FROM chat ORDER BY id', { db })).toBe('c1|first\nc2|second\nc3|third with ünïcode');

    const snaps = await w.ok(['snapshots', '--json']);
    const ls = await w.ok(['ls', 'latest']);
    const lsJson = await w.ok(['ls', 'latest', '--json']);
    printed.push(snaps, ls, lsJson, await w.ok(['snapshots']));
    expect(ls.stdout).toContain('/postgres/openwebui.dump');
    expectNoSecret(printed, pg.PG_PASSWORD!);
  });

  it('the manifest records the schema revision and row counts read from PostgreSQL', async () => {
    const w = await owbWorld(s);
    const db = freshDatabase();
    // As Open WebUI's migrations leave it.
    psql(`CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('${s.env.STANDIN_HEAD_LATEST}');`, { db });
    const dir = await dataFolder(w);
    const m = backupJson(await w.ok(['backup', '--source', dir, '--json'], { DATABASE_URL: url(db) })).openwebui;
    expect(m.alembic_revision).toBe(s.env.STANDIN_HEAD_LATEST);
    expect(m.table_rows.chat).toBe(3);
  });

  it('DATABASE_TYPE/USER/PASSWORD/HOST/PORT/NAME (no DATABASE_URL) and DATABASE_SCHEMA: dumped from PostgreSQL, facts read from that schema', async () => {
    const w = await owbWorld(s);
    const db = freshDatabase();
    // Open WebUI with DATABASE_SCHEMA keeps its tables and alembic_version out of public.
    psql(
      `CREATE SCHEMA owui;
       CREATE TABLE owui.alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO owui.alembic_version VALUES ('${s.env.STANDIN_HEAD_LATEST}');
       CREATE TABLE owui.file (id text PRIMARY KEY); INSERT INTO owui.file VALUES ('f1'), ('f2');`,
      { db },
    );
    const dir = await dataFolder(w);
    const env = {
      DATABASE_TYPE: 'postgresql',
      DATABASE_USER: pg.PG_USER!,
      DATABASE_PASSWORD: pg.PG_PASSWORD!,
      DATABASE_HOST: pg.PG_HOST!,
      DATABASE_PORT: pg.PG_PORT!,
      DATABASE_NAME: db,
      DATABASE_SCHEMA: 'owui',
    };
    const backup = await w.ok(['backup', '--source', dir, '--json'], env);
    const m = backupJson(backup).openwebui;
    expect(m.database).toEqual({ engine: 'postgresql', captured_as: 'pg_dump' });
    expect(m.alembic_revision).toBe(s.env.STANDIN_HEAD_LATEST);
    expect(m.table_rows).toEqual({ alembic_version: 1, file: 2 });
    expectNoSecret([backup], pg.PG_PASSWORD!);
  });

  it('a wrong password: the backup fails, says why, leaves no snapshot, and prints no password', async () => {
    const w = await owbWorld(s);
    const db = freshDatabase();
    const dir = await dataFolder(w);
    const wrong = `Wrong-${uniqueName('')}`;
    const r = await w.run(['backup', '--source', dir], { DATABASE_URL: url(db, wrong) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/(pg_dump|psql) failed.*password authentication failed/);
    expectNoSecret([r], wrong);
    const snaps = await w.ok(['snapshots', '--json']);
    expect(snaps.json as unknown[]).toEqual([]);
  });
});
