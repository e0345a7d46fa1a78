/**
 * Shared steps of the end-to-end tests of owb against the real Open WebUI: seeding a deployment through
 * its API, taking a comparable picture of what the API serves, querying a (restored) Chroma store with the
 * release's own chromadb, and reading owb's run record.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fakeEmbedding } from '../fake-openai.js';
import type { OpenWebuiClient, SessionUser } from './client.js';

const run = promisify(execFile);

/** Two documents a knowledge base is made of; queries that share words with one find it first. */
export const DOCS = {
  penguins: 'Emperor penguins breed in Antarctica during the winter and dive for krill and fish.',
  tower: 'The Eiffel tower is an iron lattice tower standing on the Champ de Mars in Paris.',
} as const;

export const TOWER_QUERY = 'Which iron tower stands in Paris?';
export const PENGUIN_QUERY = 'where do penguins breed and dive for krill';

/** What {@link seed} created. */
export interface Seeded {
  tag: string;
  admin: SessionUser;
  bob: SessionUser;
  adminPassword: string;
  bobPassword: string;
  chatIds: string[];
  /** Bob's binary upload and its bytes. */
  blob: { id: string; bytes: Buffer };
  docFileIds: string[];
  knowledgeId: string;
}

/** An admin, a user, two chats with messages, a binary upload, and a knowledge base of two documents. */
export async function seed(anon: OpenWebuiClient, blobBytes = 64 * 1024): Promise<Seeded> {
  const tag = randomBytes(3).toString('hex');
  const adminPassword = 'admin-pw-1';
  const bobPassword = 'bob-pw-1';
  const admin = await anon.signup({ name: 'Admin', email: `admin-${tag}@example.com`, password: adminPassword });
  await anon.as(admin).addUser({ name: 'Bob', email: `bob-${tag}@example.com`, password: bobPassword, role: 'user' });
  const bob = await anon.signin(`bob-${tag}@example.com`, bobPassword);
  const b = anon.as(bob);
  const root = anon.as(admin);
  const c1 = await b.createChat('Trip to Paris', [
    { role: 'user', content: 'What should I see in Paris?' },
    { role: 'assistant', content: 'The Eiffel tower, for a start.' },
  ]);
  await b.addMessage(c1.id, 'user', 'How tall is it?');
  const c2 = await root.createChat('Penguins', [{ role: 'user', content: 'Where do emperor penguins live?' }]);
  const bytes = randomBytes(blobBytes);
  const blob = await b.uploadFile('blob.bin', bytes, { contentType: 'application/octet-stream', process: false });
  const docFileIds: string[] = [];
  for (const [name, text] of Object.entries(DOCS)) docFileIds.push((await root.uploadFile(`${name}.txt`, text)).id);
  const kb = await root.createKnowledge(`Facts ${tag}`, 'penguins and towers');
  for (const id of docFileIds) await root.addFileToKnowledge(kb.id, id);
  return { tag, admin, bob, adminPassword, bobPassword, chatIds: [c1.id, c2.id], blob: { id: blob.id, bytes }, docFileIds, knowledgeId: kb.id };
}

/** What the API serves for the seeded data, in a form two instances can be compared by. */
export interface ApiPicture {
  users: { id: string; email: string; role: string }[];
  adminChats: { id: string; title: string }[];
  bobChats: { id: string; title: string }[];
  chats: Record<string, unknown>;
  files: { id: string; filename: string }[];
  knowledge: { id: string; name: string; files: string[] };
  towerTop: string[];
  penguinTop: string[];
}

