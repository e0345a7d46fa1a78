/**
 * Worker thread: hashes, compresses, encrypts and decodes blobs off the main thread. Messages are
 * handled in order; chunks wait here between `hash` and `encode`/`drop` so the main thread can check
 * for duplicates without copying the bytes back and forth.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlobCodec } from './codec.js';
import { blobId } from './crypto.js';
import { ownBuffer } from './own-buffer.js';
import { noteBufferTraffic } from '../util/gc.js';
import type { WorkerData, WorkerRequest, WorkerReply } from './worker-protocol.js';

const data = workerData as WorkerData;
const codec = new BlobCodec(Buffer.from(data.encKey), data.level);
const idKey = Buffer.from(data.idKey);
const held = new Map<number, Buffer>();
const port = parentPort;
if (!port) throw new Error('blob-worker must run in a worker thread');

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

port.on('message', (req: WorkerRequest) => {
  try {
    switch (req.op) {
      case 'hash': {
        const chunk = Buffer.from(req.chunk);
        held.set(req.seq, chunk);
        reply({ seq: req.seq, id: blobId(idKey, chunk) });
        break;
      }
      case 'encode': {
        const chunk = held.get(req.seq);
        held.delete(req.seq);
        if (!chunk) throw new Error(`no held chunk ${req.seq}`);
        const sealed = ownBuffer(codec.encode(chunk));
        noteBufferTraffic(chunk.length + sealed.length);
        reply({ seq: req.seq, sealed: sealed.buffer as ArrayBuffer, rawLength: chunk.length }, [sealed.buffer as ArrayBuffer]);
        break;
      }
      case 'drop':
        held.delete(req.seq);
        break;
      case 'decode': {
        const plain = codec.decode(Buffer.from(req.sealed), `blob ${req.id.slice(0, 12)}`);
        if (blobId(idKey, plain) !== req.id) {
          reply({ seq: req.seq, error: `blob ${req.id.slice(0, 12)} does not match its id (damaged)`, damaged: true });
          break;
        }
        const out = ownBuffer(plain);
        noteBufferTraffic(req.sealed.byteLength + out.length);
        reply({ seq: req.seq, plain: out.buffer as ArrayBuffer }, [out.buffer as ArrayBuffer]);
        break;
      }
    }
  } catch (err) {
    const damaged = (err as Error).name === 'DamagedRepoError';
    reply({ seq: req.seq, error: (err as Error).message, damaged });
  }
});
