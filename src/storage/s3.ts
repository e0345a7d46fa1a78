import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type { S3Client } from '@aws-sdk/client-s3';
import { readSecretFile, secretFromEnv } from '../config/secrets.js';
import { AlreadyExistsError, DamagedRepoError, NotFoundError, OwbError, UsageError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkHandle, checkRange, existsByStat, handleLabel, statIfExists } from './handles.js';
import { NETWORK_ERROR_CODES, TRY_LATER_CODES } from './transient.js';

// ─── Settings ───────────────────────────────────────────────────────────────────────────────────────

/** Access keys. Secrets: never put them, or anything holding them, into a message. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Where and how to reach an S3 repository. */
export interface S3Settings {
  /** Service origin, e.g. `http://127.0.0.1:7480`; undefined means AWS's own regional endpoint. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Key prefix without leading or trailing slashes; '' puts the repository at the bucket's root. */
  prefix: string;
  /** Path-style addressing (`host/bucket/key`); defaults to true when an endpoint is given (Ceph, MinIO, …). */
  forcePathStyle?: boolean;
  /** Passed on every upload, e.g. STANDARD_IA. */
  storageClass?: string;
  /** Undefined: the SDK's default chain (profile files, instance roles), on AWS only; a custom endpoint needs keys. */
  credentials?: S3Credentials;
  /** Objects larger than this go up as multipart uploads (default 32 MiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads (default 16 MiB, at least 5 MiB). */
  partSize?: number;
  /** Parts of one upload in flight at once (default 4), which bounds the upload's buffering. */
  queueSize?: number;
  /** A request with no bytes moving for this long is aborted as a (transient) timeout; default 60 s. */
  idleTimeoutMs?: number;
  /** TCP connect timeout; default 10 s. */
  connectTimeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for an https endpoint with a private CA, added to Node's own roots. */
  caBundle?: string;
}

/** Multipart defaults: a 16 MiB pack stays one PUT; only unusually large objects are split. */
export const DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 4;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Region assumed when none is configured; S3-compatible servers accept it, AWS redirects from it. */
const DEFAULT_REGION = 'us-east-1';

/** A first URL segment that names an S3 service host (restic's `s3:s3.amazonaws.com/bucket`) rather than a bucket. */
const HOST_LIKE = /^(?:s3[.-][^/]*\.[a-z]{2,}|[^/]*\.amazonaws\.com|[^/]+:\d+)$/i;

/**
 * Parses the part of a repository URL after `s3:`, following restic: `https://host[:port]/bucket[/prefix]`,
 * `http://127.0.0.1:port/bucket`, `s3.amazonaws.com/bucket[/prefix]` (a host-looking first segment), or a bare
 * `bucket[/prefix]` on AWS's default endpoint. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * (and AWS_SESSION_TOKEN), each also as a `*_FILE` variant; the region from AWS_DEFAULT_REGION or AWS_REGION.
 */
export async function s3SettingsFromUrl(rest: string, env: NodeJS.ProcessEnv): Promise<S3Settings> {
  let endpoint: string | undefined;
  let path: string;
  if (/^https?:\/\//i.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new UsageError('s3: cannot parse the repository URL; expected s3:https://host[:port]/bucket[/prefix]');
    }
    if (url.username !== '' || url.password !== '') {
      // The message must not repeat what was typed: it was a credential.
      throw new UsageError('s3: credentials in the repository URL are refused; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE variants)');
    }
    if (url.search !== '' || url.hash !== '') throw new UsageError('s3: the repository URL takes no query string or fragment');
    endpoint = url.origin;
    path = decodeURIComponent(url.pathname);
  } else {
    const [first = '', ...others] = rest.split('/');
    if (others.length > 0 && HOST_LIKE.test(first)) {
      endpoint = /\.amazonaws\.com$/i.test(first) ? undefined : `https://${first}`;
      path = others.join('/');
    } else {
      path = rest;
    }
  }
  const [bucket = '', ...prefixParts] = path.split('/').filter((p) => p !== '');
  if (bucket === '') throw new UsageError('s3: no bucket in the repository URL; expected s3:https://host/bucket[/prefix]');
  if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(bucket)) throw new UsageError(`s3: invalid bucket name "${bucket}"`);

  const accessKeyId = await secretFromEnv(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = await secretFromEnv(env, 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = await secretFromEnv(env, 'AWS_SESSION_TOKEN');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const missing = accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY';
    throw new UsageError(`s3: ${missing} (or ${missing}_FILE) is not set, but its partner is`);
  }
  const settings: S3Settings = {
    region: env.AWS_DEFAULT_REGION || env.AWS_REGION || DEFAULT_REGION,
    bucket,
    prefix: prefixParts.join('/'),
  };
  if (endpoint !== undefined) settings.endpoint = endpoint;
  // AWS_CA_BUNDLE, as the AWS CLI reads it; only an https endpoint needs it (and a broken value there must fail).
  if (env.AWS_CA_BUNDLE && endpoint?.startsWith('https:')) settings.caBundle = await readSecretFile(env.AWS_CA_BUNDLE, 'AWS_CA_BUNDLE');
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    settings.credentials = { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) };
  }
  return settings;
}

