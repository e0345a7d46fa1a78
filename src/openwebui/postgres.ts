import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { OwbError } from '../errors.js';

/** Connection settings split out of a DATABASE_URL so that the password travels in the env, never argv. */
export interface PgConnection {
  host: string;
  port: string;
  user: string;
  database: string;
  password?: string;
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

function pgEnv(c: PgConnection): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: c.host, PGPORT: c.port, PGUSER: c.user, PGDATABASE: c.database };
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  return env;
}

/** A running pg_dump -Fc whose stdout is the dump; `done` rejects with a one-line error on failure. */
export function startPgDump(c: PgConnection): { stream: Readable; done: Promise<void> } {
  const child = spawn('pg_dump', ['-Fc', '--no-password'], { env: pgEnv(c), stdio: ['ignore', 'pipe', 'pipe'] });
  return { stream: child.stdout, done: waitFor(child, 'pg_dump') };
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
