import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DamagedRepoError, OwbError } from '../errors.js';
import { DEFAULT_ZSTD_LEVEL } from './codec.js';
import type { MasterKey } from './crypto.js';
import { noteBufferTraffic } from '../util/gc.js';
import { ownBuffer } from './own-buffer.js';
import type { WorkerData, WorkerReply, WorkerRequest, WriteBlob } from './worker-protocol.js';

export type { WriteBlob } from './worker-protocol.js';

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

/** Encode replies from this size up go back to their worker for reuse (see blob-worker.ts). */
const RECYCLE_MIN = 256 * 1024;

/** A fixed per-request cost, so that many tiny requests also count as load. */
const REQUEST_COST = 16 * 1024;

/**
 * Compression, encryption and verification of blobs on worker threads. Requests go to the worker with the
 * fewest bytes outstanding.
 */
export class BlobWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private readonly load: number[] = [];
  private seq = 0;
  private next = 0;
  private regions = 0;
  private failure: Error | undefined;

  constructor(key: MasterKey, level = DEFAULT_ZSTD_LEVEL, count = defaultWorkerCount()) {
    const data: WorkerData = { encKey: key.encKey, idKey: key.idKey, level };
    for (let i = 0; i < count; i++) {
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
   * Makes shared memory readable by every worker and returns its region number for encode(). The caller must
   * not change a range while a request on it is outstanding.
   */
  share(memory: SharedArrayBuffer): number {
    const region = ++this.regions;
    for (let i = 0; i < this.workers.length; i++) this.post(i, { op: 'share', seq: 0, region, memory });
    return region;
  }

  /** Forgets shared memory (the workers drop their reference, so it can be freed). */
  unshare(region: number): void {
    for (let i = 0; i < this.workers.length; i++) this.post(i, { op: 'unshare', seq: 0, region });
  }

  /**
   * Compresses (when it pays) and encrypts a range of shared memory into a stored blob. Call `release()` once
   * `sealed` has been copied elsewhere: its memory goes back to the worker for a later blob.
   */
  async encode(region: number, offset: number, length: number): Promise<{ sealed: Buffer; rawLength: number; release: () => void }> {
    const worker = this.leastLoaded();
    const reply = (await this.send({ op: 'encode', seq: 0, region, offset, length }, [], length, worker)) as {
      sealed: ArrayBuffer;
      length: number;
      rawLength: number;
    };
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (reply.sealed.byteLength >= RECYCLE_MIN && !this.failure) {
        this.post(worker, { op: 'recycle', seq: 0, buffer: reply.sealed }, [reply.sealed]);
      } else {
        // Garbage now; its memory belongs to the worker's malloc arena, which grows until this thread collects.
        noteBufferTraffic(reply.sealed.byteLength);
      }
    };
    return { sealed: Buffer.from(reply.sealed, 0, reply.length), rawLength: reply.rawLength, release };
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

  private send(req: WorkerRequest, transfer: ArrayBuffer[], bytes: number, worker = this.leastLoaded()): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
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