// ─── Errors ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * A failed S3 request, as one secret-free line. `transient` tells the retry wrapper (retry.ts) whether trying
 * again can help: 5xx, throttling, timeouts and broken connections can; refusals and bad credentials cannot.
 */
export class S3RequestError extends OwbError {
  readonly transient: boolean;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** S3 error code (e.g. SlowDown) or network error code (e.g. ECONNRESET). */
  readonly code: string | undefined;
  constructor(message: string, detail: { transient: boolean; status?: number | undefined; code?: string | undefined }) {
    super(message);
    this.transient = detail.transient;
    this.status = detail.status;
    this.code = detail.code;
  }
}

/** Hints for the refusals users can fix themselves. */
const HINTS: Readonly<Record<string, string>> = {
  SignatureDoesNotMatch: 'check AWS_SECRET_ACCESS_KEY',
  InvalidAccessKeyId: 'check AWS_ACCESS_KEY_ID',
  AccessDenied: 'check the access key and its permissions on the bucket',
  Forbidden: 'check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key\'s permissions',
  NoSuchBucket: 'the bucket does not exist; "owb init" creates it',
  RequestTimeTooSkewed: 'check the system clock',
  PermanentRedirect: 'check AWS_DEFAULT_REGION: the bucket lives in another region',
  AuthorizationHeaderMalformed: 'check AWS_DEFAULT_REGION',
  CredentialsProviderError: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
  InvalidBucketName: 'check the bucket name in the repository URL',
  BucketAlreadyExists: 'the bucket name is taken by another account; choose another',
};

/** Short status texts for answers whose body did not name an error code (HEAD requests have no body). */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  301: 'PermanentRedirect', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 412: 'PreconditionFailed', 416: 'InvalidRange', 429: 'TooManyRequests', 500: 'InternalError',
  501: 'NotImplemented', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout',
};

/** What the SDK puts on its errors (all optional: network failures carry none of it). */
interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: unknown;
  cause?: unknown;
}

/** Status, error code and whether it is transient, from whatever the SDK or Node threw. */
export function classifyS3Error(err: unknown): { status: number | undefined; code: string; transient: boolean } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const causeCode = (e.cause as SdkErrorShape | undefined)?.code;
  const netCode = [e.code, causeCode].find((c): c is string => typeof c === 'string' && NETWORK_ERROR_CODES.has(c));
  const nodeCode = status === undefined && typeof e.code === 'string' ? e.code : undefined;
  let code = netCode ?? (typeof e.Code === 'string' ? e.Code : undefined) ?? nodeCode ?? e.name ?? 'Error';
  if (['Unknown', 'UnknownError', 'Error', String(status)].includes(code) && status !== undefined) code = STATUS_NAMES[status] ?? `HTTP${status}`;
  const message = typeof e.message === 'string' ? e.message : '';
  const timedOut = e.name === 'TimeoutError' || /timed out|timeout/i.test(message);
  const hungUp = /socket hang up|aborted|premature close|ECONNRESET|EPIPE/i.test(message);
  if (timedOut && netCode === undefined && !TRY_LATER_CODES.has(code)) code = 'Timeout';
  else if (hungUp && netCode === undefined && status === undefined) code = 'ConnectionReset';
  // A 2xx whose body could not be parsed was cut off on the way: the request may simply be repeated.
  const truncated = status !== undefined && status < 300 && e.$response !== undefined;
  const transient =
    netCode !== undefined || timedOut || hungUp || truncated || TRY_LATER_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429));
  return { status, code, transient };
}

