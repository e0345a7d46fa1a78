import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DamagedRepoError, OwbError } from '../errors.js';
import { DEFAULT_ZSTD_LEVEL } from './codec.js';
import type { MasterKey } from './crypto.js';
import { ownBuffer } from './own-buffer.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

/** A chunk held by one worker between hash() and encode()/drop(). */
export interface Ticket {
  readonly worker: number;
  readonly seq: number;
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
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

/** Hashing, compression, encryption and verification of blobs on worker threads. */
export class BlobWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private readonly load: number[] = [];
  private seq = 0;
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

  /** Computes the blob id; the worker keeps the chunk until encode() or drop(). */
  async hash(chunk: Buffer): Promise<{ id: string; ticket: Ticket }> {
    const owned = ownBuffer(chunk);
    const worker = this.leastLoaded();
    const seq = ++this.seq;
    const reply = await this.send(worker, { op: 'hash', seq, chunk: owned.buffer as ArrayBuffer }, [owned.buffer as ArrayBuffer]);
    return { id: (reply as { id: string }).id, ticket: { worker, seq } };
  }

  /** Compresses and encrypts a held chunk. */
  async encode(ticket: Ticket): Promise<{ sealed: Buffer; rawLength: number }> {
    const reply = (await this.send(ticket.worker, { op: 'encode', seq: ticket.seq }, [], ticket.seq)) as {
      sealed: ArrayBuffer;
      rawLength: number;
    };
    return { sealed: Buffer.from(reply.sealed), rawLength: reply.rawLength };
  }

  /** Forgets a held chunk (it was a duplicate). */
  drop(ticket: Ticket): void {
    this.post(ticket.worker, { op: 'drop', seq: ticket.seq });
  }

  /** Decrypts, decompresses and checks a stored blob against its id. */
  async decode(id: string, sealed: Buffer): Promise<Buffer> {
    const owned = ownBuffer(sealed);
    const worker = this.leastLoaded();
    const seq = ++this.seq;
    const reply = await this.send(worker, { op: 'decode', seq, id, sealed: owned.buffer as ArrayBuffer }, [owned.buffer as ArrayBuffer]);
    return Buffer.from((reply as { plain: ArrayBuffer }).plain);
  }

  /** Stops all workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private leastLoaded(): number {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    return best;
  }

  private post(worker: number, req: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.workers[worker]!.postMessage(req, transfer);
  }

  private send(worker: number, req: WorkerRequest, transfer: ArrayBuffer[], seq = req.seq): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending[worker]!.set(seq, { resolve, reject });
      this.load[worker]!++;
      this.post(worker, req, transfer);
    });
  }

  private onReply(worker: number, reply: WorkerReply): void {
    const p = this.pending[worker]!.get(reply.seq);
    if (!p) return;
    this.pending[worker]!.delete(reply.seq);
    this.load[worker]!--;
    if ('error' in reply) p.reject(reply.damaged ? new DamagedRepoError(reply.error) : new OwbError(reply.error));
    else p.resolve(reply);
  }

  private onCrash(worker: number, err: Error): void {
    this.failure ??= new OwbError(`blob worker failed: ${err.message}`);
    for (const p of this.pending[worker]!.values()) p.reject(this.failure);
    this.pending[worker]!.clear();
  }
}
