/**
 * A writer that keeps posting to the real Open WebUI (during a backup, say) and logs every write the server
 * acknowledged, with its time, so a test can check that every write acknowledged before the quiesce point
 * is in the snapshot. One write is in flight at a time: write n+1 is sent after write n's answer.
 */
import { appendFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { OpenWebuiClient } from './client.js';

/** A write the server answered with 2xx. Times are ms since the epoch. */
export interface AckedWrite {
  readonly seq: number;
  /** `chat`: a new chat per write; `message`: a new message in one chat. */
  readonly kind: 'chat' | 'message';
  readonly chatId: string;
  readonly messageId?: string;
  readonly text: string;
  readonly sentAt: number;
  readonly ackedAt: number;
}

/** A write that failed (the server was stopped or paused, say). */
export interface FailedWrite {
  readonly seq: number;
  readonly sentAt: number;
  readonly failedAt: number;
  readonly error: string;
}

/** Options for {@link ChatWriter}. */
export interface WriterOptions {
  /** `chat` (default) creates a chat per write; `message` upserts messages into one chat. */
  mode?: 'chat' | 'message';
  /** Pause between writes, in ms (default 20). */
  intervalMs?: number;
  /** Text prefix, to tell writers apart. */
  prefix?: string;
  /** Appends one JSON line per acknowledged or failed write here. */
  logFile?: string;
}

/** Posts writes until stopped. */
export class ChatWriter {
  /** Acknowledged writes, in order. */
  readonly acked: AckedWrite[] = [];
  /** Failed writes, in order. */
  readonly failed: FailedWrite[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private chatId: string | undefined;

  constructor(
    private readonly client: OpenWebuiClient,
    private readonly opts: WriterOptions = {},
  ) {}

  /** Starts writing (in `message` mode, after creating the chat it writes into). */
  async start(): Promise<void> {
    if (this.running) return;
    if ((this.opts.mode ?? 'chat') === 'message' && this.chatId === undefined) {
      this.chatId = (await this.client.createChat(`${this.opts.prefix ?? 'owb-writer'} log`)).id;
    }
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the write in flight is answered. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Acknowledged writes whose answer came at or before `t` (ms since the epoch). */
  ackedBefore(t: number): AckedWrite[] {
    return this.acked.filter((w) => w.ackedAt <= t);
  }

  private async run(): Promise<void> {
    const prefix = this.opts.prefix ?? 'owb-writer';
    let seq = 0;
    while (this.running) {
      seq++;
      const text = `${prefix} write ${seq}`;
      const sentAt = Date.now();
      try {
        let ack: AckedWrite;
        if (this.chatId === undefined) {
          const chat = await this.client.createChat(text, [{ role: 'user', content: text }]);
          ack = { seq, kind: 'chat', chatId: chat.id, text, sentAt, ackedAt: Date.now() };
        } else {
          const messageId = randomUUID();
          await this.client.upsertMessage(this.chatId, messageId, text);
          ack = { seq, kind: 'message', chatId: this.chatId, messageId, text, sentAt, ackedAt: Date.now() };
        }
        this.acked.push(ack);
        await this.log(ack);
      } catch (err) {
        const f: FailedWrite = { seq, sentAt, failedAt: Date.now(), error: (err as Error).message };
        this.failed.push(f);
        await this.log(f);
        // The server is down for now: do not spin.
        await sleep(100);
      }
      await sleep(this.opts.intervalMs ?? 20);
    }
  }

  private async log(entry: AckedWrite | FailedWrite): Promise<void> {
    if (this.opts.logFile !== undefined) await appendFile(this.opts.logFile, `${JSON.stringify(entry)}\n`);
  }
}

/**
 * The acknowledged writes a (restored or snapshotted) webui.db lacks: chats by id, messages by id inside
 * their chat's `chat.history.messages`. Empty when every one of `writes` is there.
 */
export function missingWrites(webuiDb: string, writes: readonly AckedWrite[]): AckedWrite[] {
  const db = new Database(webuiDb, { readonly: true, fileMustExist: true });
  try {
    const chatById = db.prepare('SELECT chat FROM chat WHERE id = ?');
    const messagesOf = new Map<string, Set<string>>();
    return writes.filter((w) => {
      if (w.kind === 'chat') return chatById.get(w.chatId) === undefined;
      let ids = messagesOf.get(w.chatId);
      if (ids === undefined) {
        const row = chatById.get(w.chatId) as { chat: string } | undefined;
        const history = row ? (JSON.parse(row.chat) as { history?: { messages?: Record<string, unknown> } }).history : undefined;
        ids = new Set(Object.keys(history?.messages ?? {}));
        messagesOf.set(w.chatId, ids);
      }
      return !ids.has(w.messageId!);
    });
  } finally {
    db.close();
  }
}
