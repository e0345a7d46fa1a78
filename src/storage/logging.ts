import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { operationLabel } from './handles.js';

/** A storage operation that failed, after any retries: what {@link LoggingOptions.onFailure} is told. */
export interface FailureInfo {
  /** E.g. `save data/ab12cd34…`. */
  operation: string;
  error: unknown;
  /** From the call to its failure, retries and waits for a connection included. */
  durationMs: number;
}

/** Settings of {@link withLogging}. */
export interface LoggingOptions {
  /** Told about each failed operation; library code never prints, the caller decides where this goes. */
  onFailure?: (info: FailureInfo) => void;
}

/** One secret-free line for a failed operation: its name, how long it ran, and the first line of the error. */
export function describeFailure(info: FailureInfo): string {
  const line = (info.error instanceof Error ? info.error.message : String(info.error)).split('\n')[0]!.slice(0, 300);
  return `${info.operation} failed after ${(info.durationMs / 1000).toFixed(1)} s: ${line}`;
}

/**
 * Wraps a backend so every failed call is reported to `onFailure`, then rethrown unchanged. NotFoundError is not
 * reported: it is an answer the contract defines (callers probe with load, stat and remove), not a failure of the
 * storage. Without a callback the backend is returned as it is.
 */
export function withLogging(backend: Backend, opts: LoggingOptions = {}): Backend {
  return opts.onFailure === undefined ? backend : new LoggingBackend(backend, opts.onFailure);
}

/** The wrapper behind {@link withLogging}. */
class LoggingBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;

  constructor(
    /** The wrapped backend (see unwrap() in stack.ts). */
    readonly inner: Backend,
    private readonly onFailure: (info: FailureInfo) => void,
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
  }

  /** Creates the layout, reporting a failure. */
  create(): Promise<void> {
    return this.logged(operationLabel('create'), () => this.inner.create());
  }

  /** Saves, reporting a failure. */
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.logged(operationLabel('save', h), () => this.inner.save(h, data));
  }

  /** Loads, reporting a failure. */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    return this.logged(operationLabel('load', h), () => this.inner.load(h, offset, length));
  }

  /** Opens a stream, reporting a failure to open; errors while reading belong to the stream's reader. */
  openReadStream(h: Handle): Promise<Readable> {
    return this.logged(operationLabel('open', h), () => this.inner.openReadStream(h));
  }

  /** Stats, reporting a failure. */
  stat(h: Handle): Promise<FileInfo> {
    return this.logged(operationLabel('stat', h), () => this.inner.stat(h));
  }

  /** Checks existence, reporting a failure. */
  exists(h: Handle): Promise<boolean> {
    return this.logged(operationLabel('exists', h), () => this.inner.exists(h));
  }

  /** Removes, reporting a failure. */
  remove(h: Handle): Promise<void> {
    return this.logged(operationLabel('remove', h), () => this.inner.remove(h));
  }

  /** Lists, reporting a failure. */
  list(type: FileType): Promise<FileInfo[]> {
    return this.logged(operationLabel('list', type), () => this.inner.list(type));
  }

  /** Closes the wrapped backend. */
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Runs `call`, telling onFailure when it fails; a throwing callback must not replace the real error. */
  private async logged<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof NotFoundError)) {
        try {
          this.onFailure({ operation, error, durationMs: Date.now() - started });
        } catch {
          // The caller's logger failing is no reason to lose the storage error.
        }
      }
      throw error;
    }
  }
}
