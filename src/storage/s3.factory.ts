import { readSecretFile } from '../config/secrets.js';
import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import { withRetry, type RetryOptions } from './retry.js';

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
  /** Retry settings, e.g. an onRetry callback through which the CLI logs retries in --verbose mode. */
  retry?: RetryOptions;
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
 * Opens an `s3:` repository from the URL part after `s3:` (see s3SettingsFromUrl), the environment and the
 * config's per-repository options, wrapped in the retry wrapper. Nothing connects, and the AWS SDK is not loaded,
 * until the first operation.
 */
export async function openS3Backend(rest: string, env: NodeJS.ProcessEnv = process.env, options: S3RepositoryOptions = {}): Promise<Backend> {
  const { S3Backend, s3SettingsFromUrl } = await import('./s3.js');
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
  if (timeout === undefined) return withRetry(new S3Backend(settings), options.retry);
  return withRetry(new S3Backend({ ...settings, idleTimeoutMs: timeout }), { requestTimeoutMs: timeout, ...options.retry });
}
