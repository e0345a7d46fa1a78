/**
 * Worker thread: compresses, encrypts and decodes blobs off the main thread. Messages are handled in order, so a
 * `share` is in effect for every request sent after it.
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { DamagedRepoError } from '../errors.js';
import { BlobCodec } from './codec.js';
import { blobId } from './crypto.js';
import { ownBuffer } from './own-buffer.js';
import { noteBufferTraffic } from '../util/gc.js';
import type { WorkerData, WorkerRequest, WorkerReply, WriteBlob } from './worker-protocol.js';

/** Sealed blobs from this size up are written into recycled buffers (the main thread recycles the same). */
const RECYCLE_MIN = 256 * 1024;
/** Recycled buffers kept waiting for a blob: enough for a few blobs in flight. */
const RECYCLE_KEEP = 12 * 1024 * 1024;

const data = workerData as WorkerData;
const codec = new BlobCodec(Buffer.from(data.encKey), data.level);
const idKey = Buffer.from(data.idKey);
const regions = new Map<number, Buffer>();
const port = parentPort;
if (!port) throw new Error('blob-worker must run in a worker thread');

/**
 * Buffers that large sealed blobs are written into, travelling to the main thread and back, so that this thread
 * does not allocate (and its malloc arena fragment) one per blob. Small blobs get buffers of their own: small
 * allocations do not fragment, and a reused big buffer would waste its size on them.
 */
class OutputBuffers {
  private readonly free: ArrayBuffer[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  give(ab: ArrayBuffer): void {
    if (this.bytes + ab.byteLength > this.maxBytes) return; // let it go
    this.free.push(ab);
    this.bytes += ab.byteLength;
  }

  /** The smallest kept buffer of at least `n` bytes, or a new one. */
  take(n: number): Buffer {
    if (n < RECYCLE_MIN) return Buffer.allocUnsafeSlow(n);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.byteLength;
      if (len >= n && (best < 0 || len < this.free[best]!.byteLength)) best = i;
    }
    if (best < 0) return Buffer.allocUnsafeSlow(roundUp(n));
    const [ab] = this.free.splice(best, 1);
    this.bytes -= ab!.byteLength;
    return Buffer.from(ab!);
  }
}

/** Up to the next multiple of an eighth of n's power of two: few distinct sizes, at most 1/8 unused. */
function roundUp(n: number): number {
  const step = 2 ** Math.floor(Math.log2(n)) / 8;
  return Math.ceil(n / step) * step;
}

const outputs = new OutputBuffers(RECYCLE_KEEP);

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function regionView(region: number, offset: number, length: number): Buffer {
  const mem = regions.get(region);
  if (!mem || offset < 0 || offset + length > mem.length) throw new Error(`bad shared range ${region}:${offset}+${length}`);
  return mem.subarray(offset, offset + length);
}

/** Decodes one blob and checks it against its id; the plaintext is only valid until the next decode. */
function decodeChecked(id: string, sealed: Uint8Array, transient: boolean): Buffer {
  const what = `blob ${id.slice(0, 12)}`;
  const plain = transient ? codec.decodeTransient(sealed, what) : codec.decode(sealed, what);
  if (blobId(idKey, plain) !== id) throw new DamagedRepoError(`${what} does not match its id (damaged)`);
  return plain;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

function writeBlobs(buffer: Buffer, blobs: WriteBlob[]): ({ error: string; damaged: boolean } | undefined)[] {
  return blobs.map((b) => {
    try {
      if (b.offset < 0 || b.offset + b.length > buffer.length) throw new Error(`blob ${b.id.slice(0, 12)} lies outside its read range`);
      const plain = decodeChecked(b.id, buffer.subarray(b.offset, b.offset + b.length), true);
      if (plain.length !== b.rawLength) {
        throw new DamagedRepoError(`blob ${b.id.slice(0, 12)} has ${plain.length} bytes, the index says ${b.rawLength} (damaged)`);
      }
      for (const t of b.targets) writeAll(t.fd, plain, t.position);
      return undefined;
    } catch (err) {
      return { error: (err as Error).message, damaged: (err as Error).name === 'DamagedRepoError' };
    }
  });
}

port.on('message', (req: WorkerRequest) => {
  try {
    switch (req.op) {
      case 'share':
        regions.set(req.region, Buffer.from(req.memory));
        break;
      case 'unshare':
        regions.delete(req.region);
        break;
      case 'recycle':
        outputs.give(req.buffer);
        break;
      case 'encode': {
        const sealed = codec.encodeInto(regionView(req.region, req.offset, req.length), (n) => outputs.take(n));
        noteBufferTraffic(sealed.length);
        const ab = sealed.buffer as ArrayBuffer;
        reply({ seq: req.seq, sealed: ab, length: sealed.length, rawLength: req.length }, [ab]);
        break;
      }
      case 'decode': {
        const out = ownBuffer(decodeChecked(req.id, Buffer.from(req.sealed), false));
        noteBufferTraffic(req.sealed.byteLength + out.length);
        reply({ seq: req.seq, plain: out.buffer as ArrayBuffer }, [out.buffer as ArrayBuffer]);
        break;
      }
      case 'write': {
        const failures = writeBlobs(Buffer.from(req.buffer), req.blobs);
        noteBufferTraffic(2 * req.buffer.byteLength);
        reply({ seq: req.seq, failures });
        break;
      }
    }
  } catch (err) {
    const damaged = (err as Error).name === 'DamagedRepoError';
    reply({ seq: req.seq, error: (err as Error).message, damaged });
  }
});
