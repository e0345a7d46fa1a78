import type { Readable } from 'node:stream';
import { Semaphore } from '../util/semaphore.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';

/**
 * Wraps a backend so at most `connections` of its calls run at once (default: what the backend declares in
 * properties.connections); further calls wait their turn in order. A stream from openReadStream() holds its slot
 * until it ends or is destroyed, as it keeps a connection (or an rclone process) busy until then.
 */
export function withLimit(backend: Backend, connections = backend.properties.connections): Backend {
  return new LimitBackend(backend, Math.max(1, Math.floor(connections)));
}

/** The wrapper behind {@link withLimit}. */
class LimitBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly slots: Semaphore;

  constructor(
    /** The wrapped backend (see unwrap() in stack.ts). */
    readonly inner: Backend,
    connections: number,
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
    this.slots = new Semaphore(connections);
  }

  /** Creates the layout in one slot. */
  create(): Promise<void> {
    return this.limited(() => this.inner.create());
  }

  /** Saves in one slot. */
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.limited(() => this.inner.save(h, data));
  }

  /** Loads in one slot. */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    return this.limited(() => this.inner.load(h, offset, length));
  }

  /** Opens a stream that keeps its slot until it closes (after its end, an error, or destroy()). */
  async openReadStream(h: Handle): Promise<Readable> {
    await this.slots.acquire();
    let stream: Readable;
    try {
      stream = await this.inner.openReadStream(h);
    } catch (err) {
      this.slots.release();
      throw err;
    }
    if (stream.closed || stream.destroyed) {
      this.slots.release();
      return stream;
    }
    stream.once('close', () => this.slots.release());
    return stream;
  }

  /** Stats in one slot. */
  stat(h: Handle): Promise<FileInfo> {
    return this.limited(() => this.inner.stat(h));
  }

  /** Checks existence in one slot. */
  exists(h: Handle): Promise<boolean> {
    return this.limited(() => this.inner.exists(h));
  }

  /** Removes in one slot. */
  remove(h: Handle): Promise<void> {
    return this.limited(() => this.inner.remove(h));
  }

  /** Lists in one slot. */
  list(type: FileType): Promise<FileInfo[]> {
    return this.limited(() => this.inner.list(type));
  }

  /** Closes at once: waiting for a slot could wait on a stream nobody will finish. */
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Runs `call` once a slot is free, and frees it however the call ends. */
  private async limited<T>(call: () => Promise<T>): Promise<T> {
    await this.slots.acquire();
    try {
      return await call();
    } finally {
      this.slots.release();
    }
  }
}
