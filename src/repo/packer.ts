import { createHash, type Hash } from 'node:crypto';
import type { Backend } from '../storage/backend.js';
import { buildPackTrailer, PACK_TARGET_BYTES, type BlobType, type PackedBlob } from './pack-format.js';

/** Called once a pack is durable in the backend, so its blobs may be indexed. */
export type PackSaved = (packId: string, blobs: PackedBlob[], bytes: number) => void;

/**
 * One upload at a time: a local save is a write plus two fsyncs, and measured on two cores a second
 * concurrent upload saved no time while it held another whole pack in memory.
 */
const DEFAULT_MAX_UPLOADS = 1;

/** A finished pack waiting for an upload slot. */
interface Finished {
  id: string;
  buf: Buffer;
  bytes: number;
  blobs: PackedBlob[];
}

/**
 * Gathers sealed blobs of one type into packs of about PACK_TARGET_BYTES and uploads them, with at most
 * `maxUploads` packs in flight so memory stays bounded (≈ (maxUploads + 1) × pack size).
 *
 * Each blob is copied into the open pack's buffer as it arrives (so the caller may reuse its memory once add()
 * resolves) and fed to the pack's SHA-256 then, which spreads the hashing over the run. Pack buffers are reused
 * once their upload has finished, so a long backup does not churn 16 MiB allocations.
 */
export class Packer {
  private buf: Buffer | undefined;
  private hash: Hash | undefined;
  private blobs: PackedBlob[] = [];
  private bytes = 0;
  private readonly spare: Buffer[] = [];
  private readonly waiting: Finished[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private wakeups: (() => void)[] = [];
  private failure: unknown;

  constructor(
    private readonly backend: Backend,
    private readonly encKey: Buffer,
    private readonly type: BlobType,
    private readonly onSaved: PackSaved,
    private readonly maxUploads = DEFAULT_MAX_UPLOADS,
    private readonly targetBytes = PACK_TARGET_BYTES,
  ) {}

  /**
   * Appends a sealed blob. While a full pack waits for an upload slot, every caller waits too, holding its blob:
   * that is what carries backpressure back to the reader, else finished packs would pile up in memory.
   */
  async add(id: string, sealed: Uint8Array, rawLength: number): Promise<void> {
    // A full pack waiting for a slot holds the one spare buffer; a third would only add memory, not speed.
    while (this.waiting.length > 0 && !this.failure) await this.nextChange();
    if (this.failure) throw this.failure;
    const buf = this.room(sealed.length);
    buf.set(sealed, this.bytes);
    this.hash!.update(sealed);
    this.blobs.push({ id, type: this.type, offset: this.bytes, length: sealed.length, rawLength });
    this.bytes += sealed.length;
    if (this.bytes >= this.targetBytes) this.finishPack();
  }

  /** Uploads the open pack, if any, and waits for every upload. */
  async flush(): Promise<void> {
    if (this.blobs.length > 0 && !this.failure) this.finishPack();
    while ((this.waiting.length > 0 || this.uploads.size > 0) && !this.failure) await this.nextChange();
    await Promise.all([...this.uploads]);
    this.spare.length = 0; // idle between runs (a daemon keeps the repository open): hold no pack memory
    if (this.failure) throw this.failure;
  }

  /** The open pack's buffer with at least `n` bytes free after the current end, growing it when needed. */
  private room(n: number): Buffer {
    let buf = this.buf;
    if (!buf) {
      buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.initialCapacity());
      this.buf = buf;
      this.hash = createHash('sha256');
    }
    if (this.bytes + n > buf.length) {
      // Rare: the blob that fills a pack is larger than the headroom. Grow once to what is needed.
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.bytes + n, Math.ceil(buf.length * 1.25)));
      buf.copy(bigger, 0, 0, this.bytes);
      this.buf = buf = bigger;
    }
    return buf;
  }

  /** The target plus headroom for the blob that crosses it and the header. */
  private initialCapacity(): number {
    return this.targetBytes + Math.max(64 * 1024, this.targetBytes >>> 3);
  }

  /** Closes the open pack (header, id) and queues it for upload. */
  private finishPack(): void {
    const blobs = this.blobs;
    const trailer = buildPackTrailer(this.encKey, blobs);
    const buf = this.room(trailer.length);
    buf.set(trailer, this.bytes);
    const hash = this.hash!;
    hash.update(trailer);
    this.waiting.push({ id: hash.digest('hex'), buf, bytes: this.bytes + trailer.length, blobs });
    this.buf = undefined;
    this.hash = undefined;
    this.blobs = [];
    this.bytes = 0;
    this.startUploads();
  }

  private startUploads(): void {
    while (this.uploads.size < this.maxUploads && this.waiting.length > 0 && !this.failure) {
      const { id, buf, bytes, blobs } = this.waiting.shift()!;
      const upload = this.backend
        .save({ type: 'data', name: id }, buf.subarray(0, bytes))
        .then(() => {
          // Only after a successful save: a failed one might still be reading the buffer in a retry.
          if (this.spare.length < this.maxUploads) this.spare.push(buf);
          this.onSaved(id, blobs, bytes);
        })
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        .finally(() => {
          this.uploads.delete(upload);
          this.startUploads();
          this.notify();
        });
      this.uploads.add(upload);
    }
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.wakeups.push(resolve));
  }

  private notify(): void {
    const w = this.wakeups;
    this.wakeups = [];
    for (const resolve of w) resolve();
  }
}
