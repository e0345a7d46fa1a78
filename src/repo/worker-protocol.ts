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
  /** This worker's outbox: the ring its sealed blobs are written into (see OutboxWriter). */
  outbox: SharedArrayBuffer;
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
  /** Compresses and seals a range of a shared buffer. */
  | { op: 'encode'; seq: number; region: number; offset: number; length: number }
  /** Makes an id filter (see IdFilter) known; `save` consults the latest one. */
  | { op: 'filter'; seq: number; memory: SharedArrayBuffer }
  /** Computes the blob id of a range of a shared buffer and, unless the filter may know the id, encodes it too. */
  | { op: 'save'; seq: number; region: number; offset: number; length: number }
  /** Opens, decompresses and verifies one sealed blob, returning its plaintext. */
  | { op: 'decode'; seq: number; id: string; sealed: ArrayBuffer }
  /** Opens, decompresses and verifies several blobs of one pack range and writes each to its targets. */
  | { op: 'write'; seq: number; buffer: ArrayBuffer; blobs: WriteBlob[] };

export type WorkerReply =
  /**
   * An encoded blob in the outbox at `offset`; `span` bytes of the ring are used (padding before it included).
   * `id` is set for `save`.
   */
  | { seq: number; offset: number; length: number; span: number; rawLength: number; id?: string }
  /** An encoded blob that did not fit the outbox. */
  | { seq: number; sealed: ArrayBuffer; rawLength: number; id?: string }
  /** A `save` whose id the filter may know: only the id. */
  | { seq: number; id: string }
  | { seq: number; plain: ArrayBuffer }
  /** Per blob of a `write` request, in order: undefined when written, else what went wrong. */
  | { seq: number; failures: ({ error: string; damaged: boolean } | undefined)[] }
  | { seq: number; error: string; damaged: boolean };

/** Bytes at the start of an outbox that hold its two counters. */
const OUTBOX_HEADER = 16;

/** A new outbox with room for `bytes` of sealed blobs. */
export function newOutbox(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(OUTBOX_HEADER + bytes);
}

/**
 * The worker's side of an outbox: a ring in shared memory where sealed blobs are written for the main thread to
 * copy into a pack, so that they neither cross threads as allocations of their own nor leave garbage behind in
 * either thread. Two monotonic byte counters in the header, each with one writer: bytes handed out (worker) and
 * bytes given back (main thread). A blob never wraps; the rest of the ring's end is skipped as padding.
 */
export class OutboxWriter {
  private readonly counters: BigInt64Array;
  private readonly ring: Buffer;
  private head = 0;

  constructor(memory: SharedArrayBuffer) {
    this.counters = new BigInt64Array(memory, 0, 2);
    this.ring = Buffer.from(memory, OUTBOX_HEADER);
  }

  /** Room for `n` bytes, or undefined when the ring has not that much free. */
  take(n: number): { buf: Buffer; offset: number; span: number } | undefined {
    const size = this.ring.length;
    const tail = Number(Atomics.load(this.counters, 1));
    let pos = this.head % size;
    let pad = 0;
    if (pos + n > size) {
      pad = size - pos;
      pos = 0;
    }
    if (this.head + pad + n - tail > size) return undefined;
    this.head += pad + n;
    return { buf: this.ring.subarray(pos, pos + n), offset: pos, span: pad + n };
  }

  /** Gives back the last take() (its blob could not be finished). */
  untake(span: number): void {
    this.head -= span;
  }
}

/** The main thread's side of an outbox: reads blobs and gives their bytes back, in any order. */
export class OutboxReader {
  private readonly counters: BigInt64Array;
  private readonly ring: Buffer;
  private readonly spans: { span: number; done: boolean }[] = [];
  private tail = 0;

  constructor(memory: SharedArrayBuffer) {
    this.counters = new BigInt64Array(memory, 0, 2);
    this.ring = Buffer.from(memory, OUTBOX_HEADER);
  }

  /**
   * Accepts the next blob, in the order the worker wrote them (the order of its replies). Returns a view of it and
   * the function that gives its bytes back once they have been copied.
   */
  accept(offset: number, length: number, span: number): { view: Buffer; release: () => void } {
    const entry = { span, done: false };
    this.spans.push(entry);
    const release = (): void => {
      if (entry.done) return;
      entry.done = true;
      let freed = 0;
      while (this.spans.length > 0 && this.spans[0]!.done) freed += this.spans.shift()!.span;
      if (freed > 0) {
        this.tail += freed;
        Atomics.store(this.counters, 1, BigInt(this.tail));
      }
    };
    return { view: this.ring.subarray(offset, offset + length), release };
  }
}

/**
 * A Bloom filter of blob ids in shared memory, written by the main thread and read by the workers, so that a worker
 * can encode a chunk right after hashing it unless the repository may already hold it: one round trip per new chunk
 * instead of two, and none of the hashing on the main thread. A stale or false answer only costs time: the main
 * thread's index decides, and drops a blob it already has. Ids are keyed hashes, uniformly random, so three of
 * their 32-bit words serve as the three hash functions.
 */
export class IdFilter {
  readonly memory: SharedArrayBuffer;
  private readonly words: Uint32Array;
  private readonly mask: number;

  /** A filter sized for about `expected` ids (about 0.5 % false positives up to that many). */
  constructor(expected: number);
  /** A worker's view of a filter made elsewhere. */
  constructor(memory: SharedArrayBuffer);
  constructor(arg: number | SharedArrayBuffer) {
    if (typeof arg === 'number') {
      let bits = 1 << 20;
      while (bits < 16 * arg && bits < 1 << 30) bits *= 2;
      arg = new SharedArrayBuffer(bits / 8);
    }
    this.memory = arg;
    this.words = new Uint32Array(arg);
    this.mask = this.words.length * 32 - 1;
  }

  /** Adds an id given as 64 hex digits. */
  add(hexId: string): void {
    for (let i = 0; i < 3; i++) {
      const bit = parseInt(hexId.slice(8 * i, 8 * i + 8), 16) & this.mask;
      this.words[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  /** False when the id (as 32 raw bytes) was certainly never added. */
  mayHave(rawId: Buffer): boolean {
    for (let i = 0; i < 3; i++) {
      const bit = rawId.readUInt32BE(4 * i) & this.mask;
      if ((this.words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}
