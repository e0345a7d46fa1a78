/**
 * Worker thread: hashes, compresses, encrypts and decodes blobs off the main thread, and writes restored
 * plaintext straight into the files being restored. Messages are handled in order, so a `share` or `filter` is in
 * effect for every request sent after it.
 */
import { createHmac } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { DamagedRepoError } from '../errors.js';
import { noteBufferTraffic } from '../util/gc.js';
import { BlobCodec } from './codec.js';
import { blobId } from './crypto.js';
import { ownBuffer } from './own-buffer.js';
import { IdFilter, OutboxWriter, type WorkerData, type WorkerRequest, type WorkerReply, type WriteBlob } from './worker-protocol.js';

const data = workerData as WorkerData;
const codec = new BlobCodec(Buffer.from(data.encKey), data.level);
const idKey = Buffer.from(data.idKey);
const regions = new Map<number, Buffer>();
const outbox = new OutboxWriter(data.outbox);
let filter: IdFilter | undefined;
const port = parentPort;
if (!port) throw new Error('blob-worker must run in a worker thread');

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

/** Zeros to compare plaintext against, a slice at a time (memcmp speed). */
const ZEROS = Buffer.alloc(1024 * 1024);
/** All-zero blobs at least this long are left as holes: smaller ones would not free a filesystem block. */
const HOLE_MIN = 4096;

/** True when every byte of `buf` is zero. */
function allZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - i);
    if (Buffer.compare(buf.subarray(i, i + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
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
      // Restores write into new, empty files, whose unwritten ranges read as zeros: an all-zero chunk is left as a
      // hole, so a sparse file (a VM image, a preallocated database) restores sparse. The restorer sets the size.
      if (plain.length >= HOLE_MIN && allZero(plain)) return undefined;
      for (const t of b.targets) writeAll(t.fd, plain, t.position);
      return undefined;
    } catch (err) {
      return { error: (err as Error).message, damaged: (err as Error).name === 'DamagedRepoError' };
    }
  });
}

/** Compresses and seals a chunk into the outbox (or, when it is full, a buffer of its own) and replies. */
function encode(seq: number, chunk: Buffer, id?: string): void {
  let slot: { buf: Buffer; offset: number; span: number } | undefined;
  let sealed: Buffer;
  try {
    sealed = codec.encodeInto(chunk, (n) => {
      slot = outbox.take(n);
      return slot ? slot.buf : Buffer.allocUnsafeSlow(n);
    });
  } catch (err) {
    if (slot) outbox.untake(slot.span);
    throw err;
  }
  noteBufferTraffic(sealed.length); // the cipher's output pieces, copied into `sealed`
  const extra = id === undefined ? {} : { id };
  if (slot) {
    reply({ seq, offset: slot.offset, length: sealed.length, span: slot.span, rawLength: chunk.length, ...extra });
  } else {
    const ab = sealed.buffer as ArrayBuffer;
    reply({ seq, sealed: ab, rawLength: chunk.length, ...extra }, [ab]);
  }
}

port.on('message', (req: WorkerRequest) => {
  try {
    switch (req.op) {
      case 'share':
        regions.set(req.region, Buffer.from(req.memory));
        break;
      case 'encode':
        encode(req.seq, regionView(req.region, req.offset, req.length));
        break;
      case 'filter':
        filter = new IdFilter(req.memory);
        break;
      case 'save': {
        const chunk = regionView(req.region, req.offset, req.length);
        // blobId() of crypto.ts, keeping the raw digest for the filter.
        const raw = createHmac('sha256', idKey).update(chunk).digest();
        const id = raw.toString('hex');
        if (filter?.mayHave(raw) !== false) reply({ seq: req.seq, id });
        else encode(req.seq, chunk, id);
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
