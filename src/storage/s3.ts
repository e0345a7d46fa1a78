import { PassThrough, type Readable } from 'node:stream';
import { AlreadyExistsError, DamagedRepoError, NotFoundError, OwbError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkHandle, checkRange, existsByStat, handleLabel, objectPath, statIfExists } from './handles.js';
import { createS3Client, type S3Sdk } from './s3-client.js';
import { classifyS3Error, s3RequestFailure, S3RequestError, shortKey } from './s3-errors.js';
import { DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_REGION, type S3Settings } from './s3-settings.js';

/** The multipart upload module, loaded only for objects over the multipart threshold. */
type StorageModule = typeof import('@aws-sdk/lib-storage');

/** Request body view of `data` without a copy. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A repository in an S3 bucket (AWS, Ceph RGW, MinIO, B2, R2, Wasabi, …), with the local layout under
 * `prefix`: `config`, `<type>/<name>`, `data/<2 hex>/<name>`.
 *
 * - save() never overwrites: single PUTs carry `If-None-Match: *` and the server refuses (412) an existing key.
 *   Multipart uploads also send it on completion, but servers such as Ceph 16 ignore it there, so a HEAD
 *   check runs first. Two processes racing a multipart save of one name could then both land; that is
 *   harmless for owb, whose large objects are packs named by the SHA-256 of their bytes (same name, same bytes).
 * - The SDK makes exactly one attempt per request (maxAttempts 1): retries belong to the retry wrapper, which
 *   must see every failure to handle a PUT that landed although its answer was lost. SDK retries under it
 *   would multiply attempts and turn such a PUT's retry into a bare 412.
 * - Errors are S3RequestError, one line, tagged `transient` for the retry wrapper; missing objects are NotFoundError.
 */
