import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { OwbError } from '../errors.js';
import type { OpenWebuiEnv } from './deployment.js';

/** Connection settings split out of a DATABASE_URL so that the password travels in the env, never argv. */
export interface PgConnection {
  host: string;
  port: string;
  user: string;
  database: string;
  password?: string;
  /** Schema holding Open WebUI's tables and alembic_version (DATABASE_SCHEMA); `public` when unset. */
  schema?: string;
}

/** Parses `postgresql://user:pass@host:port/db` (also `postgres://`, `postgresql+psycopg2://`). */
export function parsePgUrl(url: string): PgConnection {
  let u: URL;
  try {
    u = new URL(url.replace(/^postgres(ql)?(\+\w+)?:/, 'postgresql:'));
  } catch {
    throw new OwbError('DATABASE_URL is not a valid postgresql:// URL');
  }
  return {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: u.port || '5432',
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** The connection of a deployment on PostgreSQL: its resolved DATABASE_URL plus DATABASE_SCHEMA. */
export function pgConnectionOf(env: OpenWebuiEnv): PgConnection {
  const c = parsePgUrl(env.DATABASE_URL ?? '');
  return env.DATABASE_SCHEMA ? { ...c, schema: env.DATABASE_SCHEMA } : c;
}

function pgEnv(c: PgConnection): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: c.host, PGPORT: c.port, PGUSER: c.user, PGDATABASE: c.database };
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  return env;
}

/**
 * The output of `pg_dump -Fc` as a stream that only ends once pg_dump has exited successfully, and fails
 * with pg_dump's one-line error otherwise, so a failed dump can never be stored as a complete one.
 */
export function pgDumpStream(c: PgConnection): Readable {
  return Readable.from(
    (async function* () {
      const child = spawn('pg_dump', ['-Fc', '--no-password'], { env: pgEnv(c), stdio: ['ignore', 'pipe', 'pipe'] });
      const done = waitFor(child, 'pg_dump');
      done.catch(() => undefined); // awaited below, after stdout ends
      for await (const chunk of child.stdout!) yield chunk as Buffer;
      await done;
    })(),
  );
}

/** Runs a query with psql and returns its rows as tab-separated fields (password in the env). */
export async function psqlRows(c: PgConnection, sql: string): Promise<string[][]> {
  const child = spawn('psql', ['-X', '-At', '-F', '\t', '--no-password', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    env: pgEnv(c),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor(child, 'psql');
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

/**
 * Facts for the manifest from a live PostgreSQL database: alembic revision and exact row counts, read from
 * the deployment's schema (DATABASE_SCHEMA puts the tables and alembic_version outside `public`).
 */
export async function inspectPostgres(c: PgConnection): Promise<{ alembicRevision?: string; tableRows: Record<string, number> }> {
  const schema = c.schema ?? 'public';
  const lit = (v: string): string => `'${v.replace(/'/g, "''")}'`;
  const ident = (v: string): string => `"${v.replace(/"/g, '""')}"`;
  const tables = (await psqlRows(c, `SELECT tablename FROM pg_tables WHERE schemaname = ${lit(schema)} ORDER BY tablename`)).map((r) => r[0]!);
  const tableRows: Record<string, number> = {};
  if (tables.length > 0) {
    const q = tables.map((t) => `SELECT ${lit(t)}, count(*) FROM ${ident(schema)}.${ident(t)}`).join(' UNION ALL ');
    for (const [t, n] of await psqlRows(c, q)) tableRows[t!] = Number(n);
  }
  let alembicRevision: string | undefined;
  if (tables.includes('alembic_version')) alembicRevision = (await psqlRows(c, `SELECT version_num FROM ${ident(schema)}.alembic_version`))[0]?.[0];
  return { ...(alembicRevision ? { alembicRevision } : {}), tableRows };
}

/** Restores a custom-format dump into the database with `pg_restore --clean --if-exists`. */
export async function pgRestore(c: PgConnection, dump: Readable): Promise<void> {
  const child = spawn('pg_restore', ['--clean', '--if-exists', '--no-owner', '--no-password', '--single-transaction', '-d', c.database], {
    env: pgEnv(c),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  dump.pipe(child.stdin!);
  await waitFor(child, 'pg_restore');
}

function waitFor(child: ChildProcess, name: string): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new OwbError(err.code === 'ENOENT' ? `${name} is not installed (apt install postgresql-client)` : `${name}: ${err.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new OwbError(`${name} failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
}
