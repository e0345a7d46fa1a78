/**
 * Notifications about job runs: healthchecks.io-style pings, a generic JSON webhook, and ntfy.
 * A notification never fails or hangs the job: every target gets one overall time budget (retries
 * included), targets are tried in parallel, and problems come back as one-line warnings.
 */
import { readFile } from 'node:fs/promises';
import type { NotifyEvent, NotifyTarget, NtfyPriority } from '../config/ops-schema.js';
import { PROGRAM_VERSION } from '../version.js';
import type { Redactor } from './redact.js';

/** Time budget per target, retries and backoff included (ms). */
export const DEFAULT_NOTIFY_TIMEOUT_MS = 10_000;
/** Attempts per target for retryable failures (network errors, HTTP 5xx/429/408). */
export const DEFAULT_NOTIFY_ATTEMPTS = 3;
/** First backoff between attempts (ms); it doubles each time. */
export const DEFAULT_NOTIFY_BACKOFF_MS = 1_000;

/** What a notification says about a run. */
export interface NotifyInfo {
  job: string;
  host: string;
  /** One line, e.g. "backup of openwebui: 12 MiB added, snapshot 1a2b3c4d". */
  summary: string;
  details?: Record<string, unknown>;
  durationS?: number;
  error?: unknown;
  /** Correlates start and end pings (healthchecks `rid`, which must be a UUID). */
  runId?: string;
  /** Defaults to now. */
  time?: Date;
}

/** Options of Notifier. */
export interface NotifierOptions {
  /** Scrubs everything sent and every warning; secrets of the targets themselves are added to it. */
  redactor: Redactor;
  timeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
}

/** One HTTP request to make. */
interface Outgoing {
  url: URL;
  headers: Record<string, string>;
  body: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PRIORITY_NAMES = ['min', 'low', 'default', 'high', 'urgent'] as const;
const TAGS: Record<NotifyEvent, string> = { start: 'arrow_forward', success: 'white_check_mark', failure: 'rotating_light' };
const VERBS: Record<NotifyEvent, string> = { start: 'started', success: 'succeeded', failure: 'FAILED' };

/** Sends run notifications to the configured targets. */
export class Notifier {
  private readonly targets: readonly NotifyTarget[];
  private readonly redactor: Redactor;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;

  /** Registers the targets' own secrets (webhook header values, URL passwords) with the redactor. */
  constructor(targets: readonly NotifyTarget[], opts: NotifierOptions) {
    this.targets = targets;
    this.redactor = opts.redactor;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS;
    this.attempts = Math.max(1, opts.attempts ?? DEFAULT_NOTIFY_ATTEMPTS);
    this.backoffMs = opts.backoffMs ?? DEFAULT_NOTIFY_BACKOFF_MS;
    for (const t of targets) {
      if (t.type === 'webhook') this.redactor.add(...Object.values(t.headers ?? {}));
      try {
        const u = new URL(t.url);
        this.redactor.add(u.password, decodeURIComponent(u.password));
      } catch {
        // An unparsable URL fails at send time, as a warning.
      }
    }
  }

  /** True when at least one target wants `event` (lets callers skip building details). */
  wants(event: NotifyEvent): boolean {
    return this.targets.some((t) => t.on.includes(event));
  }

  /**
   * Notifies every target whose `on` includes `event`. Never throws; resolves within about the timeout.
   * Returns one redacted warning line per target that could not be notified.
   */
  async send(event: NotifyEvent, info: NotifyInfo): Promise<string[]> {
    const chosen = this.targets.filter((t) => t.on.includes(event));
    const results = await Promise.all(
      chosen.map(async (t) => {
        try {
          return await this.sendOne(t, event, info);
        } catch (err) {
          return `${label(t)}: ${(err as Error).message ?? String(err)}`;
        }
      }),
    );
    return results.filter((w): w is string => w !== undefined).map((w) => `notify ${this.redactor.redact(w)}`.split('\n')[0]!);
  }

  private async sendOne(t: NotifyTarget, event: NotifyEvent, info: NotifyInfo): Promise<string | undefined> {
    const out = await this.build(t, event, info);
    if (typeof out === 'string') return `${label(t)}: ${out}`;
    const problem = await this.deliver(out);
    return problem === undefined ? undefined : `${label(t)}: ${problem}`;
  }