/** Reads {@link ApiPicture} through the API with the seeded users' tokens (their tokens must be valid). */
export async function picture(anon: OpenWebuiClient, s: Seeded): Promise<ApiPicture> {
  const root = anon.as(s.admin);
  const bob = anon.as(s.bob);
  const all = await root.json<{ users: { id: string; email: string; role: string }[] }>('GET', '/api/v1/users/all');
  const chats: Record<string, unknown> = {};
  for (const id of s.chatIds) {
    const c = await (id === s.chatIds[1] ? root : bob).getChat(id);
    // The fields the web UI writes; newer releases add their own (0.12 annotates messages with their user).
    const messages = Object.fromEntries(
      Object.entries(c.chat.history?.messages ?? {}).map(([k, m]) => [k, { id: m.id, parentId: m.parentId, childrenIds: m.childrenIds, role: m.role, content: m.content }]),
    );
    chats[id] = { title: c.title, currentId: c.chat.history?.currentId, messages };
  }
  const files = await root.json<{ id: string; filename: string }[] | { items: { id: string; filename: string }[] }>('GET', '/api/v1/files/');
  const kb = await root.getKnowledge(s.knowledgeId);
  // 0.12 lists a knowledge base's files at their own endpoint; 0.10 inlines them.
  let kbFiles = (kb.files ?? []).map((f) => f.id);
  if (kbFiles.length === 0) {
    const r = await root.json<{ items?: { id: string }[] } | { id: string }[]>('GET', `/api/v1/knowledge/${s.knowledgeId}/files`).catch(() => []);
    kbFiles = (Array.isArray(r) ? r : (r.items ?? [])).map((f) => f.id);
  }
  const top = async (q: string): Promise<string[]> => (await root.queryCollections([s.knowledgeId], q, 2)).documents[0] ?? [];
  const strip = (u: { id: string; email: string; role: string }[]): ApiPicture['users'] =>
    u.map(({ id, email, role }) => ({ id, email, role })).sort((a, b) => a.id.localeCompare(b.id));
  return {
    users: strip(all.users),
    adminChats: (await root.listChats()).map(({ id, title }) => ({ id, title })).sort((a, b) => a.id.localeCompare(b.id)),
    bobChats: (await bob.listChats()).map(({ id, title }) => ({ id, title })).sort((a, b) => a.id.localeCompare(b.id)),
    chats,
    files: (Array.isArray(files) ? files : files.items).map(({ id, filename }) => ({ id, filename })).sort((a, b) => a.id.localeCompare(b.id)),
    knowledge: { id: kb.id, name: kb.name, files: kbFiles.sort() },
    towerTop: await top(TOWER_QUERY),
    penguinTop: await top(PENGUIN_QUERY),
  };
}

/** Result of a Chroma query made with chromadb itself. */
export interface ChromaQuery {
  collections: string[];
  documents: string[];
  distances: number[];
}

/**
 * Opens a Chroma folder (a restored copy, never a live one) with the release's own chromadb and queries a
 * collection with the embedding the fake server gives `text`, as Open WebUI would embed the query.
 */
export async function chromaQuery(python: string, vectorDir: string, collection: string, text: string, k = 2): Promise<ChromaQuery> {
  const script = [
    'import chromadb, json, sys',
    'from chromadb.config import Settings',
    'c = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False, allow_reset=False))',
    'names = sorted(x if isinstance(x, str) else x.name for x in c.list_collections())',
    'r = c.get_collection(sys.argv[2]).query(query_embeddings=[json.loads(sys.argv[3])], n_results=int(sys.argv[4]), include=["documents", "distances"])',
    'print(json.dumps({"collections": names, "documents": r["documents"][0], "distances": r["distances"][0]}))',
  ].join('\n');
  const { stdout } = await run(python, ['-c', script, vectorDir, collection, JSON.stringify(fakeEmbedding(text)), String(k)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ANONYMIZED_TELEMETRY: 'False', HOME: vectorDir },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChromaQuery;
}

/** Open WebUI's Chroma client turns cosine distances d into scores (2 - d) / 2 (retrieval/vector/dbs/chroma.py). */
export function openWebuiScore(distance: number): number {
  return (2 - distance) / 2;
}

/** An event of owb's run record (`owb.jsonl`). */
export interface RunEvent {
  time: string;
  kind: string;
  detail?: unknown;
}

/** The last run record of `job` in `<state>/owb/logs/owb.jsonl` (the CLI helper's XDG_STATE_HOME is `<cwd>/state`). */
export async function lastRunRecord(cwd: string, job: string): Promise<{ ok: boolean; events: RunEvent[]; values: Record<string, unknown> }> {
  const text = await readFile(join(cwd, 'state', 'owb', 'logs', 'owb.jsonl'), 'utf8');
  const rec = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { job: string; ok: boolean; events: RunEvent[]; values: Record<string, unknown> })
    .filter((r) => r.job === job)
    .at(-1);
  if (rec === undefined) throw new Error(`no ${job} run in owb.jsonl`);
  return rec;
}
