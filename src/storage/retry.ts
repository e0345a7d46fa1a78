import type { Readable } from 'node:stream';
import { AlreadyExistsError, NotFoundError, OwbError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { operationLabel } from './handles.js';
import { isTransient } from './transient.js';

/** Settings of {@link withRetry}. Delays are in milliseconds. */
export interface RetryOptions {
  /** Attempts per operation, the first included (default 6). */
  maxAttempts?: number;
  /** Backoff before the first retry; doubles each time (default 200 ms). */
  baseDelayMs?: number;
  /** Upper bound of one backoff (default 10 s). */
  maxDelayMs?: number;
  /** One attempt that takes longer than this is abandoned as a stall and retried (default 120 s). */
  requestTimeoutMs?: number;
  /**
   * Transfers are granted extra time at this rate on top of requestTimeoutMs, so a large object on a slow link is
   * not mistaken for a stall (default 128 KiB/s: a 16 MiB pack gets 128 s more).
   */
  minBytesPerSecond?: number;
  /** Told about each retry, e.g. to log it; library code never prints. */
  onRetry?: (info: RetryInfo) => void;
  /** Random source in [0, 1), for the jitter; tests may fix it. */
  random?: () => number;
}

/** What {@link RetryOptions.onRetry} is told. */
export interface RetryInfo {
  operation: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Attempts the operation gets in all, the first included. */
  maxAttempts: number;
  delayMs: number;
  error: unknown;
}

/**
 * One secret-free line for a retry, for a caller that shows retries (the CLI with --verbose): the operation, the
 * attempt, the backoff and the first line of the error. Backends build their messages without credentials; only
 * the first line is kept, so a multi-line answer from a server is never dumped.
 */
export function describeRetry(info: RetryInfo): string {
  const line = (info.error instanceof Error ? info.error.message : String(info.error)).split('\n')[0]!.slice(0, 300);
  return `${info.operation}: attempt ${info.attempt} of ${info.maxAttempts} failed, retrying in ${(info.delayMs / 1000).toFixed(1)} s: ${line}`;
}

/** Attempts per operation, the first included. */
export const DEFAULT_MAX_ATTEMPTS = 6;
/** Backoff before the first retry, in milliseconds; it doubles with each retry. */
export const DEFAULT_BASE_DELAY_MS = 200;
/** Upper bound of one backoff, in milliseconds. */
export const DEFAULT_MAX_DELAY_MS = 10_000;
/** Milliseconds after which an attempt counts as stalled. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
/** Transfer rate, in bytes per second, below which a large transfer counts as stalled. */
export const DEFAULT_MIN_BYTES_PER_SECOND = 128 * 1024;

/** An attempt abandoned because it stalled; transient, so it is retried. */
export class BackendTimeoutError extends OwbError {
  readonly transient = true;
  readonly code = 'ETIMEDOUT';
  constructor(operation: string, ms: number) {
    super(`${operation} timed out after ${(ms / 1000).toFixed(1)} s without finishing`);
  }
}

/** The last transient failure of an operation that ran out of attempts; still `transient` for any layer above. */
export class RetriesExhaustedError extends OwbError {
  readonly transient = true;
  readonly attempts: number;
  constructor(last: unknown, attempts: number) {
    const line = (last instanceof Error ? last.message : String(last)).split('\n')[0]!.slice(0, 300);
    super(`${line} (gave up after ${attempts} attempts)`, undefined, { cause: last });
    this.attempts = attempts;
  }
}

/** Runs `attempt` with a deadline; the loser of the race is left to finish or fail on its own. */
async function withDeadline<T>(operation: string, ms: number, attempt: () => Promise<T>): Promise<T> {
  if (!Number.isFinite(ms) || ms <= 0) return attempt();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendTimeoutError(operation, ms)), ms);
  });
  const work = attempt();
  // A late failure of an abandoned attempt must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wraps a backend so every method retries transient failures ({@link isTransient}) with exponential backoff and
 * full jitter, and abandons attempts that stall. Permanent failures, NotFoundError and "already exists" pass
 * through at once, with one exception: a save() retried after a transient failure may find its own first attempt
 * landed (the answer was lost, not the upload). It then fails with AlreadyExistsError; when the stored object holds
 * the very same bytes, that save succeeded.
 */
