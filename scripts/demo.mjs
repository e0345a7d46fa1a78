#!/usr/bin/env node
/**
 * The embedded default job: back up a generated sample Open WebUI deployment (a data folder with a real SQLite
 * webui.db and Chroma database, uploads and a secret key next to it, as a pip install has) with `--source` into a
 * local repository, change it, back it up again, restore the latest snapshot and verify it (files byte for byte,
 * databases row for row), then check the repository. Everything lives under ./.owb-demo, easy to inspect and delete.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, lstatSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import Database from 'better-sqlite3';

const root = resolve('.owb-demo');
const sample = join(root, 'sample', 'data');
const repo = join(root, 'repo');
const passwordFile = join(root, 'password');
const cli = resolve('dist', 'cli', 'main.js');

/** A deterministic PRNG so the sample is the same on every machine. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32);
}

function makeSample() {
  rmSync(join(root, 'sample'), { recursive: true, force: true });
  const rnd = prng(42);
  const words = ['backup', 'restore', 'chat', 'model', 'llama', 'prompt', 'vector', 'upload', 'secret', 'daily'];
  const text = (n) => Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
  mkdirSync(join(sample, 'uploads'), { recursive: true });
  mkdirSync(join(sample, 'vector_db', '6f1c2a4e-demo-collection'), { recursive: true });
  mkdirSync(join(sample, 'cache', 'embedding', 'models'), { recursive: true });
  // A webui.db shaped like Open WebUI's (its alembic head of 0.12.4, users, chats, files), in WAL mode as it runs.
  const db = new Database(join(sample, 'webui.db'));
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
    INSERT INTO alembic_version VALUES ('0bd252b206fb');
    CREATE TABLE user (id TEXT PRIMARY KEY, email TEXT, name TEXT, role TEXT);
    CREATE TABLE chat (id TEXT PRIMARY KEY, user_id TEXT, title TEXT, chat TEXT);
    CREATE TABLE file (id TEXT PRIMARY KEY, user_id TEXT, filename TEXT, path TEXT);`);
  db.prepare('INSERT INTO user VALUES (?, ?, ?, ?)').run('u1', 'admin@example.org', 'Admin', 'admin');
  const chat = db.prepare('INSERT INTO chat VALUES (?, ?, ?, ?)');
  for (let i = 0; i < 200; i++) chat.run(`c${i}`, 'u1', `Chat ${i}`, JSON.stringify({ messages: [{ role: 'user', content: text(200) }] }));
  const file = db.prepare('INSERT INTO file VALUES (?, ?, ?, ?)');
  for (let i = 0; i < 25; i++) file.run(`${1000 + i}`, 'u1', `notes-${i}.md`, join(sample, 'uploads', `${1000 + i}_notes-${i}.md`));
  db.close();
  for (let i = 0; i < 25; i++) writeFileSync(join(sample, 'uploads', `${1000 + i}_notes-${i}.md`), `# Notes ${i}\n\n${text(2000 + i * 50)}\n`);
  writeFileSync(join(sample, 'uploads', '2000_photo.bin'), randomBytes(3 * 1024 * 1024));
  const chroma = new Database(join(sample, 'vector_db', 'chroma.sqlite3'));
  chroma.exec("CREATE TABLE segments (id TEXT PRIMARY KEY, collection TEXT); INSERT INTO segments VALUES ('6f1c2a4e-demo-collection', 'knowledge-demo');");
  chroma.close();
  // Where `open-webui serve` keeps it when started from the folder above the data folder.
  writeFileSync(join(sample, '..', '.webui_secret_key'), randomBytes(24).toString('base64'));
  for (const f of ['header.bin', 'data_level0.bin', 'length.bin', 'link_lists.bin']) {
    writeFileSync(join(sample, 'vector_db', '6f1c2a4e-demo-collection', f), randomBytes(64 * 1024));
  }
  writeFileSync(join(sample, 'audit.log'), `${text(5000)}\n`);
  writeFileSync(join(sample, 'cache', 'embedding', 'models', 'README'), 're-downloadable model cache\n');
  symlinkSync('models/README', join(sample, 'cache', 'embedding', 'current'));
  writeFileSync(join(sample, 'empty-file'), '');
  mkdirSync(join(sample, 'empty-dir'));
}

function owb(args, { allowFail = false } = {}) {
  console.log(`\n$ owb ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...args], {
    stdio: 'inherit',
    env: { ...process.env, OWB_REPOSITORY: repo, OWB_PASSWORD_FILE: passwordFile },
  });
  if (r.status !== 0 && !allowFail) {
    console.error(`\ndemo: "owb ${args[0]}" failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
  return r.status;
}

/** path → "type:mode:size:sha256|linktarget" for every entry under dir. */
function fingerprint(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `link:${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir:${(st.mode & 0o7777).toString(8)}`);
        walk(p);
      } else out.set(rel, `file:${(st.mode & 0o7777).toString(8)}:${st.size}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

if (!existsSync(cli)) {
  console.error('demo: dist/ is missing; run "npm run build" first (npm run demo does this)');
  process.exit(1);
}
mkdirSync(root, { recursive: true });
if (!existsSync(passwordFile)) {
  writeFileSync(passwordFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
}
makeSample();
if (!existsSync(join(repo, 'config'))) owb(['init']);
owb(['backup', '--source', sample, '--tag', 'demo']);
writeFileSync(join(sample, 'uploads', '1003_notes-3.md'), `# Notes 3 (edited)\n\n${'new text '.repeat(500)}\n`);
owb(['backup', '--source', sample, '--tag', 'demo']);
owb(['snapshots']);
const target = join(root, `restore-${Date.now()}`);
owb(['restore', 'latest', '--target', target]);
owb(['check', '--read-data']);

// The snapshot holds /data (the data folder, without the re-downloadable cache/) and /secret (the key). The
// databases were copied through SQLite's backup API, so they are compared row for row, everything else byte for byte.
const rows = (path) => {
  const d = new Database(path, { readonly: true });
  try {
    const tables = d.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((t) => t.name);
    return JSON.stringify(tables.map((t) => [t, d.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
  } finally {
    d.close();
  }
};
const want = fingerprint(sample);
const got = fingerprint(join(target, 'data'));
const skipped = (k) => k === 'cache' || k.startsWith('cache/') || /^webui\.db-(wal|shm)$/.test(k) || k === 'webui.db' || k === 'vector_db/chroma.sqlite3';
const diffs = [...new Set([...want.keys(), ...got.keys()])].filter((k) => !skipped(k) && want.get(k) !== got.get(k));
for (const db of ['webui.db', 'vector_db/chroma.sqlite3']) if (rows(join(sample, db)) !== rows(join(target, 'data', db))) diffs.push(db);
if (readFileSync(join(sample, '..', '.webui_secret_key'), 'utf8') !== readFileSync(join(target, 'secret', '.webui_secret_key'), 'utf8')) diffs.push('.webui_secret_key');
if (diffs.length > 0) {
  console.error(`\ndemo: restore differs from the source at: ${diffs.slice(0, 10).join(', ')}`);
  process.exit(1);
}
console.log(`\nDemo complete: an Open WebUI data folder (${want.size} entries) and its secret key restored to ${target} and verified.`);
console.log(`Repository: ${repo}  (password in ${passwordFile}; delete ${root} to start over)`);
