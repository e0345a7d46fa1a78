import { Readable } from 'node:stream';
import { AlreadyExistsError, DamagedRepoError, NotFoundError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkHandle, checkRange, handleLabel } from './handles.js';

/**
 * A backend held in a Map, with the same contract as LocalBackend. It is the fast fake for unit tests, so
 * it copies bytes in and out: a test that mutates a buffer must not be able to corrupt the "stored" object.
 */
export class MemoryBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties = Object.freeze({ connections: 4, hasAtomicReplace: true });
  private readonly objects = new Map<string, Buffer>();

  /** `label` only shows up in messages, to tell several fakes apart. */
  constructor(label = 'memory') {
    this.location = `memory:${label}`;
  }

  /** Nothing to lay out; present so callers treat every backend alike. */
  async create(): Promise<void> {}

  /** Stores a private copy; the check and the insert run without an await between them, so racing saves cannot both win. */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const key = keyOf(h);
    if (this.objects.has(key)) throw new AlreadyExistsError(handleLabel(h));
    this.objects.set(key, Buffer.from(data));
  }

  /** Returns a fresh copy of the range, mirroring LocalBackend's short-read error. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    const stored = this.get(h);
    const end = length === undefined ? stored.length : offset + length;
    if (offset > stored.length || end > stored.length) {
      throw new DamagedRepoError(
        `short read: ${handleLabel(h)} has ${stored.length} bytes, expected at least ${Math.max(offset, end)}`,
      );
    }
    return Buffer.from(stored.subarray(offset, end));
  }

  /** Streams a copy, as one chunk: in-memory objects are small enough for that. */
  async openReadStream(h: Handle): Promise<Readable> {
    const copy = Buffer.from(this.get(h));
    return Readable.from([copy], { objectMode: false });
  }

  /** Size of an object. */
  async stat(h: Handle): Promise<FileInfo> {
    return { name: h.name, size: this.get(h).length };
  }

  /** True when the object exists. */
  async exists(h: Handle): Promise<boolean> {
    return this.objects.has(keyOf(h));
  }

  /** Deletes an object. */
  async remove(h: Handle): Promise<void> {
    if (!this.objects.delete(keyOf(h))) throw new NotFoundError(handleLabel(h));
  }

  /** Lists the objects of one type by bare name. */
  async list(type: FileType): Promise<FileInfo[]> {
    const prefix = `${type}/`;
    const out: FileInfo[] = [];
    for (const [key, data] of this.objects) {
      if (key.startsWith(prefix)) out.push({ name: key.slice(prefix.length), size: data.length });
    }
    return out;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  /** The stored bytes (not a copy; callers must copy before handing them out). */
  private get(h: Handle): Buffer {
    const stored = this.objects.get(keyOf(h));
    if (stored === undefined) throw new NotFoundError(handleLabel(h));
    return stored;
  }
}

/** Map key of an object; validates the handle so the fake rejects what LocalBackend rejects. */
function keyOf(h: Handle): string {
  checkHandle(h);
  return `${h.type}/${h.name}`;
}