  /** The request for one target, or a reason it cannot be built. */
  private async build(t: NotifyTarget, event: NotifyEvent, info: NotifyInfo): Promise<Outgoing | string> {
    const r = this.redactor;
    const text = r.redact(messageText(info));
    const base = { 'user-agent': `owb/${PROGRAM_VERSION}` };
    switch (t.type) {
      case 'healthchecks': {
        const url = new URL(t.url);
        const suffix = event === 'start' ? '/start' : event === 'failure' ? '/fail' : '';
        url.pathname = url.pathname.replace(/\/+$/, '') + suffix;
        if (info.runId && UUID_RE.test(info.runId)) url.searchParams.set('rid', info.runId);
        return { url, headers: { ...base, 'content-type': 'text/plain; charset=utf-8' }, body: text };
      }
      case 'webhook': {
        const payload = r.redactDeep({
          event,
          job: info.job,
          host: info.host,
          summary: info.summary,
          details: info.details ?? {},
          time: (info.time ?? new Date()).toISOString(),
          duration_s: info.durationS ?? null,
          run_id: info.runId ?? null,
          error: info.error === undefined ? null : errorLine(info.error),
        });
        const headers = { ...base, 'content-type': 'application/json', ...lowerKeys(t.headers ?? {}) };
        return { url: new URL(t.url), headers, body: JSON.stringify(payload) };
      }
      case 'ntfy': {
        const url = new URL(t.url);
        url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(t.topic)}`;
        const headers: Record<string, string> = {
          ...base,
          'content-type': 'text/plain; charset=utf-8',
          title: headerValue(r.redact(`owb ${info.job} ${VERBS[event]} on ${info.host}`)),
          priority: ntfyPriority(event, t.priority),
          tags: `${TAGS[event]},owb`,
        };
        if (t.token_file) {
          let token: string;
          try {
            token = (await readFile(t.token_file, 'utf8')).trim();
          } catch (err) {
            return `cannot read token_file ${t.token_file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
          }
          r.add(token);
          headers.authorization = `Bearer ${token}`;
        }
        return { url, headers, body: text };
      }
    }
  }

  /** POSTs with retries inside one time budget; returns a reason on failure. */
  private async deliver(out: Outgoing): Promise<string | undefined> {
    const { url, headers } = moveCredentials(out.url, out.headers);
    const deadline = Date.now() + this.timeoutMs;
    let reason = 'not sent';
    let attempt = 0;
    while (attempt < this.attempts) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      attempt++;
      try {
        const res = await fetch(url, { method: 'POST', headers, body: out.body, signal: AbortSignal.timeout(left) });
        await res.body?.cancel().catch(() => {});
        if (res.ok) return undefined;
        reason = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429 && res.status !== 408) break;
      } catch (err) {
        reason = describeFetchError(err, this.timeoutMs);
        // A timeout used up the whole budget; a 1 ms retry would only add noise.
        if (isTimeout(err)) break;
      }
      const pause = Math.min(this.backoffMs * 2 ** (attempt - 1), deadline - Date.now());
      if (attempt < this.attempts && pause > 0) await new Promise((res) => setTimeout(res, pause));
    }
    return `${reason} (${attempt} attempt${attempt === 1 ? '' : 's'})`;
  }
}

/** "job host" labels in warnings show only the type and origin: ping paths and topics are secrets too. */
function label(t: NotifyTarget): string {
  try {
    return `${t.type} ${new URL(t.url).origin}`;
  } catch {
    return t.type;
  }
}

/** The summary, plus the error's first line when there is one. */
function messageText(info: NotifyInfo): string {
  return info.error === undefined ? info.summary : `${info.summary}\nerror: ${errorLine(info.error)}`;
}

function errorLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** fetch refuses URLs with credentials; send them as Basic auth instead (unless a header already authorises). */
function moveCredentials(url: URL, headers: Record<string, string>): { url: URL; headers: Record<string, string> } {
  if (!url.username && !url.password) return { url, headers };
  const clean = new URL(url);
  clean.username = '';
  clean.password = '';
  if (headers.authorization) return { url: clean, headers };
  const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  return { url: clean, headers: { ...headers, authorization: `Basic ${basic}` } };
}

/** Header-safe text: one line, RFC 2047-encoded when not ASCII (ntfy decodes it). */
function headerValue(s: string): string {
  const line = s.replace(/[\r\n\t]+/g, ' ').replace(/\p{Cc}/gu, '');
  return /^[\x20-\x7e]*$/.test(line) ? line : `=?UTF-8?B?${Buffer.from(line).toString('base64')}?=`;
}

/** Start/success use the configured priority (default "default"); failures are at least "high". */
function ntfyPriority(event: NotifyEvent, configured: NtfyPriority | undefined): string {
  const n = configured === undefined ? 3 : typeof configured === 'number' ? configured : configured === 'max' ? 5 : PRIORITY_NAMES.indexOf(configured) + 1;
  return PRIORITY_NAMES[(event === 'failure' ? Math.max(n, 4) : n) - 1]!;
}

/** A short reason without addresses or URLs (those may carry tokens). */
function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string }; message?: string };
  if (isTimeout(err)) {
    return `timed out after ${(timeoutMs / 1000).toFixed(1)} s`;
  }
  if (e.cause?.code) return `connection failed (${e.cause.code})`;
  return (e.message ?? String(err)).split('\n')[0]!;
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } };
  return e.name === 'TimeoutError' || e.name === 'AbortError' || e.cause?.name === 'TimeoutError';
}
