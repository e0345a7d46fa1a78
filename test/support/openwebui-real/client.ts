/**
 * A client for the real Open WebUI, only through its own HTTP API (fetch). The endpoints and payloads are
 * those of `open_webui/routers/{auths,chats,files,knowledge,retrieval}.py` and `main.py`; 0.10.2 and 0.12.4
 * take the same requests for everything here (0.12.4 adds optional fields, such as a chat's `variables`).
 */
import { randomUUID } from 'node:crypto';

/** A non-2xx answer, with what was asked and what came back. */
export class OpenWebuiApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status} ${body.slice(0, 300)}`);
    this.name = 'OpenWebuiApiError';
  }
}

/** A signed-in user (the signup, signin and add-user answers share these fields). */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: string;
  token: string;
}

/** One message of a chat, as the web UI stores it in `chat.history.messages`. */
export interface ChatMessage {
  id: string;
  parentId: string | null;
  childrenIds: string[];
  role: 'user' | 'assistant' | 'system';
  content: string;
  timestamp: number;
  models?: string[];
}

/** A chat as the API returns it. */
export interface ChatRecord {
  id: string;
  user_id: string;
  title: string;
  chat: { title?: string; history?: { currentId?: string | null; messages?: Record<string, ChatMessage> }; messages?: ChatMessage[] };
  created_at: number;
  updated_at: number;
}

/** An uploaded file as the API returns it (`path` is where Open WebUI stored it). */
export interface FileRecord {
  id: string;
  user_id: string;
  filename: string;
  path?: string;
  meta?: { name?: string; content_type?: string; size?: number };
  data?: { status?: string; content?: string; error?: string };
}

/** What `POST /api/v1/retrieval/query/collection` answers: one list per query. */
export interface QueryResult {
  documents: string[][];
  metadatas: Record<string, unknown>[][];
  distances: number[][];
}

/** Open WebUI's HTTP API, as one user (or anonymous until {@link OpenWebuiClient.as} gives a token). */
export class OpenWebuiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  /** The same server, as the user holding `token`. */
  as(user: { token: string } | string): OpenWebuiClient {
    return new OpenWebuiClient(this.baseUrl, typeof user === 'string' ? user : user.token);
  }

  /** `GET /api/version` (no login): `{version}` plus `deployment_id` in 0.10 and later. */
  version(): Promise<{ version: string; deployment_id?: string }> {
    return this.json('GET', '/api/version');
  }

  /** `GET /health`: true when it answers `{"status": true}`. */
  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
      return res.ok && ((await res.json()) as { status?: unknown }).status === true;
    } catch {
      return false;
    }
  }

  /** `POST /api/v1/auths/signup`: the first user of an empty database becomes the admin. */
  signup(user: { name: string; email: string; password: string }): Promise<SessionUser> {
    return this.json('POST', '/api/v1/auths/signup', user);
  }

  /** `POST /api/v1/auths/signin` (rate-limited in 0.12: 15 tries per 3 minutes per email). */
  signin(email: string, password: string): Promise<SessionUser> {
    return this.json('POST', '/api/v1/auths/signin', { email, password });
  }

  /** `POST /api/v1/auths/add` (admin): creates a user; the default role is `pending`, so give one. */
  addUser(user: { name: string; email: string; password: string; role?: 'user' | 'admin' | 'pending' }): Promise<SessionUser> {
    return this.json('POST', '/api/v1/auths/add', { role: 'user', ...user });
  }

  /** `POST /api/v1/chats/new` with the messages linked as the web UI links them (each the parent of the next). */
  createChat(title: string, messages: { role: ChatMessage['role']; content: string }[] = []): Promise<ChatRecord> {
    const history: Record<string, ChatMessage> = {};
    let parent: string | null = null;
    const list: ChatMessage[] = [];
    for (const m of messages) {
      const msg = newMessage(m.role, m.content, parent);
      if (parent !== null) history[parent]!.childrenIds.push(msg.id);
      history[msg.id] = msg;
      list.push(msg);
      parent = msg.id;
    }
    const chat = { title, models: [], params: {}, history: { messages: history, currentId: parent }, messages: list, tags: [], timestamp: Date.now() };
    return this.json('POST', '/api/v1/chats/new', { chat });
  }

  /**
   * Appends a message the way the web UI does: reads the chat, links the message under the current one, and
   * posts the whole chat back (`POST /api/v1/chats/{id}`).
   */
  async addMessage(chatId: string, role: ChatMessage['role'], content: string): Promise<{ chat: ChatRecord; message: ChatMessage }> {
    const current = await this.getChat(chatId);
    const chat = structuredClone(current.chat);
    const history = (chat.history ??= {});
    const messages = (history.messages ??= {});
    const parent = history.currentId ?? null;
    const msg = newMessage(role, content, parent);
    if (parent !== null && messages[parent]) messages[parent].childrenIds.push(msg.id);
    messages[msg.id] = msg;
    history.currentId = msg.id;
    chat.messages = [...(chat.messages ?? []), msg];
    return { chat: await this.json('POST', `/api/v1/chats/${chatId}`, { chat }), message: msg };
  }

  /** `POST /api/v1/chats/{id}/messages/{messageId}`: creates or replaces one message's content. */
  upsertMessage(chatId: string, messageId: string, content: string): Promise<ChatRecord> {
    return this.json('POST', `/api/v1/chats/${chatId}/messages/${messageId}`, { content });
  }

  /** `GET /api/v1/chats/` (all of the user's chats, newest first, titles and ids only). */
  listChats(): Promise<{ id: string; title: string; updated_at: number }[]> {
    return this.json('GET', '/api/v1/chats/');
  }

  /** `GET /api/v1/chats/{id}`. */
  getChat(id: string): Promise<ChatRecord> {
    return this.json('GET', `/api/v1/chats/${id}`);
  }

  /** `DELETE /api/v1/chats/{id}`. */
  deleteChat(id: string): Promise<boolean> {
    return this.json('DELETE', `/api/v1/chats/${id}`);
  }

  /**
   * `POST /api/v1/files/` (multipart). With `process` (the default), the text is extracted and embedded into
   * the file's own collection before the answer, not in the background.
   */
  uploadFile(name: string, data: Buffer | string, opts: { contentType?: string; process?: boolean } = {}): Promise<FileRecord> {
    const form = new FormData();
    form.append('file', new Blob([data], { type: opts.contentType ?? 'text/plain' }), name);
    const process = opts.process ?? true;
    return this.json('POST', `/api/v1/files/?process=${process}&process_in_background=false`, form);
  }

  /** `GET /api/v1/files/{id}`. */
  getFile(id: string): Promise<FileRecord> {
    return this.json('GET', `/api/v1/files/${id}`);
  }

  /** `GET /api/v1/files/{id}/content`: the stored bytes. */
  async fileContent(id: string): Promise<Buffer> {
    return Buffer.from(await (await this.request('GET', `/api/v1/files/${id}/content`)).arrayBuffer());
  }

  /** `POST /api/v1/knowledge/create` (also embeds its name and description into `knowledge-bases`). */
  createKnowledge(name: string, description: string): Promise<{ id: string; name: string }> {
    return this.json('POST', '/api/v1/knowledge/create', { name, description });
  }

  /** `GET /api/v1/knowledge/{id}`. */
  getKnowledge(id: string): Promise<{ id: string; name: string; files?: { id: string }[] }> {
    return this.json('GET', `/api/v1/knowledge/${id}`);
  }

  /** `POST /api/v1/knowledge/{id}/file/add`: embeds a processed file into the knowledge base's collection. */
  addFileToKnowledge(knowledgeId: string, fileId: string): Promise<{ id: string; files?: { id: string }[] }> {
    return this.json('POST', `/api/v1/knowledge/${knowledgeId}/file/add`, { file_id: fileId });
  }

  /** `POST /api/v1/retrieval/query/collection`: nearest chunks of the named collections (a knowledge base's is its id). */
  queryCollections(collectionNames: string[], query: string, k = 3): Promise<QueryResult> {
    return this.json('POST', '/api/v1/retrieval/query/collection', { collection_names: collectionNames, query, k, hybrid: false });
  }

  /** `DELETE /api/v1/knowledge/{id}/delete` (drops its collection too). */
  deleteKnowledge(id: string): Promise<boolean> {
    return this.json('DELETE', `/api/v1/knowledge/${id}/delete`);
  }

  /** `GET /api/models`: the models this user may use (those of the configured OpenAI-compatible servers). */
  async models(): Promise<{ id: string; owned_by?: string }[]> {
    return (await this.json<{ data: { id: string; owned_by?: string }[] }>('GET', '/api/models')).data;
  }

  /**
   * `POST /api/chat/completions` through Open WebUI to the model's server: the reply text, joined from the
   * SSE deltas when `stream` is set.
   */
  async complete(model: string, messages: { role: ChatMessage['role']; content: string }[], stream = false): Promise<string> {
    const res = await this.request('POST', '/api/chat/completions', { model, messages, stream });
    if (!stream) {
      return ((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
    }
    let text = '';
    for (const line of (await res.text()).split('\n')) {
      const data = /^data: (.*)$/.exec(line.trim())?.[1];
      if (data === undefined || data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
      text += chunk.choices?.[0]?.delta?.content ?? '';
    }
    return text;
  }

  /** Sends a request and parses the JSON answer; throws {@link OpenWebuiApiError} on a non-2xx status. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  /** Sends a request (JSON or multipart body) and returns the answer; throws on a non-2xx status. */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let payload: string | FormData | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new OpenWebuiApiError(method, path, res.status, await res.text());
    return res;
  }
}

function newMessage(role: ChatMessage['role'], content: string, parentId: string | null): ChatMessage {
  return { id: randomUUID(), parentId, childrenIds: [], role, content, timestamp: Math.floor(Date.now() / 1000) };
}
