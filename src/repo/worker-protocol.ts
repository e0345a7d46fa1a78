/**
 * Messages between the main thread and blob workers. Plaintext being backed up stays in memory shared with the
 * workers (a SharedArrayBuffer registered once with `share`), so a request names a byte range, not bytes. Other
 * buffers are transferred, never copied.
 */

/** Passed once at worker start. */
export interface WorkerData {
  encKey: Uint8Array;
  idKey: Uint8Array;
  level: number;
}

/** One stored blob inside a transferred buffer, and where its plaintext goes. */
export interface WriteBlob {
  id: string;
  /** Byte range of the sealed blob in the request's buffer. */
  offset: number;
  length: number;
  /** Expected plaintext length (from the index); a blob that decodes to another length is damaged. */
  rawLength: number;
  /** Open file descriptors and byte positions to write the plaintext to. */
  targets: { fd: number; position: number }[];
}

export type WorkerRequest =
  /** Makes a shared buffer known under a number; later requests name ranges in it. */
  | { op: 'share'; seq: number; region: number; memory: SharedArrayBuffer }
  | { op: 'unshare'; seq: number; region: number }
  /** Compresses and seals a range of a shared buffer. */
  | { op: 'encode'; seq: number; region: number; offset: number; length: number }
  /** Hands back the buffer of an earlier encode reply, copied by now, for the worker to write a later one into. */
  | { op: 'recycle'; seq: number; buffer: ArrayBuffer }
  /** Opens, decompresses and verifies one sealed blob, returning its plaintext. */
  | { op: 'decode'; seq: number; id: string; sealed: ArrayBuffer }
  /** Opens, decompresses and verifies several blobs of one pack range and writes each to its targets. */
  | { op: 'write'; seq: number; buffer: ArrayBuffer; blobs: WriteBlob[] };

export type WorkerReply =
  /** The sealed blob is the first `length` bytes of `sealed`. */
  | { seq: number; sealed: ArrayBuffer; length: number; rawLength: number }
  | { seq: number; plain: ArrayBuffer }
  /** Per blob of a `write` request, in order: undefined when written, else what went wrong. */
  | { seq: number; failures: ({ error: string; damaged: boolean } | undefined)[] }
  | { seq: number; error: string; damaged: boolean };
