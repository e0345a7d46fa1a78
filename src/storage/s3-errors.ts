import { OwbError } from '../errors.js';
import { NETWORK_ERROR_CODES, TRY_LATER_CODES } from './transient.js';

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
export function shortKey(rel: string): string {
  return rel.replace(/[0-9a-f]{16,}/g, (id) => `${id.slice(0, 8)}…`);
}

/**
 * Turns an SDK or network error into one secret-free line: `S3 <op> <where> failed: <status> <code> (<hint>)`.
 * `where` is already shortened for messages; `endpoint` only names the server a refused connection was aimed at.
 */
export function s3RequestFailure(op: string, where: string, err: unknown, endpoint: string | undefined): S3RequestError {
  if (err instanceof S3RequestError) return err;
  const { status, code, transient } = classifyS3Error(err);
  const hint =
    HINTS[code] ??
    (code === 'ECONNREFUSED' ? `cannot connect to ${endpoint ?? 'the S3 endpoint'}` : undefined) ??
    (/CERT|SSL|TLS/.test(code) ? 'the server\'s TLS certificate is not trusted; for a private CA set AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS' : undefined);
  const line = `S3 ${op} ${where} failed: ${status !== undefined ? `${status} ` : ''}${code}${hint ? ` (${hint})` : ''}`;
  return new S3RequestError(line, { transient, status, code });
}
