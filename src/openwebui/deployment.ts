import { OwbError } from '../errors.js';

/** What owb knows about one Open WebUI deployment, however it was found (container or data folder). */
export interface Deployment {
  /** Host path of the data directory (`/app/backend/data` inside the image). */
  dataDir: string;
  /** Path of the data directory as Open WebUI sees it; `file.path` values start with it. */
  appDataDir: string;
  /** Settings read from the container's environment (or the caller's, for a plain folder). */
  env: OpenWebuiEnv;
  /** Set when the deployment runs in Docker. */
  container?: { id: string; name: string; image: string; imageId: string; running: boolean };
  /** Where the secret key file lives when it is not in the env (the first of `secretKeyCandidates` found). */
  secretKeyFile?: string;
  /** Every place looked at for the key file, in order; named in the warning when none holds it. */
  secretKeyCandidates?: string[];
  /** Base URL for /health and /api/version, when known. */
  baseUrl?: string;
}

/**
 * The environment settings that change what a backup must capture, resolved as Open WebUI resolves them
 * (`open_webui/env.py`): DATABASE_URL may be assembled from its parts, WEBUI_SECRET_KEY may come from the
 * deprecated WEBUI_JWT_SECRET_KEY.
 */
export interface OpenWebuiEnv {
  DATABASE_URL?: string;
  /** Where DATABASE_URL came from, so errors can name the setting the user wrote. */
  databaseUrlFrom?: 'DATABASE_URL' | 'DATABASE_TYPE';
  /** Non-public PostgreSQL schema holding Open WebUI's tables and alembic_version. */
  DATABASE_SCHEMA?: string;
  VECTOR_DB?: string;
  USE_SLIM_DOCKER?: string;
  STORAGE_PROVIDER?: string;
  WEBUI_SECRET_KEY?: string;
  DATA_DIR?: string;
}

const PLAIN = ['DATABASE_URL', 'DATABASE_SCHEMA', 'VECTOR_DB', 'USE_SLIM_DOCKER', 'STORAGE_PROVIDER', 'WEBUI_SECRET_KEY', 'DATA_DIR'] as const;

/** Picks the settings owb cares about out of a full environment, resolving them as Open WebUI does. */
export function openWebuiEnvOf(env: Readonly<Record<string, string | undefined>>): OpenWebuiEnv {
  const get = (k: string): string | undefined => (env[k] !== undefined && env[k] !== '' ? env[k] : undefined);
  const out: OpenWebuiEnv = {};
  for (const k of PLAIN) {
    const v = get(k);
    if (v !== undefined) out[k] = v;
  }
  // env.py: WEBUI_SECRET_KEY = os.getenv('WEBUI_SECRET_KEY', os.getenv('WEBUI_JWT_SECRET_KEY', '')).
  const jwt = get('WEBUI_JWT_SECRET_KEY');
  if (out.WEBUI_SECRET_KEY === undefined && jwt !== undefined) out.WEBUI_SECRET_KEY = jwt;
  if (out.DATABASE_URL !== undefined) out.databaseUrlFrom = 'DATABASE_URL';
  const assembled = assembledDatabaseUrl(get);
  if (assembled !== undefined) {
    out.DATABASE_URL = assembled;
    out.databaseUrlFrom = 'DATABASE_TYPE';
  }
  if (out.DATABASE_URL?.includes('postgres://')) out.DATABASE_URL = out.DATABASE_URL.replace('postgres://', 'postgresql://');
  return out;
}

/**
 * env.py builds DATABASE_URL from DATABASE_TYPE, DATABASE_USER/DATABASE_PASSWORD, DATABASE_HOST,
 * DATABASE_PORT and DATABASE_NAME when all are set, overriding DATABASE_URL; with DATABASE_TYPE
 * `sqlite+sqlcipher` and no DATABASE_URL it is the encrypted webui.db. Credentials are percent-encoded here
 * so that parsePgUrl gets back exactly what Open WebUI passes on.
 */
function assembledDatabaseUrl(get: (k: string) => string | undefined): string | undefined {
  const type = get('DATABASE_TYPE');
  const user = get('DATABASE_USER');
  const password = get('DATABASE_PASSWORD');
  const cred = `${user !== undefined ? encodeURIComponent(user) : ''}${password !== undefined ? `:${encodeURIComponent(password)}` : ''}`;
  const host = get('DATABASE_HOST');
  const port = get('DATABASE_PORT');
  const name = get('DATABASE_NAME');
  if (type && cred && host && port && name) return `${type}://${cred}@${host}:${port}/${encodeURIComponent(name)}`;
  if (type === 'sqlite+sqlcipher' && get('DATABASE_URL') === undefined) return 'sqlite+sqlcipher:///webui.db';
  return undefined;
}

/** The database engine named by DATABASE_URL: SQLite (default) or PostgreSQL. */
export function databaseEngine(env: OpenWebuiEnv): 'sqlite' | 'postgresql' {
  const url = env.DATABASE_URL ?? '';
  return /^postgres(ql)?(\+\w+)?:\/\//.test(url) ? 'postgresql' : 'sqlite';
}

/**
 * Refuses a deployment whose webui.db is encrypted with SQLCipher: better-sqlite3 cannot open it, and a
 * copy owb cannot read or check is no backup.
 */
export function refuseEncryptedSqlite(env: OpenWebuiEnv): void {
  if (!/^sqlite\+sqlcipher:/.test(env.DATABASE_URL ?? '')) return;
  const setting = env.databaseUrlFrom === 'DATABASE_TYPE' ? 'DATABASE_TYPE=sqlite+sqlcipher' : 'DATABASE_URL=sqlite+sqlcipher://…';
  throw new OwbError(`${setting}: webui.db is encrypted with SQLCipher, which owb cannot read; back it up another way or decrypt it first`);
}

/**
 * The vector store in use: VECTOR_DB, else Open WebUI's default, which since 0.12 is pgvector in the slim
 * image (`USE_SLIM_DOCKER=true`, config.py) and chroma otherwise.
 */
export function vectorDbOf(env: OpenWebuiEnv): string {
  if (env.VECTOR_DB) return env.VECTOR_DB.toLowerCase();
  return env.USE_SLIM_DOCKER?.toLowerCase() === 'true' ? 'pgvector' : 'chroma';
}

/** Vector stores that live in the data folder; the others are external servers owb cannot capture. */
export function vectorStoreCaptured(env: OpenWebuiEnv): boolean {
  const v = vectorDbOf(env);
  // pgvector lives in the PostgreSQL database, which the dump captures.
  return v === 'chroma' || v === 'milvus' || v === 'pgvector';
}
