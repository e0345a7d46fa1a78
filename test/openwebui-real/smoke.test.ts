// The real Open WebUI from PyPI, driven only through its HTTP API, in both deployment shapes: what owb's
// facts about it (DESIGN.md §4) must hold against. Offline: embeddings and chat go to a local fake server.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageMigrations } from '../../src/docker/index.js';
import { FAKE_CHAT_MODEL, fakeReply, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import {
  ChatWriter,
  missingWrites,
  OpenWebuiApiError,
  OpenWebuiClient,
  OpenWebuiLauncher,
  realOpenWebui,
  type ContainerOpenWebui,
  type ProcessOpenWebui,
  type RealService,
} from '../support/openwebui-real/index.js';

let svc: RealService;
let fake: FakeOpenAI;

beforeAll(async () => {
  svc = await realOpenWebui();
  fake = await startFakeOpenAI();
}, 45 * 60_000);

afterAll(async () => {
  await fake?.close();
});

const DOCS = {
  penguins: 'Emperor penguins breed in Antarctica during the winter and dive for krill and fish.',
  tower: 'The Eiffel tower is an iron lattice tower standing on the Champ de Mars in Paris.',
};

/** Reads one value out of a live webui.db (WAL readers see what the server committed). */
function sqlite<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Everything the smoke test does against one running instance. */
async function exercise(inst: ProcessOpenWebui | ContainerOpenWebui, launcher: OpenWebuiLauncher): Promise<void> {
  const rel = svc.release(inst.version);
  const anon = new OpenWebuiClient(inst.baseUrl);
  expect((await anon.version()).version).toBe(inst.version);
  expect(await anon.healthy()).toBe(true);

  // Users: the first signup is the admin; the admin adds a user, who signs in.
  const tag = randomBytes(3).toString('hex');
  const admin = await anon.signup({ name: 'Admin', email: `admin-${tag}@example.com`, password: 'admin-pw-1' });
  expect(admin.role).toBe('admin');
  expect(admin.token).toMatch(/^ey/);
  const added = await anon.as(admin).addUser({ name: 'Bob', email: `bob-${tag}@example.com`, password: 'bob-pw-1', role: 'user' });
  expect(added.role).toBe('user');
  const bobSession = await anon.signin(`bob-${tag}@example.com`, 'bob-pw-1');
  expect(bobSession.id).toBe(added.id);
  const bob = anon.as(bobSession);
  const root = anon.as(admin);

  // Models and completions come from the fake server, through Open WebUI, plain and streamed.
  expect((await root.models()).map((m) => m.id)).toContain(FAKE_CHAT_MODEL);
  const chatsBefore = fake.counts.chat + fake.counts.chatStreamed;
  expect(await root.complete(FAKE_CHAT_MODEL, [{ role: 'user', content: 'Say hello' }])).toBe(fakeReply('Say hello'));
  expect(await root.complete(FAKE_CHAT_MODEL, [{ role: 'user', content: 'Say it again' }], true)).toBe(fakeReply('Say it again'));
  expect(fake.counts.chat + fake.counts.chatStreamed).toBe(chatsBefore + 2);

  // A chat with messages, one more added the way the web UI adds it.
  const chat = await bob.createChat('Trip to Paris', [
    { role: 'user', content: 'What should I see in Paris?' },
    { role: 'assistant', content: 'The Eiffel tower, for a start.' },
  ]);
  const { message } = await bob.addMessage(chat.id, 'user', 'How tall is it?');
  const got = await bob.getChat(chat.id);
  expect(Object.keys(got.chat.history?.messages ?? {})).toHaveLength(3);
  expect(got.chat.history?.currentId).toBe(message.id);
  expect((await bob.listChats()).map((c) => c.id)).toContain(chat.id);
  expect((await root.listChats()).map((c) => c.id)).not.toContain(chat.id);

  // A binary upload comes back byte for byte; it is stored under uploads/ with an absolute path.
  const bytes = randomBytes(48 * 1024);
  const file = await bob.uploadFile('blob.bin', bytes, { contentType: 'application/octet-stream', process: false });
  expect((await bob.fileContent(file.id)).equals(bytes)).toBe(true);
  const stored = (await bob.getFile(file.id)).path ?? file.path;
  expect(stored).toBe(`${inst.appDataDir}/uploads/${file.id}_blob.bin`);
  expect(readFileSync(join(inst.dataDir, 'uploads', basename(stored!))).equals(bytes)).toBe(true);

  // A knowledge base of two documents, embedded by Open WebUI through the fake server, and queried. By the
  // admin: plain users lack the workspace.knowledge permission by default.
  const embeddedBefore = fake.counts.embeddedTexts;
  const docFiles = [];
  for (const [name, text] of Object.entries(DOCS)) {
    const f = await root.uploadFile(`${name}.txt`, text, { contentType: 'text/plain' });
    expect(f.data?.status ?? 'completed').not.toBe('failed');
    docFiles.push(f);
  }
  const kb = await root.createKnowledge(`Facts ${tag}`, 'penguins and towers');
  let kbFiles: string[] = [];
  for (const f of docFiles) kbFiles = ((await root.addFileToKnowledge(kb.id, f.id)).files ?? []).map((x) => x.id);
  expect(kbFiles.sort()).toEqual(docFiles.map((f) => f.id).sort());
  expect((await root.getKnowledge(kb.id)).id).toBe(kb.id);
  expect(fake.counts.embeddedTexts).toBeGreaterThan(embeddedBefore + 3);
  const tower = await root.queryCollections([kb.id], 'Which iron tower stands in Paris?', 1);
  expect(tower.documents[0]).toEqual([DOCS.tower]);
  const penguins = await root.queryCollections([kb.id], 'where do penguins breed and dive for krill', 1);
  expect(penguins.documents[0]).toEqual([DOCS.penguins]);

  // The data directory, as owb reads it.
  const db = join(inst.dataDir, 'webui.db');
  expect(existsSync(db)).toBe(true);
  const facts = sqlite(db, (d) => ({
    journal: String(d.pragma('journal_mode', { simple: true })),
    revision: (d.prepare('SELECT version_num FROM alembic_version').get() as { version_num: string }).version_num,
    tables: (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name),
    paths: (d.prepare('SELECT path FROM file').all() as { path: string }[]).map((r) => r.path),
    chatUser: (d.prepare('SELECT user_id FROM chat WHERE id = ?').get(chat.id) as { user_id: string }).user_id,
    knowledgeFiles: (d.prepare('SELECT count(*) AS n FROM knowledge_file WHERE knowledge_id = ?').get(kb.id) as { n: number }).n,
  }));
  expect(facts.journal).toBe('wal');
  expect(facts.revision).toBe(rel.alembicHead);
  expect(facts.tables).toEqual(expect.arrayContaining(['user', 'auth', 'chat', 'chat_message', 'file', 'knowledge', 'knowledge_file', 'model', 'prompt', 'config', 'tag', 'folder']));
  expect(facts.tables).not.toContain('migratehistory');
  expect(facts.paths).toHaveLength(3);
  for (const p of facts.paths) expect(p.startsWith(`${inst.appDataDir}/uploads/`)).toBe(true);
  expect(facts.chatUser).toBe(bobSession.id);
  expect(facts.knowledgeFiles).toBe(2);

  // Chroma: chroma.sqlite3 plus one folder per vector segment, named by the segment's id.
  const vec = join(inst.dataDir, 'vector_db');
  const chroma = sqlite(join(vec, 'chroma.sqlite3'), (d) => ({
    collections: (d.prepare('SELECT name FROM collections').all() as { name: string }[]).map((r) => r.name),
    segment: (d.prepare("SELECT s.id FROM segments s JOIN collections c ON c.id = s.collection WHERE c.name = ? AND s.scope = 'VECTOR'").get(kb.id) as { id: string }).id,
  }));
  expect(chroma.collections).toEqual(expect.arrayContaining([kb.id, `file-${docFiles[0]!.id}`, 'knowledge-bases']));
  const segDir = join(vec, chroma.segment);
  expect(statSync(segDir).isDirectory()).toBe(true);
  expect(readdirSync(segDir).sort()).toEqual(['data_level0.bin', 'header.bin', 'length.bin', 'link_lists.bin']);

  // The secret key lives outside the data directory in both shapes.
  const key = await inst.readSecretKey();
  expect(key?.trim()).toMatch(/^[A-Za-z0-9+/=]{16,}$/);
  expect(existsSync(join(inst.dataDir, '.webui_secret_key'))).toBe(false);
  if (inst.shape === 'process') {
    expect(dirname(inst.secretKeyPath)).toBe(inst.cwd);
    // Not next to the data folder, where owb's locateDir looks by default.
    expect(existsSync(join(dirname(inst.dataDir), '.webui_secret_key'))).toBe(false);
  } else {
    expect(inst.secretKeyPath).toBe('/app/backend/.webui_secret_key');
    // owb reads the target image's revisions from the migration files in /app/backend/open_webui.
    const migrations = await readImageMigrations(await launcher.dockerClient(), rel.imageId);
    expect(migrations?.heads).toEqual([rel.alembicHead]);
    expect(migrations?.revisions.map((r) => r.revision)).toContain(facts.revision);
  }

  // A writer's acknowledged writes are all in the database.
  const writer = new ChatWriter(bob, { mode: 'message', prefix: `w-${tag}` });
  await writer.start();
  await new Promise((r) => setTimeout(r, 1_500));
  await writer.stop();
  expect(writer.acked.length).toBeGreaterThan(3);
  expect(writer.failed).toEqual([]);
  expect(missingWrites(db, writer.acked)).toEqual([]);

  // Deletions.
  expect(await bob.deleteChat(chat.id)).toBe(true);
  await expect(bob.getChat(chat.id)).rejects.toBeInstanceOf(OpenWebuiApiError);
  expect(await root.deleteKnowledge(kb.id)).toBe(true);
  await expect(root.getKnowledge(kb.id)).rejects.toBeInstanceOf(OpenWebuiApiError);
  const left = sqlite(join(vec, 'chroma.sqlite3'), (d) => (d.prepare('SELECT name FROM collections').all() as { name: string }[]).map((r) => r.name));
  expect(left).not.toContain(kb.id);
  // Chroma drops the collection's rows but leaves its segment folder behind: vector_db/ holds orphans that
  // only chroma.sqlite3's segments table tells apart.
  expect(readdirSync(segDir).length).toBeGreaterThan(0);

  const memory = await inst.memoryBytes();
  expect(memory).toBeGreaterThan(100 * 1024 * 1024);
  const { stopMs } = await inst.stop();
  // uvicorn runs as PID 1's replacement (exec), so SIGTERM stops it cleanly well before docker's kill.
  expect(stopMs).toBeLessThan(15_000);
  console.log(
    `[openwebui-real] ${inst.version} ${inst.shape}: startup ${(inst.startupMs / 1000).toFixed(1)} s, rss ${(memory / 1048576).toFixed(0)} MiB, ` +
      `stop ${(stopMs / 1000).toFixed(1)} s, wal after stop: ${existsSync(`${db}-wal`)}, writes acked ${writer.acked.length}`,
  );
}

describe('real Open WebUI images', () => {
  it('carry their migrations where owb reads them, and the older image does not know the newer head', async () => {
    const launcher = new OpenWebuiLauncher(svc, fake);
    const docker = await launcher.dockerClient();
    const newer = svc.release('0.12.4');
    const older = svc.release('0.10.2');
    expect(newer.alembicHead).not.toBe(older.alembicHead);
    const n = await readImageMigrations(docker, newer.imageId);
    const o = await readImageMigrations(docker, older.imageId);
    expect(n?.heads).toEqual([newer.alembicHead]);
    expect(o?.heads).toEqual([older.alembicHead]);
    // What owb's downgrade refusal relies on: 0.10.2's files lack 0.12.4's head, and 0.12.4 knows all of 0.10.2's.
    expect(o?.revisions.map((r) => r.revision)).not.toContain(newer.alembicHead);
    expect(n?.revisions.map((r) => r.revision)).toEqual(expect.arrayContaining(o!.revisions.map((r) => r.revision)));
  });
});

describe('real Open WebUI from PyPI', () => {
  const cases = [
    { version: '0.12.4', shape: 'process' },
    { version: '0.12.4', shape: 'container' },
    { version: '0.10.2', shape: 'process' },
  ] as const;
  for (const c of cases) {
    it(`${c.version} as a ${c.shape}: users, chats, files and a knowledge base through the API`, async () => {
      const launcher = new OpenWebuiLauncher(svc, fake);
      try {
        const inst = c.shape === 'process' ? await launcher.process(c.version) : await launcher.container(c.version);
        await exercise(inst, launcher);
      } finally {
        await launcher.disposeAll();
      }
    }, 15 * 60_000);
  }
});
