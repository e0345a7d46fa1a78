/**
 * A small OpenAI-compatible HTTP server for running the real Open WebUI offline: `/v1/models`,
 * `/v1/embeddings` and `/v1/chat/completions` (plain and streamed as SSE), all deterministic. Embeddings are
 * hashed bags of words, L2-normalised, so a query that shares words with a document is nearest to it: Open
 * WebUI embeds knowledge-base documents through it and writes real Chroma collections, and retrieval then
 * returns the right document without any model. Every request is counted and logged.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** The embedding model the server lists and Open WebUI is told to use. */
export const FAKE_EMBEDDING_MODEL = 'owb-fake-embedding';

/** The chat model the server lists. */
export const FAKE_CHAT_MODEL = 'owb-fake-chat';

/** Length of every embedding vector. */
export const FAKE_EMBEDDING_DIMENSIONS = 256;

/** One request the server received. */
export interface FakeOpenAIRequest {
  readonly method: string;
  readonly path: string;
  /** Wall-clock time it arrived (ms since the epoch). */
  readonly at: number;
  /** Number of texts embedded, for /embeddings. */
  readonly inputs?: number;
}

/** Request counters, by route. */
export interface FakeOpenAICounts {
  models: number;
  embeddings: number;
  /** Texts embedded over all /embeddings requests (Open WebUI batches them). */
  embeddedTexts: number;
  chat: number;
  chatStreamed: number;
  /** Requests refused: unknown route, bad body, or a wrong API key. */
  rejected: number;
}

/** A running fake server. */
export interface FakeOpenAI {
  /** Base URL including `/v1`, as OPENAI_API_BASE_URL and RAG_OPENAI_API_BASE_URL expect it. */
  readonly url: string;
  /** `http://127.0.0.1:port`, without a path. */
  readonly origin: string;
  readonly port: number;
  /** The bearer token it demands (any request without it is refused with 401). */
  readonly apiKey: string;
  readonly counts: FakeOpenAICounts;
  readonly requests: readonly FakeOpenAIRequest[];
  close(): Promise<void>;
}

/**
 * Deterministic embedding of a text: each lower-cased word (letters and digits) adds 1 to a bucket chosen by
 * its SHA-256, then the vector is scaled to length 1. Texts sharing words have a higher cosine similarity;
 * a text without words maps to the first axis so the vector is never zero.
 */
export function fakeEmbedding(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const h = createHash('sha256').update(word).digest();
    v[h.readUInt32BE(0) % dimensions]! += 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (norm === 0) {
    v[0] = 1;
    return v;
  }
  return v.map((x) => x / norm);
}

/** The reply the fake chat model gives to a conversation: fixed words plus a digest of the last message. */
export function fakeReply(lastMessage: string): string {
  const digest = createHash('sha256').update(lastMessage).digest('hex').slice(0, 12);
  return `This is the owb fake model answering ${digest}.`;
}

/** Starts the server on 127.0.0.1 and a free port. */
export async function startFakeOpenAI(opts: { apiKey?: string } = {}): Promise<FakeOpenAI> {
  const apiKey = opts.apiKey ?? 'owb-fake-key';
  const counts: FakeOpenAICounts = { models: 0, embeddings: 0, embeddedTexts: 0, chat: 0, chatStreamed: 0, rejected: 0 };
  const requests: FakeOpenAIRequest[] = [];
  const server = createServer((req, res) => {
    handle(req, res, apiKey, counts, requests).catch((err: unknown) => {
      counts.rejected++;
      if (!res.headersSent) send(res, 500, { error: { message: String(err) } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('fake OpenAI server has no port');
  const origin = `http://127.0.0.1:${addr.port}`;
  return {
    url: `${origin}/v1`,
    origin,
    port: addr.port,
    apiKey,
    counts,
    requests,
    close: () => closeServer(server),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  apiKey: string,
  counts: FakeOpenAICounts,
  requests: FakeOpenAIRequest[],
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/v1(?=\/)/, '').replace(/\/+$/, '');
  const method = req.method ?? 'GET';
  const body = method === 'POST' ? await readJson(req) : undefined;
  const entry: { method: string; path: string; at: number; inputs?: number } = { method, path, at: Date.now() };
  requests.push(entry);
  // Open WebUI sends the configured key as a bearer token; refusing others proves which key it used.
  if (req.headers.authorization !== `Bearer ${apiKey}`) {
    counts.rejected++;
    return send(res, 401, { error: { message: 'invalid api key', type: 'invalid_request_error' } });
  }
  if (method === 'GET' && path === '/models') {
    counts.models++;
    const created = 1_700_000_000;
    return send(res, 200, {
      object: 'list',
      data: [FAKE_CHAT_MODEL, FAKE_EMBEDDING_MODEL].map((id) => ({ id, object: 'model', created, owned_by: 'owb-test' })),
    });
  }
  if (method === 'POST' && path === '/embeddings' && isRecord(body)) {
    const inputs = toTexts(body.input);
    if (inputs === undefined) {
      counts.rejected++;
      return send(res, 400, { error: { message: 'input must be a string or an array of strings' } });
    }
    counts.embeddings++;
    counts.embeddedTexts += inputs.length;
    entry.inputs = inputs.length;
    const tokens = inputs.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
    return send(res, 200, {
      object: 'list',
      model: typeof body.model === 'string' ? body.model : FAKE_EMBEDDING_MODEL,
      data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(t) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }
  if (method === 'POST' && path === '/chat/completions' && isRecord(body)) {
    const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
    const last = messages.at(-1);
    const content = isRecord(last) ? contentText(last.content) : '';
    const text = fakeReply(content);
    const model = typeof body.model === 'string' ? body.model : FAKE_CHAT_MODEL;
    const id = `chatcmpl-owb-${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream === true) {
      counts.chatStreamed++;
      return streamReply(res, id, created, model, text);
    }
    counts.chat++;
    const words = text.split(' ').length;
    return send(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: content.split(/\s+/).length, completion_tokens: words, total_tokens: words },
    });
  }
  counts.rejected++;
  send(res, 404, { error: { message: `no route ${method} ${path}` } });
}

/** Streams `text` word by word as OpenAI's SSE chunks, then `[DONE]`. */
function streamReply(res: ServerResponse, id: string, created: number, model: string, text: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const chunk = (delta: Record<string, string>, finish: string | null): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  const words = text.split(' ');
  words.forEach((w, i) => res.write(chunk({ content: i === 0 ? w : ` ${w}` }, null)));
  res.write(chunk({}, 'stop'));
  res.end('data: [DONE]\n\n');
}

function toTexts(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((x) => typeof x === 'string')) return input as string[];
  return undefined;
}

/** Text of a chat message's content: a string, or the text parts of a multi-part content array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join(' ');
  }
  return '';
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Open WebUI keeps connections alive; do not wait for it to drop them.
    server.closeAllConnections();
  });
}
