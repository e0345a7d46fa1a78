import type { Readable } from 'node:stream';

/** The kinds of object a repository stores; each lives under its own prefix. */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

/** Addresses one object. For `config`, `name` is ignored and MUST be passed as ''. */
export interface Handle {
  type: FileType;
  name: string;
}

/** One listed object. */
export interface FileInfo {
  name: string;
  size: number;
}

/** Declared capabilities, so callers never sniff a backend's class. */
export interface BackendProperties {
  /** How many requests may usefully run at once; behind openBackend, no more than this run at once. */
  connections: number;
  /** True when save() is atomic (readers never observe a partial object). */
  hasAtomicReplace: boolean;
}

/**
 * The storage contract. A backend knows nothing of the repository format: it stores opaque, write-once
 * byte objects addressed by {type, name}.
 *
 * - Object layout: `config`; `<type>/<name>` for keys, index, snapshots and locks; `data/<name[0..2]>/<name>`.
 * - save() MUST NOT overwrite an existing object; it MUST throw AlreadyExistsError (from errors.ts) instead. A reader
 *   MUST never see a partial object: on disks, write a temp file, fsync, then rename.
 * - load(), stat() and remove() MUST throw NotFoundError (from errors.ts) for a missing object, and nothing else.
 * - list() MUST list every complete object of a type, and never a temp file; data objects are listed by bare name.
 * - All methods MAY be called concurrently. A backend does not retry, limit or log by itself: openBackend stacks
 *   wrappers for that (stack.ts). Failures worth another try SHOULD carry `transient: true` (see transient.ts).
 * - Behind openBackend, at most properties.connections calls run at once, and a stream from openReadStream()
 *   counts as one until it ends or is destroyed: a caller MUST NOT hold a stream unread while it waits on
 *   other calls of the same backend.
 */
export interface Backend {
  /** A human-readable location, with any credential removed. Used in messages. */
  readonly location: string;
  readonly properties: BackendProperties;

  /** Creates the layout (folders, bucket prefix). MUST succeed when it already exists. */
  create(): Promise<void>;
  /** Stores `data` as a new object. MUST throw AlreadyExistsError if the object exists. */
  save(h: Handle, data: Uint8Array): Promise<void>;
  /** Reads `length` bytes from `offset` (whole object when length is undefined). MUST throw NotFoundError if missing. */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer>;
  /** Streams an object, for large reads such as pack verification. */
  openReadStream(h: Handle): Promise<Readable>;
  /** Size of an object. MUST throw NotFoundError if missing. */
  stat(h: Handle): Promise<FileInfo>;
  /** True when the object exists. */
  exists(h: Handle): Promise<boolean>;
  /** Deletes an object. MUST throw NotFoundError if missing. */
  remove(h: Handle): Promise<void>;
  /** Lists all objects of one type. */
  list(type: FileType): Promise<FileInfo[]>;
  /** Releases connections. */
  close(): Promise<void>;
}
