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
  /** Where the secret key file lives when it is not in the env. */
  secretKeyFile?: string;
  /** Base URL for /health and /api/version, when known. */
  baseUrl?: string;
}

/** The environment settings that change what a backup must capture. */
export interface OpenWebuiEnv {
  DATABASE_URL?: string;
  VECTOR_DB?: string;
  STORAGE_PROVIDER?: string;
  WEBUI_SECRET_KEY?: string;
  DATA_DIR?: string;
}

/** Picks the settings owb cares about out of a full environment. */
export function openWebuiEnvOf(env: Readonly<Record<string, string | undefined>>): OpenWebuiEnv {
  const out: OpenWebuiEnv = {};
  for (const k of ['DATABASE_URL', 'VECTOR_DB', 'STORAGE_PROVIDER', 'WEBUI_SECRET_KEY', 'DATA_DIR'] as const) {
    const v = env[k];
    if (v !== undefined && v !== '') out[k] = v;
  }
  return out;
}

/** The database engine named by DATABASE_URL: SQLite (default) or PostgreSQL. */
export function databaseEngine(env: OpenWebuiEnv): 'sqlite' | 'postgresql' {
  const url = env.DATABASE_URL ?? '';
  return /^postgres(ql)?(\+\w+)?:\/\//.test(url) ? 'postgresql' : 'sqlite';
}

/** Vector stores that live in the data folder; the others are external servers owb cannot capture. */
export function vectorStoreCaptured(env: OpenWebuiEnv): boolean {
  const v = (env.VECTOR_DB ?? 'chroma').toLowerCase();
  // pgvector lives in the PostgreSQL database, which the dump captures.
  return v === 'chroma' || v === 'milvus' || v === 'pgvector';
}
