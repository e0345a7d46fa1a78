import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OwbError } from '../errors.js';
import { captureDeployment, type Capture } from './capture.js';
import { locateDir } from './locate.js';

/** A pip install's data folder: webui.db in WAL mode, stopped with commits still in the -wal; no audit.log. */
const STOPPED_INSTALL = `
import os, sqlite3, sys
db = sqlite3.connect(os.path.join(sys.argv[1], 'webui.db'), isolation_level=None)
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('CREATE TABLE alembic_version (version_num TEXT PRIMARY KEY)')
db.execute("INSERT INTO alembic_version VALUES ('af906e964978')")
db.execute('CREATE TABLE file (id TEXT PRIMARY KEY, path TEXT)')
db.execute("INSERT INTO file VALUES ('f1', ?)", (os.path.join(sys.argv[1], 'uploads', 'f1_a.txt'),))
db.execute('CREATE TABLE chat (id INTEGER PRIMARY KEY, title TEXT)')
for i in range(1, 21):
    db.execute('INSERT INTO chat (id, title) VALUES (?, ?)', (i, f'chat {i}'))
os._exit(0)
`;

let root: string;
let dataDir: string;
let captures: Capture[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'owb-capture-'));
  // As `DATA_DIR=~/.open-webui/data open-webui serve` run from ~: the key lands in ~, two levels up.
  dataDir = join(root, 'home', '.open-webui', 'data');
  await mkdir(join(dataDir, 'uploads'), { recursive: true });
  await writeFile(join(dataDir, 'uploads', 'f1_a.txt'), 'an upload\n');
  expect(spawnSync('python3', ['-c', STOPPED_INSTALL, dataDir]).status).toBe(0);
  captures = [];
});

afterEach(async () => {
  for (const c of captures) await c.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function captureOf(env: NodeJS.ProcessEnv, opts: { secretKeyFile?: string; cwd?: string } = {}): Promise<Capture> {
  const dep = await locateDir(dataDir, { env, cwd: opts.cwd ?? join(root, 'elsewhere'), ...(opts.secretKeyFile ? { secretKeyFile: opts.secretKeyFile } : {}) });
  const c = await captureDeployment(dep, { stagingRoot: join(root, 'staging'), stateDir: join(root, 'state'), quiesce: 'stop' });
  captures.push(c);
  return c;
}

describe('captureDeployment of a plain (pip) data folder', () => {
  it("finds the key where `open-webui serve` wrote it (two levels up); a stopped install's files stay as they were; no audit.log, no warning about it", async () => {
    const key = 'q3Rk0xW8yZ1mN5pL7vB2cD4fG6hJ9kM0'; // 32 chars, no newline, as pip writes it
    await writeFile(join(root, 'home', '.webui_secret_key'), key);
    const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    const before = { db: sha(join(dataDir, 'webui.db')), wal: sha(join(dataDir, 'webui.db-wal')) };

    const c = await captureOf({});
    expect(c.manifest.secret_key).toEqual({ captured: true, source: 'file' });
    const secret = c.items.find((i) => i.target === '/secret/.webui_secret_key')!;
    expect(await readFile(secret.source!, 'utf8')).toBe(key);
    expect(c.manifest.table_rows.chat).toBe(20);
    // No container to quiesce is the only warning: nothing about a missing audit.log or key.
    expect(c.manifest.warnings).toEqual([expect.stringMatching(/^no container to quiesce/)]);
    expect(existsSync(join(dataDir, 'webui.db-wal'))).toBe(true);
    expect(sha(join(dataDir, 'webui.db-wal'))).toBe(before.wal);
    expect(sha(join(dataDir, 'webui.db'))).toBe(before.db);
  });

  it('an explicit key file wins; a missing key names where Open WebUI writes it and how to pass it', async () => {
    await writeFile(join(root, 'home', '.webui_secret_key'), 'not-this-one');
    await writeFile(join(root, 'mykey'), 'explicit-key\n');
    const explicit = await captureOf({}, { secretKeyFile: join(root, 'mykey') });
    expect(await readFile(explicit.items.find((i) => i.target === '/secret/.webui_secret_key')!.source!, 'utf8')).toBe('explicit-key\n');

    await rm(join(root, 'home', '.webui_secret_key'));
    const none = await captureOf({});
    expect(none.manifest.secret_key).toEqual({ captured: false, source: 'none' });
    const warning = none.manifest.warnings.find((w) => w.includes('secret key'))!;
    expect(warning).toContain('directory it was started from');
    expect(warning).toContain('--secret-key-file');
    expect(warning).toContain(join(root, 'home', '.open-webui', '.webui_secret_key'));
    expect(warning).toContain(join(root, 'home', '.webui_secret_key'));
    expect(warning).not.toContain('\n');
  });

  it('takes the deprecated WEBUI_JWT_SECRET_KEY from the env as the key', async () => {
    const c = await captureOf({ WEBUI_JWT_SECRET_KEY: 'jwt-secret' });
    expect(c.manifest.secret_key).toEqual({ captured: true, source: 'env' });
  });

  it('records pgvector as the slim image default vector store', async () => {
    expect((await captureOf({ USE_SLIM_DOCKER: 'true' })).manifest.vector_db).toEqual({ type: 'pgvector', captured: true });
    expect((await captureOf({})).manifest.vector_db).toEqual({ type: 'chroma', captured: true });
  });

  it('refuses an SQLCipher database before copying anything', async () => {
    await expect(captureOf({ DATABASE_TYPE: 'sqlite+sqlcipher', DATABASE_PASSWORD: 'pw' })).rejects.toThrow(OwbError);
    await expect(captureOf({ DATABASE_TYPE: 'sqlite+sqlcipher', DATABASE_PASSWORD: 'pw' })).rejects.toThrow(/^DATABASE_TYPE=sqlite\+sqlcipher/);
    expect(await readdir(join(root, 'staging')).catch(() => [])).toEqual([]);
  });
});
