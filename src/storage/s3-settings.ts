import { readSecretFile, secretFromEnv } from '../config/secrets.js';
import { UsageError } from '../errors.js';

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

/** Objects above this many bytes go up as multipart uploads: a 16 MiB pack stays one PUT. */
export const DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024;
/** Part size of multipart uploads, in bytes. */
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** Parts of one multipart upload in flight at once. */
export const DEFAULT_QUEUE_SIZE = 4;
/** Milliseconds a request may move no bytes before it is aborted as a (transient) timeout. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** TCP connect timeout, in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Region assumed when none is configured; S3-compatible servers accept it, AWS redirects from it. */
export const DEFAULT_REGION = 'us-east-1';

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

/**
 * Per-repository S3 settings from the config file (`repositories.<name>.s3`), which win over the environment.
 * The URL stays the one source of endpoint, bucket and prefix.
 */
export interface S3RepositoryOptions {
  region?: string;
  /** Path-style addressing; default: on for a custom endpoint, off for AWS. */
  pathStyle?: boolean;
  storageClass?: string;
  /** Files holding the key pair (Docker secrets), instead of AWS_ACCESS_KEY_ID(_FILE) / AWS_SECRET_ACCESS_KEY(_FILE). */
  accessKeyIdFile?: string;
  secretAccessKeyFile?: string;
  /** Seconds a request may stall before it is abandoned and retried; as OWB_REQUEST_TIMEOUT. */
  requestTimeoutS?: number;
}

/**
 * Reads OWB_REQUEST_TIMEOUT (seconds): how long a request may stall before it is abandoned and retried. It
 * sets both the S3 client's idle-socket timeout and the retry wrapper's per-attempt deadline.
 */
function requestTimeoutMs(env: NodeJS.ProcessEnv, options: S3RepositoryOptions): number | undefined {
  if (options.requestTimeoutS !== undefined) {
    if (!(options.requestTimeoutS > 0)) throw new UsageError('s3 request_timeout must be a positive number of seconds');
    return Math.round(options.requestTimeoutS * 1000);
  }
  const raw = env.OWB_REQUEST_TIMEOUT;
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`OWB_REQUEST_TIMEOUT must be a positive number of seconds, got "${raw}"`);
  return Math.round(seconds * 1000);
}

/**
 * The settings of an `s3:` repository: the URL (the part after `s3:`, see s3SettingsFromUrl) and the environment,
 * with the config's per-repository options winning over the environment. `requestTimeoutMs` is the stall timeout
 * when one is set; it bounds both the client's idle sockets (already in `settings`) and the retry wrapper's attempts.
 */
export async function s3SettingsFor(
  rest: string,
  env: NodeJS.ProcessEnv,
  options: S3RepositoryOptions = {},
): Promise<{ settings: S3Settings; requestTimeoutMs: number | undefined }> {
  const settings = await s3SettingsFromUrl(rest, env);
  if (options.region) settings.region = options.region;
  if (options.pathStyle !== undefined) settings.forcePathStyle = options.pathStyle;
  if (options.storageClass) settings.storageClass = options.storageClass;
  if ((options.accessKeyIdFile === undefined) !== (options.secretAccessKeyFile === undefined)) {
    throw new UsageError('s3: give both access_key_id_file and secret_access_key_file, or neither');
  }
  if (options.accessKeyIdFile !== undefined && options.secretAccessKeyFile !== undefined) {
    settings.credentials = {
      accessKeyId: await readSecretFile(options.accessKeyIdFile, 'access_key_id_file'),
      secretAccessKey: await readSecretFile(options.secretAccessKeyFile, 'secret_access_key_file'),
    };
  }
  const timeout = requestTimeoutMs(env, options);
  if (timeout !== undefined) settings.idleTimeoutMs = timeout;
  return { settings, requestTimeoutMs: timeout };
}
