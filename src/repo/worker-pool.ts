import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DamagedRepoError, OwbError } from '../errors.js';
import { DEFAULT_ZSTD_LEVEL } from './codec.js';
import type { MasterKey } from './crypto.js';
import { ownBuffer } from './own-buffer.js';
import { noteBufferTraffic } from '../util/gc.js';
import { newOutbox, OutboxReader, type IdFilter, type WorkerData, type WorkerReply, type WorkerRequest, type WriteBlob } from './worker-protocol.js';

export { IdFilter, type WriteBlob } from './worker-protocol.js';

/** A stored blob from encode(): release() once `sealed` has been copied, and do not use it afterwards. */
export interface EncodedBlob {
  sealed: Buffer;
  rawLength: number;
  release: () => void;
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
  /** Bytes this request adds to its worker's load until the reply. */
  cost: number;
}

/**
 * Resolves the worker script. Under the test runner this module is loaded from TypeScript sources, which
 * a worker thread cannot run, so it points at the compiled copy that `npm test` builds first.
 */
function workerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL(here.replace('/src/repo/worker-pool.ts', '/dist/repo/blob-worker.js'));
  return new URL('./blob-worker.js', here);
}

/** Default worker count: one per core, as measured a third worker on two cores adds nothing. */
export function defaultWorkerCount(): number {
  return Math.min(8, Math.max(2, availableParallelism()));
}

/**
 * Each worker's outbox for sealed blobs: a few typical blobs in flight. A blob that does not fit comes back as a
 * buffer of its own.
 */
const OUTBOX_BYTES = 4 * 1024 * 1024;

/** A fixed per-request cost, so that many tiny requests also count as load. */
const REQUEST_COST = 16 * 1024;

/**
 * Hashing, compression, encryption and verification of blobs on worker threads. Requests go to the worker with
 * the fewest bytes outstanding. Plaintext to back up is read from shared memory and sealed blobs come back
 * through each worker's outbox, so neither crosses threads as an allocation of its own.
 */
