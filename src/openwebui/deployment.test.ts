import { describe, expect, it } from 'vitest';
import { OwbError } from '../errors.js';
import { databaseEngine, openWebuiEnvOf, refuseEncryptedSqlite, vectorDbOf, vectorStoreCaptured } from './deployment.js';
import { parsePgUrl, pgConnectionOf } from './postgres.js';

const PARTS = { DATABASE_TYPE: 'postgresql', DATABASE_USER: 'owui', DATABASE_PASSWORD: 'p@ss:w/rd%', DATABASE_HOST: 'db.internal', DATABASE_PORT: '5433', DATABASE_NAME: 'openwebui' };

describe('openWebuiEnvOf resolves settings as Open WebUI does', () => {
  it('takes the deprecated WEBUI_JWT_SECRET_KEY when WEBUI_SECRET_KEY is unset', () => {
    expect(openWebuiEnvOf({ WEBUI_JWT_SECRET_KEY: 'jwt-key' }).WEBUI_SECRET_KEY).toBe('jwt-key');
    expect(openWebuiEnvOf({ WEBUI_JWT_SECRET_KEY: 'jwt-key', WEBUI_SECRET_KEY: 'main' }).WEBUI_SECRET_KEY).toBe('main');
  });

  it('assembles DATABASE_URL from DATABASE_TYPE/USER/PASSWORD/HOST/PORT/NAME: PostgreSQL, credentials intact', () => {
    const env = openWebuiEnvOf(PARTS);
    expect(databaseEngine(env)).toBe('postgresql');
    expect(parsePgUrl(env.DATABASE_URL!)).toEqual({ host: 'db.internal', port: '5433', user: 'owui', password: 'p@ss:w/rd%', database: 'openwebui' });
  });

  it('the assembled URL wins over DATABASE_URL, as in env.py; one part missing leaves DATABASE_URL alone', () => {
    expect(databaseEngine(openWebuiEnvOf({ ...PARTS, DATABASE_URL: 'sqlite:////data/webui.db' }))).toBe('postgresql');
    const { DATABASE_PORT: _, ...noPort } = PARTS;
    expect(databaseEngine(openWebuiEnvOf(noPort))).toBe('sqlite');
  });

  it('postgres:// becomes postgresql://, as env.py rewrites it', () => {
    expect(openWebuiEnvOf({ ...PARTS, DATABASE_TYPE: 'postgres' }).DATABASE_URL).toMatch(/^postgresql:\/\//);
  });

  it('DATABASE_SCHEMA reaches the PostgreSQL connection', () => {
    expect(pgConnectionOf(openWebuiEnvOf({ ...PARTS, DATABASE_SCHEMA: 'owui' })).schema).toBe('owui');
    expect(pgConnectionOf(openWebuiEnvOf(PARTS)).schema).toBeUndefined();
  });

  it('refuses an SQLCipher-encrypted webui.db with one line naming the setting', () => {
    const check = (env: Record<string, string>): string => {
      try {
        refuseEncryptedSqlite(openWebuiEnvOf(env));
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(OwbError);
        return (err as Error).message;
      }
    };
    expect(check({ DATABASE_TYPE: 'sqlite+sqlcipher', DATABASE_PASSWORD: 'secret-pw' })).toMatch(/^DATABASE_TYPE=sqlite\+sqlcipher: webui\.db is encrypted with SQLCipher/);
    expect(check({ DATABASE_URL: 'sqlite+sqlcipher:////app/backend/data/webui.db' })).toMatch(/^DATABASE_URL=sqlite\+sqlcipher/);
    expect(check({ DATABASE_TYPE: 'sqlite+sqlcipher', DATABASE_PASSWORD: 'secret-pw' })).not.toContain('secret-pw');
    expect(check({})).toBe('accepted');
    expect(check({ DATABASE_TYPE: 'sqlite' })).toBe('accepted');
  });
});

describe('vectorDbOf', () => {
  it('defaults to pgvector in the slim image (USE_SLIM_DOCKER=true), chroma otherwise', () => {
    expect(vectorDbOf(openWebuiEnvOf({}))).toBe('chroma');
    expect(vectorDbOf(openWebuiEnvOf({ USE_SLIM_DOCKER: 'true' }))).toBe('pgvector');
    expect(vectorDbOf(openWebuiEnvOf({ USE_SLIM_DOCKER: 'True' }))).toBe('pgvector');
    expect(vectorDbOf(openWebuiEnvOf({ USE_SLIM_DOCKER: 'false' }))).toBe('chroma');
    expect(vectorDbOf(openWebuiEnvOf({ USE_SLIM_DOCKER: 'true', VECTOR_DB: 'Qdrant' }))).toBe('qdrant');
    expect(vectorStoreCaptured(openWebuiEnvOf({ VECTOR_DB: 'qdrant' }))).toBe(false);
  });
});
