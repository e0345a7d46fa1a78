/**
 * Backends for unit tests of the repository core: a wrapper around a real Backend (by default a MemoryBackend)
 * that records every call and lets a test hold a call open or make it fail, plus small helpers to reach into
 * stored objects. The stored bytes always go through the real backend; only timing and failures are steered.
 */
import type { Readable } from 'node:stream';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from '../../src/storage/backend.js';
import { MemoryBackend } from '../../src/storage/memory.js';

/** The methods of Backend that touch storage. */
export type BackendMethod = 'create' | 'save' | 'load' | 'openReadStream' | 'stat' | 'exists' | 'remove' | 'list';

/** One call as a hook sees it. `handle` is absent for create() and list(); `type` is set for list(). */
export interface BackendCall {
  method: BackendMethod;
  handle?: Handle;
  type?: FileType;
  offset?: number;
  length?: number;
}

/** One entry of {@link SpyBackend.events}: `label` is `method type/name` (or `list type`), `phase` when it happened. */
export interface BackendEvent {
  label: string;
  phase: 'start' | 'done' | 'failed';
}

/** `type/name` of a handle, as events and assertions name objects. */
export function handleKey(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}

function labelOf(call: BackendCall): string {
  if (call.handle) return `${call.method} ${handleKey(call.handle)}`;
  return call.type ? `${call.method} ${call.type}` : call.method;
}

/**
 * Forwards every call to `inner` and records it. `before` runs ahead of the real call and may wait (to hold
 * the call open) or throw (to fail it without touching storage); `after` runs once the real call succeeded and
 * before the caller sees the result, so it may also wait or throw (the request landed, the answer was lost).
 */
export class SpyBackend implements Backend {
  readonly calls: Record<BackendMethod, number> = { create: 0, save: 0, load: 0, openReadStream: 0, stat: 0, exists: 0, remove: 0, list: 0 };
  readonly events: BackendEvent[] = [];
  before: ((call: BackendCall) => void | Promise<void>) | undefined;
  after: ((call: BackendCall) => void | Promise<void>) | undefined;
  readonly properties: BackendProperties;

  constructor(
    readonly inner: Backend = new MemoryBackend('spy'),
    properties: Partial<BackendProperties> = {},
  ) {
    this.properties = { ...inner.properties, ...properties };
  }

  get location(): string {
    return this.inner.location;
  }

  /** Labels of the calls that completed, in completion order, optionally only of one method. */
  done(method?: BackendMethod): string[] {
    return this.events.filter((e) => e.phase === 'done' && (!method || e.label.startsWith(`${method} `))).map((e) => e.label);
  }

  private async call<T>(call: BackendCall, real: () => Promise<T>): Promise<T> {
    this.calls[call.method]++;
    const label = labelOf(call);
    this.events.push({ label, phase: 'start' });
    try {
      await this.before?.(call);
      const result = await real();
      await this.after?.(call);
      this.events.push({ label, phase: 'done' });
      return result;
    } catch (err) {
      this.events.push({ label, phase: 'failed' });
      throw err;
    }
  }

  create(): Promise<void> {
    return this.call({ method: 'create' }, () => this.inner.create());
  }
  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.call({ method: 'save', handle: h }, () => this.inner.save(h, data));
  }
  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    return this.call({ method: 'load', handle: h, offset, length }, () => this.inner.load(h, offset, length));
  }
  openReadStream(h: Handle): Promise<Readable> {
    return this.call({ method: 'openReadStream', handle: h }, () => this.inner.openReadStream(h));
  }
  stat(h: Handle): Promise<FileInfo> {
    return this.call({ method: 'stat', handle: h }, () => this.inner.stat(h));
  }
  exists(h: Handle): Promise<boolean> {
    return this.call({ method: 'exists', handle: h }, () => this.inner.exists(h));
  }
  remove(h: Handle): Promise<void> {
    return this.call({ method: 'remove', handle: h }, () => this.inner.remove(h));
  }
  list(type: FileType): Promise<FileInfo[]> {
    return this.call({ method: 'list', type }, () => this.inner.list(type));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A promise the test resolves by hand: `wait` until someone calls `open()`. */
export interface Gate {
  readonly wait: Promise<void>;
  open(): void;
  readonly isOpen: boolean;
}

/** A closed {@link Gate}. */
export function gate(): Gate {
  let open!: () => void;
  let isOpen = false;
  const wait = new Promise<void>((resolve) => {
    open = () => {
      isOpen = true;
      resolve();
    };
  });
  return {
    wait,
    open: () => open(),
    get isOpen() {
      return isOpen;
    },
  };
}

/** Lets the event loop turn a few times: long enough for every in-memory backend call already started to settle. */
export async function ticks(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** True when `p` is still pending after {@link ticks}. */
export async function isPending(p: Promise<unknown>, turns = 5): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await ticks(turns);
  return !settled;
}

/**
 * Rewrites a stored object in place, as a damaged disk or a hostile store would: loads it, lets `mutate` change the
 * bytes, then removes and saves it again under the same name (objects are write-once, so there is no update).
 */
export async function tamper(backend: Backend, h: Handle, mutate: (bytes: Buffer) => Buffer | void): Promise<void> {
  const bytes = await backend.load(h);
  const changed = mutate(bytes) ?? bytes;
  await backend.remove(h);
  await backend.save(h, changed);
}

/** Flips every bit of one byte of a stored object (negative `offset`: from the end). */
export function flipByteAt(backend: Backend, h: Handle, offset: number): Promise<void> {
  return tamper(backend, h, (b) => {
    const at = offset < 0 ? b.length + offset : offset;
    b[at] = b[at]! ^ 0xff;
  });
}