/** Shortens object names in messages: hex ids are long, their first characters identify them well enough. */
function shortKey(rel: string): string {
  return rel.replace(/[0-9a-f]{16,}/g, (id) => `${id.slice(0, 8)}…`);
}

// ─── Backend ────────────────────────────────────────────────────────────────────────────────────────

/** The SDK modules, loaded on first use so that local-only runs never pay for them. */
type ClientModule = typeof import('@aws-sdk/client-s3');
type StorageModule = typeof import('@aws-sdk/lib-storage');

/** A logger that drops everything: library code never prints, and the SDK would warn on stderr. */
const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

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
  private sdk: Promise<{ client: S3Client; s3: ClientModule }> | undefined;

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
    checkHandle(h);
    return this.root + this.rel(h);
  }

  /** The key below the prefix, as in the local layout; also the label used in messages. */
  private rel(h: Handle): string {
    if (h.type === 'config') return 'config';
    if (h.type === 'data') return `data/${h.name.slice(0, 2)}/${h.name}`;
    return `${h.type}/${h.name}`;
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

  /** Turns an SDK or network error into one secret-free line: operation, key, status, code, hint. */
  private fail(op: string, what: string, err: unknown): S3RequestError {
    if (err instanceof S3RequestError) return err;
    const { status, code, transient } = classifyS3Error(err);
    const hint =
      HINTS[code] ??
      (code === 'ECONNREFUSED' ? `cannot connect to ${this.settings.endpoint ?? 'the S3 endpoint'}` : undefined) ??
      (/CERT|SSL|TLS/.test(code) ? 'the server\'s TLS certificate is not trusted; for a private CA set AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS' : undefined);
    const where = what === '(bucket)' ? `bucket ${this.settings.bucket}` : shortKey(what);
    const line = `S3 ${op} ${where} failed: ${status !== undefined ? `${status} ` : ''}${code}${hint ? ` (${hint})` : ''}`;
    return new S3RequestError(line, { transient, status, code });
  }

  /** Loads the SDK and builds the client once. */
  private open(): Promise<{ client: S3Client; s3: ClientModule }> {
    this.sdk ??= (async () => {
      const s = this.settings;
      if (s.credentials === undefined && s.endpoint !== undefined) {
        // The SDK's fallback chain ends at cloud instance metadata: meaningless, and slow, for a self-hosted server.
        throw new UsageError(`s3: no credentials for ${s.endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE variants)`);
      }
      const s3 = (await import('@aws-sdk/client-s3')) as ClientModule;
      const agentOptions = { keepAlive: true, maxSockets: 64 };
      const config = {
        region: s.region,
        forcePathStyle: s.forcePathStyle ?? s.endpoint !== undefined,
        ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
        ...(s.credentials !== undefined ? { credentials: s.credentials } : {}),
        maxAttempts: 1,
        // Integrity is end to end in the repository format (AEAD blobs, SHA-256 pack ids, check --read-data);
        // the SDK's newer default checksum headers and trailers are refused by several S3-compatible servers.
        requestChecksumCalculation: 'WHEN_REQUIRED' as const,
        responseChecksumValidation: 'WHEN_REQUIRED' as const,
        logger: QUIET,
        requestHandler: {
          connectionTimeout: s.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          socketTimeout: s.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
          socketAcquisitionWarningTimeout: 3_600_000,
          httpAgent: new HttpAgent(agentOptions),
          httpsAgent: new HttpsAgent({ ...agentOptions, ...(s.caBundle ? { ca: [...rootCertificates, s.caBundle] } : {}) }),
          logger: QUIET,
        },
      };
      // The SDK warns on stderr about future Node versions when a client is built; library code never prints.
      const flag = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
      const before = process.env[flag];
      process.env[flag] = 'true';
      try {
        return { client: new s3.S3Client(config), s3 };
      } finally {
        if (before === undefined) delete process.env[flag];
        else process.env[flag] = before;
      }
    })();
    return this.sdk;
  }
}