export class S3Backend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties = Object.freeze({ connections: 8, hasAtomicReplace: true });
  private readonly settings: S3Settings;
  private readonly root: string;
  private sdk: Promise<S3Sdk> | undefined;

  /** Nothing connects, and the SDK is not loaded, until the first operation. */
  constructor(settings: S3Settings) {
    const prefix = settings.prefix.replace(/^\/+|\/+$/g, '');
    this.settings = { ...settings, prefix };
    this.root = prefix === '' ? '' : `${prefix}/`;
    const where = settings.endpoint === undefined ? '' : `${new URL(settings.endpoint).origin}/`;
    this.location = `s3:${where}${settings.bucket}${prefix === '' ? '' : `/${prefix}`}`;
  }

  /** Creates the bucket when it is missing; an existing bucket (ours) is fine. S3 has no folders to lay out. */
  async create(): Promise<void> {
    const { client, s3 } = await this.open();
    try {
      await client.send(new s3.HeadBucketCommand({ Bucket: this.settings.bucket }));
      return;
    } catch (err) {
      if (classifyS3Error(err).status !== 404) throw this.fail('HEAD', '(bucket)', err);
    }
    const region = this.settings.region;
    try {
      await client.send(
        new s3.CreateBucketCommand({
          Bucket: this.settings.bucket,
          ...(region !== DEFAULT_REGION ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
        }),
      );
    } catch (err) {
      if (classifyS3Error(err).code === 'BucketAlreadyOwnedByYou') return;
      throw this.fail('CREATE', '(bucket)', err);
    }
  }

  /** Uploads a new object; see the class comment for how overwrites are refused. */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const key = this.key(h);
    const { client, s3 } = await this.open();
    const body = asBuffer(data);
    const params = {
      Bucket: this.settings.bucket,
      Key: key,
      IfNoneMatch: '*',
      ContentType: 'application/octet-stream',
      ...(this.settings.storageClass ? { StorageClass: this.settings.storageClass as never } : {}),
    };
    try {
      if (body.length <= (this.settings.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD)) {
        await client.send(new s3.PutObjectCommand({ ...params, Body: body, ContentLength: body.length }));
        return;
      }
      if (await this.exists(h)) throw new AlreadyExistsError(handleLabel(h));
      const { Upload } = (await import('@aws-sdk/lib-storage')) as StorageModule;
      const upload = new Upload({
        client,
        params: { ...params, Body: body, ContentLength: body.length },
        partSize: Math.max(5 * 1024 * 1024, this.settings.partSize ?? DEFAULT_PART_SIZE),
        queueSize: this.settings.queueSize ?? DEFAULT_QUEUE_SIZE,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      if (err instanceof OwbError) throw err;
      const { status } = classifyS3Error(err);
      if (status === 412 || status === 409) throw new AlreadyExistsError(handleLabel(h));
      throw this.fail('PUT', this.rel(h), err);
    }
  }

  /** Reads the object or a byte range of it (Range request), into a Buffer the caller owns outright. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    if (length === 0) return this.emptyAt(h, offset);
    const range = offset === 0 && length === undefined ? undefined : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    const { client, s3 } = await this.open();
    try {
      const res = await client.send(new s3.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(h), ...(range ? { Range: range } : {}) }));
      const announced = res.ContentLength ?? 0;
      const buf = Buffer.allocUnsafeSlow(announced);
      let got = 0;
      for await (const chunk of res.Body as unknown as Readable) {
        const c = chunk as Buffer;
        if (got + c.length > announced) throw new S3RequestError(`S3 GET ${shortKey(this.rel(h))} failed: more bytes than announced`, { transient: true });
        c.copy(buf, got);
        got += c.length;
      }
      if (got < announced) throw new S3RequestError(`S3 GET ${shortKey(this.rel(h))} failed: response cut off after ${got} of ${announced} bytes`, { transient: true, code: 'ConnectionReset' });
      if (length !== undefined && got < length) {
        const total = Number(/\/(\d+)$/.exec(res.ContentRange ?? '')?.[1] ?? offset + got);
        throw this.shortRead(h, total, offset + length);
      }
      return buf;
    } catch (err) {
      if (err instanceof OwbError) throw err;
      const { status } = classifyS3Error(err);
      if (status === 404) throw new NotFoundError(this.rel(h));
      // An open range starting exactly at the end is a valid empty read; anything else past the end is short.
      if (status === 416) {
        if (length === undefined) return this.emptyAt(h, offset);
        throw this.shortRead(h, (await this.stat(h)).size, offset + length);
      }
      throw this.fail('GET', this.rel(h), err);
    }
  }

  /** Streams the whole object; a connection lost mid-stream surfaces as a transient S3RequestError on the stream. */
  async openReadStream(h: Handle): Promise<Readable> {
    const { client, s3 } = await this.open();
    let body: Readable;
    try {
      body = (await client.send(new s3.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(h) }))).Body as unknown as Readable;
    } catch (err) {
      if (classifyS3Error(err).status === 404) throw new NotFoundError(this.rel(h));
      throw this.fail('GET', this.rel(h), err);
    }
    const out = new PassThrough();
    body.on('error', (err) => out.destroy(this.fail('GET', this.rel(h), err)));
    out.on('close', () => body.destroy());
    body.pipe(out);
    return out;
  }

  /** Size of an object (HEAD). */
  async stat(h: Handle): Promise<FileInfo> {
    const { client, s3 } = await this.open();
    try {
      const res = await client.send(new s3.HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(h) }));
      return { name: h.name, size: res.ContentLength ?? 0 };
    } catch (err) {
      if (classifyS3Error(err).status === 404) throw new NotFoundError(this.rel(h));
      throw this.fail('HEAD', this.rel(h), err);
    }
  }

  /** True when the object exists (HEAD). */
  exists(h: Handle): Promise<boolean> {
    return existsByStat(this, h);
  }

  /** Deletes an object. S3 answers DELETE of a missing key with success, so a HEAD comes first. */
  async remove(h: Handle): Promise<void> {
    await this.stat(h);
    const { client, s3 } = await this.open();
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(h) }));
    } catch (err) {
      if (classifyS3Error(err).status === 404) throw new NotFoundError(this.rel(h));
      throw this.fail('DELETE', this.rel(h), err);
    }
  }

  /** Lists one type, page by page; keys that do not fit the layout are skipped. A missing bucket lists as empty. */
  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const info = await statIfExists(this, { type: 'config', name: '' });
      return info === undefined ? [] : [info];
    }
    checkHandle({ type, name: 'probe' });
    const { client, s3 } = await this.open();
    const prefix = `${this.root}${type}/`;
    const out: FileInfo[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(
          new s3.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
      } catch (err) {
        if (classifyS3Error(err).code === 'NoSuchBucket') return [];
        throw this.fail('LIST', `${type}/`, err);
      }
      for (const obj of page.Contents ?? []) {
        const parts = (obj.Key ?? '').slice(prefix.length).split('/');
        const name = type === 'data' && parts.length === 2 && parts[0]!.length === 2 ? parts[1]! : parts.length === 1 ? parts[0]! : '';
        if (name === '' || name.startsWith('.')) continue;
        if (type === 'data' && !name.startsWith(parts[0]!)) continue;
        out.push({ name, size: obj.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** Closes the client's sockets. */
  async close(): Promise<void> {
    const sdk = this.sdk;
    this.sdk = undefined;
    if (sdk) (await sdk.catch(() => undefined))?.client.destroy();
  }

  /** The object key in the bucket. */
  private key(h: Handle): string {
    return this.root + objectPath(h);
  }

  /** The key below the prefix, as in the local layout; also the label used in messages. */
  private rel(h: Handle): string {
    return objectPath(h);
  }

  /** An empty read at `offset`, which must not lie past the end (S3 has no empty ranges, so HEAD checks it). */
  private async emptyAt(h: Handle, offset: number): Promise<Buffer> {
    const { size } = await this.stat(h);
    if (offset > size) throw this.shortRead(h, size, offset);
    return Buffer.alloc(0);
  }

  /** The short-read error local backends throw for a range past the end. */
  private shortRead(h: Handle, size: number, wanted: number): DamagedRepoError {
    return new DamagedRepoError(`short read: ${shortKey(this.rel(h))} has ${size} bytes, expected at least ${wanted}`);
  }

  /** Turns an SDK or network error into one secret-free line naming the request. */
  private fail(op: string, what: string, err: unknown): S3RequestError {
    const where = what === '(bucket)' ? `bucket ${this.settings.bucket}` : shortKey(what);
    return s3RequestFailure(op, where, err, this.settings.endpoint);
  }

  /** Loads the SDK and builds the client once. */
  private open(): Promise<S3Sdk> {
    this.sdk ??= createS3Client(this.settings);
    return this.sdk;
  }
}