export class BlobWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private readonly load: number[] = [];
  private readonly outboxes: OutboxReader[] = [];
  /** Outbox blobs by request, between their reply and encode() picking them up. */
  private readonly accepted = new Map<number, { view: Buffer; release: () => void }>();
  private seq = 0;
  private next = 0;
  private regions = 0;
  private failure: Error | undefined;

  constructor(key: MasterKey, level = DEFAULT_ZSTD_LEVEL, count = defaultWorkerCount()) {
    for (let i = 0; i < count; i++) {
      const outbox = newOutbox(OUTBOX_BYTES);
      const data: WorkerData = { encKey: key.encKey, idKey: key.idKey, level, outbox };
      this.outboxes.push(new OutboxReader(outbox));
      const w = new Worker(workerUrl(), { workerData: data });
      const map = new Map<number, Pending>();
      w.on('message', (reply: WorkerReply) => this.onReply(i, reply));
      w.on('error', (err) => this.onCrash(i, err));
      w.on('exit', (code) => {
        if (code !== 0) this.onCrash(i, new Error(`blob worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.pending.push(map);
      this.load.push(0);
    }
  }

  /**
   * Makes shared memory readable by every worker and returns its region number for encode() and save(). The
   * caller must not change a range while a request on it is outstanding. Workers keep it until close().
   */
  share(memory: SharedArrayBuffer): number {
    const region = ++this.regions;
    for (let i = 0; i < this.workers.length; i++) this.post(i, { op: 'share', seq: 0, region, memory });
    return region;
  }

  /**
   * Compresses (when it pays) and encrypts a range of shared memory into a stored blob. `sealed` usually lies in
   * the worker's outbox: call `release()` once it has been copied, and do not use it afterwards.
   */
  async encode(region: number, offset: number, length: number): Promise<EncodedBlob> {
    return this.encoded(await this.send({ op: 'encode', seq: 0, region, offset, length }, [], length))!;
  }

  /** Makes `filter` the one that save() consults (see IdFilter); it may change while in use. */
  useFilter(filter: IdFilter): void {
    for (let i = 0; i < this.workers.length; i++) this.post(i, { op: 'filter', seq: 0, memory: filter.memory });
  }

  /**
   * Computes the blob id of a range of shared memory and, unless the filter may know it, encodes it as encode()
   * does. Without `encoded`, the caller encodes the chunk itself if it turns out to be new.
   */
  async save(region: number, offset: number, length: number): Promise<{ id: string; encoded?: EncodedBlob }> {
    const reply = await this.send({ op: 'save', seq: 0, region, offset, length }, [], length);
    const encoded = this.encoded(reply);
    const id = (reply as { id: string }).id;
    return encoded ? { id, encoded } : { id };
  }

  /** Decrypts, decompresses and checks a stored blob against its id. */
  async decode(id: string, sealed: Buffer): Promise<Buffer> {
    const owned = ownBuffer(sealed);
    const buf = owned.buffer as ArrayBuffer;
    const reply = await this.send({ op: 'decode', seq: 0, id, sealed: buf }, [buf], 2 * owned.length);
    return Buffer.from((reply as { plain: ArrayBuffer }).plain);
  }

  /**
   * Decodes the blobs of one read range (`buffer` is handed over to a worker and must not be used afterwards)
   * and writes each blob's plaintext to its targets with pwrite. Resolves with one entry per blob: undefined when
   * it was written, or the error that kept it from being written.
   */
  async write(buffer: Buffer, blobs: WriteBlob[]): Promise<(Error | undefined)[]> {
    const owned = ownBuffer(buffer);
    const buf = owned.buffer as ArrayBuffer;
    const raw = blobs.reduce((n, b) => n + b.rawLength, 0);
    const reply = (await this.send({ op: 'write', seq: 0, buffer: buf, blobs }, [buf], owned.length + raw)) as {
      failures: ({ error: string; damaged: boolean } | undefined)[];
    };
    return reply.failures.map((f) => (f === undefined ? undefined : f.damaged ? new DamagedRepoError(f.error) : new OwbError(f.error)));
  }

  private encoded(reply: WorkerReply): EncodedBlob | undefined {
    if ('sealed' in reply) {
      const sealed = Buffer.from(reply.sealed);
      // Garbage once copied; its memory belongs to the worker's malloc arena until this thread collects it.
      return { sealed, rawLength: reply.rawLength, release: () => noteBufferTraffic(sealed.length) };
    }
    const accepted = this.accepted.get(reply.seq);
    if (!accepted) return undefined;
    this.accepted.delete(reply.seq);
    return { sealed: accepted.view, rawLength: (reply as { rawLength: number }).rawLength, release: accepted.release };
  }

  /** Stops all workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private leastLoaded(): number {
    // Ties go round, so that idle workers share a stream of small requests.
    const n = this.load.length;
    let best = this.next % n;
    for (let k = 1; k < n; k++) {
      const i = (this.next + k) % n;
      if (this.load[i]! < this.load[best]!) best = i;
    }
    this.next = best + 1;
    return best;
  }

  private post(worker: number, req: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.workers[worker]!.postMessage(req, transfer);
  }

  private send(req: WorkerRequest, transfer: ArrayBuffer[], bytes: number): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.leastLoaded();
    const seq = ++this.seq;
    req.seq = seq;
    const cost = bytes + REQUEST_COST;
    return new Promise((resolve, reject) => {
      this.pending[worker]!.set(seq, { resolve, reject, cost });
      this.load[worker]! += cost;
      this.post(worker, req, transfer);
    });
  }

  private onReply(worker: number, reply: WorkerReply): void {
    // Outbox entries are accepted in arrival order, the order the worker wrote them, whatever happens next.
    if ('span' in reply) this.accepted.set(reply.seq, this.outboxes[worker]!.accept(reply.offset, reply.length, reply.span));
    const p = this.pending[worker]!.get(reply.seq);
    if (!p) return;
    this.pending[worker]!.delete(reply.seq);
    this.load[worker]! -= p.cost;
    if ('error' in reply) p.reject(reply.damaged ? new DamagedRepoError(reply.error) : new OwbError(reply.error));
    else p.resolve(reply);
  }

  private onCrash(worker: number, err: Error): void {
    this.failure ??= new OwbError(`blob worker failed: ${err.message}`);
    for (const p of this.pending[worker]!.values()) p.reject(this.failure);
    this.pending[worker]!.clear();
  }
}