export function withRetry(backend: Backend, opts: RetryOptions = {}): Backend {
  return new RetryBackend(backend, opts);
}

/** The wrapper behind {@link withRetry}. */
class RetryBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly bytesPerSecond: number;
  private readonly random: () => number;

  constructor(
    /** The wrapped backend (see unwrap() in stack.ts). */
    readonly inner: Backend,
    private readonly opts: RetryOptions,
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.baseDelayMs = opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.bytesPerSecond = opts.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND;
    this.random = opts.random ?? Math.random;
  }

  /** Creates the layout, retrying transient failures. */
  create(): Promise<void> {
    return this.run('create', 0, () => this.inner.create());
  }

  /** Saves, and recognises an earlier attempt of this same save that landed although its answer was lost. */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    // Attempts after the first only happen after a transient failure (or a stall), which may have landed.
    let attempts = 0;
    await this.run(operationLabel('save', h), data.byteLength, async () => {
      const retried = attempts++ > 0;
      try {
        await this.inner.save(h, data);
      } catch (err) {
        if (retried && err instanceof AlreadyExistsError && (await this.holdsSameBytes(h, data))) return;
        throw err;
      }
    });
  }

  /** Loads, retrying transient failures. */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    return this.run(operationLabel('load', h), length ?? 0, () => this.inner.load(h, offset, length));
  }

  /** Opens a stream, retrying the opening only: once bytes flow, the reader owns the stream and its errors. */
  openReadStream(h: Handle): Promise<Readable> {
    return this.run(operationLabel('open', h), 0, () => this.inner.openReadStream(h));
  }

  /** Stats, retrying transient failures. */
  stat(h: Handle): Promise<FileInfo> {
    return this.run(operationLabel('stat', h), 0, () => this.inner.stat(h));
  }

  /** Checks existence, retrying transient failures. */
  exists(h: Handle): Promise<boolean> {
    return this.run(operationLabel('exists', h), 0, () => this.inner.exists(h));
  }

  /**
   * Removes, retrying transient failures. A retry that finds the object gone after an attempt that failed
   * ambiguously counts as done: the lost answer was the delete's success.
   */
  async remove(h: Handle): Promise<void> {
    let attempts = 0;
    await this.run(operationLabel('remove', h), 0, async () => {
      const retried = attempts++ > 0;
      try {
        await this.inner.remove(h);
      } catch (err) {
        if (retried && err instanceof NotFoundError) return;
        throw err;
      }
    });
  }

  /** Lists, retrying transient failures (a listing is repeated from its start). */
  list(type: FileType): Promise<FileInfo[]> {
    return this.run(operationLabel('list', type), 0, () => this.inner.list(type));
  }

  /** Closes the wrapped backend. */
  close(): Promise<void> {
    return this.inner.close();
  }

  /** True when `h` exists with exactly `data`; any failure to tell means no. */
  private async holdsSameBytes(h: Handle, data: Uint8Array): Promise<boolean> {
    try {
      const stored = await this.run(operationLabel('load', h), data.byteLength, () => this.inner.load(h));
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(stored);
    } catch {
      return false;
    }
  }

  /** The retry loop: attempt, classify, back off with full jitter, attempt again. */
  private async run<T>(operation: string, bytes: number, attempt: () => Promise<T>): Promise<T> {
    const timeout = this.timeoutMs + (this.bytesPerSecond > 0 ? (bytes / this.bytesPerSecond) * 1000 : 0);
    for (let n = 1; ; n++) {
      try {
        return await withDeadline(operation, timeout, attempt);
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (n >= this.maxAttempts) throw n > 1 ? new RetriesExhaustedError(err, n) : err;
        const delayMs = Math.floor(this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1)));
        this.opts.onRetry?.({ operation, attempt: n, maxAttempts: this.maxAttempts, delayMs, error: err });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }
}
