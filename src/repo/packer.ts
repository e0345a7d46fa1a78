import type { Backend } from '../storage/backend.js';
import { noteBufferTraffic } from '../util/gc.js';
import { sha256Hex } from './crypto.js';
import { buildPackTrailer, PACK_TARGET_BYTES, type BlobType, type PackedBlob } from './pack-format.js';

/** Called once a pack is durable in the backend, so its blobs may be indexed. */
export type PackSaved = (packId: string, blobs: PackedBlob[], bytes: number) => void;

/**
 * Gathers sealed blobs of one type into packs of about PACK_TARGET_BYTES and uploads them, with at most
 * `maxUploads` packs in flight so memory stays bounded (≈ (maxUploads + 1) × pack size).
 */
export class Packer {
  private parts: Buffer[] = [];
  private blobs: PackedBlob[] = [];
  private bytes = 0;
  private readonly uploads = new Set<Promise<void>>();
  private failure: unknown;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly encKey: Buffer,
    private readonly type: BlobType,
    private readonly onSaved: PackSaved,
    private readonly maxUploads = 2,
    private readonly targetBytes = PACK_TARGET_BYTES,
  ) {}

  /**
   * Appends a sealed blob. While a full pack waits for an upload slot, every caller waits too, holding
   * its blob: that is what carries backpressure back to the reader (else finished packs pile up in memory).
   */
  async add(id: string, sealed: Buffer, rawLength: number): Promise<void> {
    while (this.closing) await this.closing;
    if (this.failure) throw this.failure;
    this.blobs.push({ id, type: this.type, offset: this.bytes, length: sealed.length, rawLength });
    this.parts.push(sealed);
    this.bytes += sealed.length;
    if (this.bytes >= this.targetBytes) await this.close();
  }

  /** Uploads the open pack, if any, and waits for every upload. */
  async flush(): Promise<void> {
    while (this.closing) await this.closing;
    if (this.blobs.length > 0) await this.close();
    await Promise.all([...this.uploads]);
    if (this.failure) throw this.failure;
  }

  private close(): Promise<void> {
    this.closing = this.finishPack().finally(() => {
      this.closing = undefined;
    });
    return this.closing;
  }

  private async finishPack(): Promise<void> {
    while (this.uploads.size >= this.maxUploads) await Promise.race(this.uploads);
    if (this.failure) throw this.failure;
    const blobs = this.blobs;
    const pack = Buffer.concat([...this.parts, buildPackTrailer(this.encKey, blobs)]);
    this.parts = [];
    this.blobs = [];
    this.bytes = 0;
    noteBufferTraffic(pack.length * 2);
    const id = sha256Hex(pack);
    const upload = this.backend
      .save({ type: 'data', name: id }, pack)
      .then(() => this.onSaved(id, blobs, pack.length))
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }
}
