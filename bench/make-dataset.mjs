#!/usr/bin/env node
// Deterministic generator of the mixed benchmark dataset (text, SQLite, incompressible binary, many small
// files) and of the ~1 % mutation applied before the second backup.
//
//   node bench/make-dataset.mjs <dir> [--size-mib 1024] [--seed 1]   generate into <dir> (must not exist)
//   node bench/make-dataset.mjs <dir> --mutate [fraction]              mutate an existing tree (default 0.01)
//
// Everything is derived from the seed: a small PRNG (sfc32) drives structure and text, AES-256-CTR keystreams
// keyed from the seed produce incompressible bytes, and python3's seeded `random` builds the SQLite files.
// Same seed + same size => same tree (the SQLite files are byte-identical for a given SQLite library).

import { createCipheriv, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const KiB = 1024;
const MiB = 1024 * KiB;
/** All generated files get mtimes counted from here, so that two generations are identical. */
const BASE_MTIME = Date.UTC(2024, 0, 1) / 1000;

// ---------------------------------------------------------------------------------------------------------
// Randomness

/** sfc32 seeded through splitmix32; returns a function yielding uint32. */
export function prng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** Helpers over a uint32 generator. */
function rngTools(next) {
  return {
    next,
    /** Integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)),
    float: () => next() / 4294967296,
    pick: (arr) => arr[Math.floor((next() / 4294967296) * arr.length)],
    hex: (n) => {
      let s = '';
      while (s.length < n) s += next().toString(16).padStart(8, '0');
      return s.slice(0, n);
    },
  };
}

/** Deterministic incompressible bytes: the AES-256-CTR keystream for a key derived from `label`. */
export function keystream(label) {
  const key = createHash('sha256').update(`owb-bench:${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  return (n) => {
    const parts = [];
    let left = n;
    while (left > 0) {
      const k = Math.min(left, zeros.length);
      parts.push(cipher.update(zeros.subarray(0, k)));
      left -= k;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  };
}

// ---------------------------------------------------------------------------------------------------------
// Word-like text

const ONSETS = ['b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z',
  'br', 'ch', 'cl', 'dr', 'fl', 'gr', 'pl', 'pr', 'sh', 'st', 'th', 'tr', ''];
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ou', 'io', 'y'];
const CODAS = ['', '', '', 'n', 'r', 's', 't', 'l', 'nd', 'st', 'ng', 'rt', 'm'];

function zipfTable(n, exponent) {
  const weights = Array.from({ length: n }, (_, r) => 1 / Math.pow(r + 1, exponent));
  const total = weights.reduce((s, w) => s + w, 0);
  const table = new Uint16Array(65536);
  let acc = 0, j = 0;
  for (let i = 0; i < 65536; i++) {
    const u = (i + 0.5) / 65536;
    while (j < n - 1 && (acc + weights[j]) / total < u) { acc += weights[j]; j++; }
    table[i] = j;
  }
  return table;
}

/**
 * A vocabulary with Zipf-like word frequencies plus a pool of recurring phrases (also Zipf-distributed), with
 * 64 Ki-entry lookup tables for O(1) sampling. Phrase reuse is what makes the text compress like real prose
 * (gzip ~4-5x) rather than like a bag of random words (~2x).
 */
function makeVocabulary(rnd, size = 3000, nPhrases = 2000) {
  const seen = new Set();
  const words = [];
  while (words.length < size) {
    const syl = rnd.pick([1, 1, 2, 2, 2, 3, 3, 4]);
    let w = '';
    for (let i = 0; i < syl; i++) w += rnd.pick(ONSETS) + rnd.pick(NUCLEI) + (i === syl - 1 ? rnd.pick(CODAS) : '');
    if (!seen.has(w)) { seen.add(w); words.push(w); }
  }
  // Short words are the frequent ones, as in natural language.
  words.sort((x, y) => x.length - y.length || (x < y ? -1 : 1));
  const table = zipfTable(words.length, 1.1);
  const phrases = [];
  for (let i = 0; i < nPhrases; i++) {
    const n = rnd.int(2, 6);
    const p = [];
    for (let k = 0; k < n; k++) p.push(words[table[rnd.next() & 0xffff]]);
    phrases.push({ text: p.join(' '), words: n });
  }
  const v = { words, table, phrases, phraseTable: zipfTable(nPhrases, 1.1) };
  v.logTemplates = Array.from({ length: 400 }, () => sentence(rnd, v, rnd.int(3, 12)));
  v.logTable = zipfTable(400, 1.0);
  return v;
}

function sentence(rnd, vocab, n) {
  const { words, table, phrases, phraseTable } = vocab;
  let s = '';
  let c = 0;
  while (c < n) {
    if (rnd.next() < 0.85 * 4294967296) {
      const p = phrases[phraseTable[rnd.next() & 0xffff]];
      s += (c ? ' ' : '') + p.text;
      c += p.words;
    } else {
      s += (c ? ' ' : '') + words[table[rnd.next() & 0xffff]];
      c++;
    }
  }
  return s[0].toUpperCase() + s.slice(1) + rnd.pick(['.', '.', '.', '.', '?', '!', ':']);
}

const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'INFO ', 'DEBUG', 'DEBUG', 'WARN ', 'ERROR'];
const COMPONENTS = ['http', 'auth', 'db.pool', 'scheduler', 'rag.retriever', 'ollama.client', 'socket', 'storage',
  'models', 'chat.completion', 'web.search', 'audio'];

/** Writes `bytes` of log-style lines; `t0` is the first timestamp (ms). Returns the last timestamp. */
function writeLogText(fd, rnd, vocab, bytes, t0) {
  let t = t0;
  let written = 0;
  while (written < bytes) {
    let chunk = '';
    while (chunk.length < 256 * KiB) {
      t += rnd.int(1, 900);
      const lvl = rnd.pick(LEVELS);
      const msg = rnd.int(0, 9) < 8 ? vocab.logTemplates[vocab.logTable[rnd.next() & 0xffff]] : sentence(rnd, vocab, rnd.int(4, 16));
      let line = `${new Date(t).toISOString()} ${lvl} [${rnd.pick(COMPONENTS)}] ${msg}`;
      const r = rnd.int(0, 9);
      if (r < 4) line += ` request_id=${rnd.hex(12)} user=${rnd.int(1, 250)} duration_ms=${rnd.int(1, 4000)}`;
      else if (r < 6) line += ` path=/api/v1/${rnd.pick(vocab.words.slice(0, 60))}/${rnd.int(1, 99999)} status=${rnd.pick([200, 200, 200, 201, 204, 304, 400, 401, 404, 500])}`;
      chunk += line + '\n';
    }
    const buf = Buffer.from(chunk.slice(0, Math.max(0, Math.min(chunk.length, bytes - written))), 'latin1');
    fs.writeSync(fd, buf);
    written += buf.length;
  }
  return t;
}

/** Markdown-ish prose: headings, paragraphs, bullet lists. */
function proseText(rnd, vocab, bytes) {
  let s = '';
  while (s.length < bytes) {
    const k = rnd.int(0, 9);
    if (k === 0) s += `\n## ${sentence(rnd, vocab, rnd.int(2, 6)).slice(0, -1)}\n\n`;
    else if (k < 3) {
      const items = rnd.int(2, 6);
      for (let i = 0; i < items; i++) s += `- ${sentence(rnd, vocab, rnd.int(3, 12))}\n`;
      s += '\n';
    } else {
      const n = rnd.int(2, 7);
      let p = '';
      for (let i = 0; i < n; i++) p += (i ? ' ' : '') + sentence(rnd, vocab, rnd.int(5, 22));
      s += p + '\n\n';
    }
  }
  return s.slice(0, bytes);
}

/** A small JSON configuration/metadata document of about `bytes`. */
function jsonText(rnd, vocab, bytes) {
  const items = [];
  let len = 0;
  while (len < bytes) {
    const item = {
      id: rnd.hex(24),
      name: sentence(rnd, vocab, rnd.int(1, 4)).slice(0, -1),
      enabled: rnd.int(0, 1) === 1,
      created_at: 1700000000 + rnd.int(0, 30000000),
      params: { temperature: rnd.int(0, 20) / 10, top_k: rnd.int(1, 100), tags: [rnd.pick(vocab.words), rnd.pick(vocab.words)] },
      description: sentence(rnd, vocab, rnd.int(4, 25)),
    };
    const s = JSON.stringify(item, null, 2);
    items.push(s);
    len += s.length + 4;
  }
  return ('[\n' + items.join(',\n') + '\n]\n').slice(0, Math.max(bytes, 2));
}

// ---------------------------------------------------------------------------------------------------------
// SQLite through python3

const PY_SQLITE = String.raw`
import sys, json, sqlite3, random, os, array
a = json.loads(sys.argv[1])
rng = random.Random(a['seed'])
ON = ['b','c','d','f','g','h','k','l','m','n','p','r','s','t','v','w','br','ch','st','tr','pl','gr','']
NU = ['a','e','i','o','u','ai','ea','ou','y']
CO = ['','','','n','r','s','t','l','nd','st','ng']
seen = set(); words = []
vrng = random.Random(12345)
while len(words) < 5000:
    n = vrng.choice([1,1,2,2,2,3,3,4])
    w = ''.join(vrng.choice(ON) + vrng.choice(NU) for _ in range(n)) + vrng.choice(CO)
    if w not in seen:
        seen.add(w); words.append(w)
words.sort(key=lambda w: (len(w), w))
cw = []; acc = 0.0
for r in range(len(words)):
    acc += 1.0 / (r + 1) ** 1.07; cw.append(acc)
def text(n):
    return ' '.join(rng.choices(words, cum_weights=cw, k=n))
def uid():
    h = '%032x' % rng.getrandbits(128)
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
MODELS = ['llama3.1:8b', 'qwen2.5:14b', 'mistral-nemo:12b', 'gpt-4o-mini', 'phi4:14b', 'deepseek-r1:7b']
T0 = 1704067200

def webui_schema(db):
    db.executescript('''
    PRAGMA page_size=4096;
    CREATE TABLE user (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
      profile_image_url TEXT, settings TEXT, created_at INTEGER, updated_at INTEGER, last_active_at INTEGER);
    CREATE TABLE chat (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, title TEXT, chat TEXT, created_at INTEGER,
      updated_at INTEGER, share_id TEXT UNIQUE, archived INTEGER DEFAULT 0, pinned INTEGER DEFAULT 0, meta TEXT,
      folder_id TEXT);
    CREATE INDEX chat_user_updated ON chat(user_id, updated_at);
    CREATE INDEX chat_folder ON chat(folder_id);
    CREATE TABLE message (id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, parent_id TEXT, role TEXT NOT NULL,
      model TEXT, content TEXT NOT NULL, created_at INTEGER, usage TEXT);
    CREATE INDEX message_chat ON message(chat_id, created_at);
    CREATE INDEX message_model_time ON message(model, created_at);
    ''')

def add_users(db, n):
    rows = []
    for i in range(n):
        nm = text(2).title()
        rows.append((uid(), nm, '%s.%d@example.org' % (nm.replace(' ', '.').lower(), i), rng.choice(['user']*8 + ['admin', 'pending']),
                     '/user/avatar/%d.png' % i, json.dumps({'ui': {'theme': rng.choice(['dark', 'light', 'system']), 'lang': 'en'}}),
                     T0 + rng.randrange(10**7), T0 + rng.randrange(10**7), T0 + rng.randrange(3 * 10**7)))
    db.executemany('INSERT INTO user VALUES (?,?,?,?,?,?,?,?,?)', rows)
    return [r[0] for r in rows]

def add_chats(db, users, nbytes, t_base):
    """Inserts chats (and their messages) until about nbytes of row payload were added."""
    added = 0
    while added < nbytes:
        chats = []; msgs = []
        for _ in range(200):
            if added >= nbytes:
                break
            cid = uid(); user = rng.choice(users); t = t_base + rng.randrange(3 * 10**7)
            history = []; parent = None
            for m in range(rng.randint(2, 24)):
                role = 'user' if m % 2 == 0 else 'assistant'
                model = rng.choice(MODELS)
                content = text(rng.randint(4, 60) if role == 'user' else rng.randint(40, 420))
                mid = uid(); t += rng.randint(5, 600)
                usage = json.dumps({'prompt_tokens': rng.randint(10, 4000), 'completion_tokens': rng.randint(10, 2000)}) if role == 'assistant' else None
                msgs.append((mid, cid, parent, role, model, content, t, usage))
                history.append({'id': mid, 'parentId': parent, 'role': role, 'content': content, 'model': model, 'timestamp': t})
                parent = mid
                added += len(content) + 150
            title = text(rng.randint(2, 7)).capitalize()
            chat = json.dumps({'title': title, 'models': [history[-1]['model']], 'messages': history, 'params': {}})
            added += len(chat)
            chats.append((cid, user, title, chat, history[0]['timestamp'], t, uid() if rng.random() < 0.05 else None,
                          1 if rng.random() < 0.1 else 0, 1 if rng.random() < 0.03 else 0, json.dumps({'tags': [rng.choice(words)]}),
                          'f%02d' % rng.randrange(40) if rng.random() < 0.4 else None))
        db.executemany('INSERT INTO chat VALUES (?,?,?,?,?,?,?,?,?,?,?)', chats)
        db.executemany('INSERT INTO message VALUES (?,?,?,?,?,?,?,?)', msgs)
        db.commit()
    return added

def build_webui(path, target):
    db = sqlite3.connect(path)
    webui_schema(db)
    users = add_users(db, 200)
    db.commit()
    while os.path.getsize(path) < target:
        add_chats(db, users, min(8 << 20, max(1 << 20, target - os.path.getsize(path))), T0)
    db.close()

VECTOR_SCHEMA = '''
    PRAGMA page_size=4096;
    CREATE TABLE document (id INTEGER PRIMARY KEY, collection TEXT NOT NULL, filename TEXT NOT NULL, meta TEXT, created_at INTEGER);
    CREATE TABLE embedding (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL, document_id INTEGER NOT NULL REFERENCES document(id),
      chunk_index INTEGER, text TEXT, vector BLOB);
    CREATE INDEX embedding_doc ON embedding(document_id, chunk_index);
    CREATE INDEX document_collection ON document(collection, filename);
'''

def add_documents(db, doc, nbytes, t_base):
    """Appends documents and their embedding rows (monotonic keys) until about nbytes were added."""
    added = 0
    while added < nbytes:
        doc += 1
        db.execute('INSERT INTO document VALUES (?,?,?,?,?)', (doc, 'kb-%02d' % rng.randrange(12), text(2).replace(' ', '_') + '.pdf',
                   json.dumps({'pages': rng.randint(1, 300), 'lang': 'en'}), t_base + rng.randrange(3 * 10**7)))
        rows = []
        for c in range(rng.randint(3, 30)):
            vec = array.array('f', [rng.random() * 0.2 - 0.1 for _ in range(384)]).tobytes()
            chunk = text(rng.randint(60, 160))
            rows.append((None, uid(), doc, c, chunk, vec))
            added += len(chunk) + len(vec) + 60
        db.executemany('INSERT INTO embedding VALUES (?,?,?,?,?,?)', rows)
        if doc % 50 == 0:
            db.commit()
    db.commit()
    return doc, added

def build_vectors(path, target):
    db = sqlite3.connect(path)
    db.executescript(VECTOR_SCHEMA)
    doc = 0
    while os.path.getsize(path) < target:
        doc, _ = add_documents(db, doc, min(4 << 20, max(256 << 10, target - os.path.getsize(path))), T0)
    db.close()

def mutate_vectors(path, nbytes):
    """New documents ingested into the knowledge base: rows appended at the end of the tables and indexes."""
    db = sqlite3.connect(path)
    doc = db.execute('SELECT max(id) FROM document').fetchone()[0] or 0
    _, added = add_documents(db, doc, nbytes, T0 + 4 * 10**7)
    db.close()
    return added

mode = a['mode']
if mode == 'webui':
    build_webui(a['path'], a['bytes'])
elif mode == 'vectors':
    build_vectors(a['path'], a['bytes'])
elif mode == 'mutate':
    print(mutate_vectors(a['path'], a['bytes']))
`;

function python(args) {
  const r = spawnSync('python3', ['-c', PY_SQLITE, JSON.stringify(args)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`python3 could not be started (${r.error.message}); it is needed to build the SQLite files`);
  if (r.status !== 0) throw new Error(`python3 sqlite step ${args.mode} failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------------------------------------
// Generation

function writeFile(file, data, mtime) {
  fs.writeFileSync(file, data);
  if (mtime !== undefined) fs.utimesSync(file, mtime, mtime);
}

/** Sets every directory's mtime (deepest first) so two generations are identical. */
function fixDirTimes(dir, mtime) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) fixDirTimes(path.join(dir, e.name), mtime);
  }
  fs.utimesSync(dir, mtime, mtime);
}

/**
 * Generates the dataset into `dir` (created; must not exist or be empty).
 * Returns a summary: bytes and file counts per category.
 */
export async function makeDataset(dir, { sizeMiB = 1024, seed = 1, log = () => {} } = {}) {
  const total = Math.round(sizeMiB * MiB);
  const scale = total / (1024 * MiB);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty`);
  fs.mkdirSync(dir, { recursive: true });
  const rnd = rngTools(prng(seed));
  const vocab = makeVocabulary(rngTools(prng(seed * 7919 + 17)));
  let mt = BASE_MTIME;
  const summary = { sizeMiB, seed, categories: {} };
  const cat = (name) => (summary.categories[name] ??= { files: 0, bytes: 0 });

  // 1. Incompressible binary: ~30 %, one file of ~200 MiB (at 1 GiB) plus a few smaller ones.
  log('binary files');
  fs.mkdirSync(path.join(dir, 'binary'));
  const binSizes = [200, 48, 28, 16, 8, 7].map((m) => Math.max(64 * KiB, Math.round(m * MiB * scale)));
  binSizes.forEach((size, i) => {
    const file = path.join(dir, 'binary', i === 0 ? 'media-00.bin' : `blob-${String(i).padStart(2, '0')}.bin`);
    const fd = fs.openSync(file, 'w');
    const ks = keystream(`${seed}:binary:${i}`);
    for (let left = size; left > 0; left -= 4 * MiB) fs.writeSync(fd, ks(Math.min(4 * MiB, left)));
    fs.closeSync(fd);
    fs.utimesSync(file, mt, mt); mt += 60;
    cat('binary').files++; cat('binary').bytes += size;
  });

  // 2. SQLite: ~25 %, an Open WebUI-like database (chats, messages) and a vector store.
  log('sqlite databases (python3)');
  fs.mkdirSync(path.join(dir, 'sqlite'));
  const sqlTotal = Math.round(total * 0.25);
  for (const [mode, name, share, s] of [['webui', 'webui.db', 0.72, 1], ['vectors', 'vector.db', 0.28, 2]]) {
    const file = path.join(dir, 'sqlite', name);
    python({ mode, path: file, bytes: Math.round(sqlTotal * share), seed: seed * 1000 + s });
    fs.utimesSync(file, mt, mt); mt += 60;
    cat('sqlite').files++; cat('sqlite').bytes += fs.statSync(file).size;
  }

  // 3. Many small files: ~15 %, 20 000 files (at 1 GiB) of 1-16 KiB in nested folders.
  log('small files');
  const nSmall = Math.max(50, Math.round(20000 * scale));
  const small = path.join(dir, 'small');
  const madeDirs = new Set();
  for (let i = 0; i < nSmall; i++) {
    let sub = `u${String(rnd.int(0, 23)).padStart(2, '0')}/${rnd.pick(['chats', 'uploads', 'cache', 'functions', 'knowledge'])}-${rnd.int(0, 7)}`;
    if (rnd.int(0, 3) === 0) sub += `/part-${rnd.int(0, 4)}`;
    const d = path.join(small, sub);
    if (!madeDirs.has(d)) { fs.mkdirSync(d, { recursive: true }); madeDirs.add(d); }
    const size = rnd.int(1 * KiB, 16 * KiB);
    const kind = rnd.int(0, 9);
    let name, data;
    if (kind < 4) { name = `item-${i}.json`; data = Buffer.from(jsonText(rnd, vocab, size), 'latin1'); }
    else if (kind < 7) { name = `note-${i}.md`; data = Buffer.from(proseText(rnd, vocab, size), 'latin1'); }
    else { name = `thumb-${i}.webp`; data = keystream(`${seed}:small:${i}`)(size); }
    writeFile(path.join(d, name), data, mt + i);
    cat('small').files++; cat('small').bytes += data.length;
  }
  mt += nSmall;

  // 4. Text: the remainder (~30 %): a few large logs and many markdown documents.
  log('text files');
  const textBudget = total - cat('binary').bytes - cat('sqlite').bytes - cat('small').bytes;
  fs.mkdirSync(path.join(dir, 'text', 'logs'), { recursive: true });
  const logBudget = Math.round(textBudget * 0.45);
  const nLogs = 6;
  let t = Date.UTC(2024, 0, 1);
  for (let i = 0; i < nLogs; i++) {
    const size = Math.round(logBudget / nLogs);
    const file = path.join(dir, 'text', 'logs', `server-${String(i).padStart(2, '0')}.log`);
    const fd = fs.openSync(file, 'w');
    t = writeLogText(fd, rnd, vocab, size, t);
    fs.closeSync(fd);
    fs.utimesSync(file, mt, mt); mt += 60;
    cat('text').files++; cat('text').bytes += size;
  }
  let docLeft = textBudget - cat('text').bytes;
  let doc = 0;
  while (docLeft > 0) {
    const size = Math.min(docLeft, rnd.int(64 * KiB, 4 * MiB));
    const d = path.join(dir, 'text', 'docs', `section-${String(doc % 12).padStart(2, '0')}`);
    fs.mkdirSync(d, { recursive: true });
    writeFile(path.join(d, `doc-${String(doc).padStart(4, '0')}.md`), Buffer.from(proseText(rnd, vocab, size), 'latin1'), mt);
    mt += 1; doc++;
    cat('text').files++; cat('text').bytes += size;
    docLeft -= size;
  }

  fixDirTimes(dir, BASE_MTIME);
  summary.files = Object.values(summary.categories).reduce((s, c) => s + c.files, 0);
  summary.bytes = Object.values(summary.categories).reduce((s, c) => s + c.bytes, 0);
  summary.largestFile = binSizes[0];
  summary.compressibility = measureCompressibility(dir);
  return summary;
}

/** gzip -6 ratio of a 4 MiB sample of each category (for the report). */
function measureCompressibility(dir) {
  const sample = (files) => {
    const parts = [];
    let n = 0;
    for (const f of files) {
      if (n >= 4 * MiB) break;
      const b = fs.readFileSync(f).subarray(0, 4 * MiB - n);
      parts.push(b); n += b.length;
    }
    const raw = Buffer.concat(parts);
    return raw.length ? +(raw.length / gzipSync(raw, { level: 6 }).length).toFixed(2) : null;
  };
  const all = listFiles(dir);
  const pick = (prefix) => all.filter((f) => f.startsWith(prefix)).map((f) => path.join(dir, f));
  // Text: interleave log and doc files so both kinds are in the sample.
  const logs = pick('text/logs/'), docs = pick('text/docs/');
  const textMix = [];
  for (let i = 0; i < Math.max(logs.length, docs.length); i++) { if (docs[i]) textMix.push(docs[i]); if (logs[i]) textMix.push(logs[i]); }
  return {
    text: sample(textMix),
    sqlite: sample(pick('sqlite/webui.db')),
    binary: sample(pick('binary/')),
    small: sample(pick('small/').filter((_, i) => i % 7 === 0)),
  };
}

/** Relative paths of all regular files under `dir`, sorted. */
export function listFiles(dir, rel = '') {
  const out = [];
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Mutation

/**
 * Changes about `fraction` of the data, deterministically:
 * - rewrites a 1 MiB region (scaled down for small datasets) in the middle of the big binary file,
 * - appends rows to the SQLite vector store (via python3),
 * - appends lines to two log files,
 * - modifies a few hundred small files and adds a few new ones.
 * Returns a summary of what changed.
 */
export function mutate(dir, fraction = 0.01, { seed = 1 } = {}) {
  const rnd = rngTools(prng(seed * 31337 + 5));
  const vocab = makeVocabulary(rngTools(prng(seed * 7919 + 17)));
  const files = listFiles(dir);
  const total = files.reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
  const budget = total * fraction;
  const out = { fraction, datasetBytes: total };

  // Big binary: overwrite a region in the middle, in place (same size).
  const big = path.join(dir, 'binary', 'media-00.bin');
  const bigSize = fs.statSync(big).size;
  const region = Math.min(MiB, Math.max(64 * KiB, Math.round(budget * 0.1)), bigSize);
  const fd = fs.openSync(big, 'r+');
  fs.writeSync(fd, keystream(`${seed}:mutate:big`)(region), 0, region, Math.floor((bigSize - region) / 2));
  fs.closeSync(fd);
  out.binaryRegionBytes = region;

  // SQLite: rows appended to the vector store (monotonic keys, so mostly the end of the file changes).
  out.sqliteRowBytesAdded = Number(python({ mode: 'mutate', path: path.join(dir, 'sqlite', 'vector.db'), bytes: Math.round(budget * 0.4), seed: seed * 1000 + 99 }));

  // Logs: append to the first two, as a running server does.
  const logs = files.filter((f) => f.startsWith('text/logs/')).slice(0, 2);
  out.logBytesAppended = 0;
  for (const f of logs) {
    const lfd = fs.openSync(path.join(dir, f), 'a');
    const n = Math.round((budget * 0.1) / logs.length);
    writeLogText(lfd, rnd, vocab, n, Date.UTC(2024, 6, 1));
    fs.closeSync(lfd);
    out.logBytesAppended += n;
  }

  // Small files: modify ~1.5 x fraction of them, add 0.25 x fraction new ones.
  const small = files.filter((f) => f.startsWith('small/'));
  const nMod = Math.max(1, Math.round(small.length * fraction * 1.5));
  const chosen = new Set();
  while (chosen.size < Math.min(nMod, small.length)) chosen.add(rnd.int(0, small.length - 1));
  out.smallModified = chosen.size;
  out.smallBytesWritten = 0;
  for (const idx of [...chosen].sort((a, b) => a - b)) {
    const f = path.join(dir, small[idx]);
    const size = fs.statSync(f).size;
    if (f.endsWith('.webp')) {
      const data = keystream(`${seed}:mutate:small:${idx}`)(rnd.int(1 * KiB, 16 * KiB));
      fs.writeFileSync(f, data);
      out.smallBytesWritten += data.length;
    } else if (rnd.int(0, 1) === 0) {
      const extra = Buffer.from(`\n${sentence(rnd, vocab, rnd.int(5, 40))}\n`, 'latin1');
      fs.appendFileSync(f, extra);
      out.smallBytesWritten += extra.length;
    } else {
      const data = Buffer.from(f.endsWith('.json') ? jsonText(rnd, vocab, size) : proseText(rnd, vocab, size), 'latin1');
      fs.writeFileSync(f, data);
      out.smallBytesWritten += data.length;
    }
  }
  const nNew = Math.max(1, Math.round(small.length * fraction * 0.25));
  const newDir = path.join(dir, 'small', 'u00', 'chats-new');
  fs.mkdirSync(newDir, { recursive: true });
  for (let i = 0; i < nNew; i++) {
    const data = Buffer.from(jsonText(rnd, vocab, rnd.int(1 * KiB, 16 * KiB)), 'latin1');
    const target = i % 2 === 0 ? newDir : path.dirname(path.join(dir, small[rnd.int(0, small.length - 1)]));
    fs.writeFileSync(path.join(target, `new-item-${i}.json`), data);
    out.smallBytesWritten += data.length;
  }
  out.smallAdded = nNew;
  out.approxBytesChanged = region + out.sqliteRowBytesAdded + out.logBytesAppended + out.smallBytesWritten;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// CLI

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined && !args[i + 1].startsWith('--') ? args[i + 1] : def;
  };
  const dir = args.find((a, i) => !a.startsWith('--') && (i === 0 || !['--size-mib', '--seed', '--mutate'].includes(args[i - 1])));
  if (!dir) {
    console.error('usage: node bench/make-dataset.mjs <dir> [--size-mib 1024] [--seed 1] | <dir> --mutate [fraction]');
    process.exit(2);
  }
  const seed = Number(opt('--seed', 1));
  const t0 = process.hrtime.bigint();
  let result;
  if (args.includes('--mutate')) result = mutate(dir, Number(opt('--mutate', 0.01)), { seed });
  else result = await makeDataset(dir, { sizeMiB: Number(opt('--size-mib', 1024)), seed, log: (m) => console.error(`[dataset] ${m}`) });
  result.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify(result, null, 2));
}
