import { NotFoundError } from '../errors.js';

/** Node and undici error codes of a broken, refused or timed-out connection. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENOTCONN',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/** Error codes, whatever the protocol (S3 names most of them), that mean "slow down" or "try later". */
export const TRY_LATER_CODES: ReadonlySet<string> = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestTimeout', 'ServiceUnavailable', 'InternalError',
]);

/**
 * True when trying again may succeed. A backend states it by setting a boolean `transient` on its errors (S3 and
 * SFTP do); untagged errors count as transient when they look like a broken connection, a timeout, an HTTP 5xx or
 * 429, or throttling. NotFoundError never is. Causes are followed a few levels deep.
 */
export function isTransient(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof NotFoundError) return false;
    const x = e as { transient?: unknown; code?: unknown; name?: unknown; message?: unknown; status?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } };
    if (typeof x.transient === 'boolean') return x.transient;
    if (typeof x.code === 'string' && (NETWORK_ERROR_CODES.has(x.code) || TRY_LATER_CODES.has(x.code))) return true;
    if (x.name === 'TimeoutError' || (typeof x.name === 'string' && TRY_LATER_CODES.has(x.name))) return true;
    const status = [x.status, x.statusCode, x.$metadata?.httpStatusCode].find((s): s is number => typeof s === 'number');
    if (status !== undefined && (status >= 500 || status === 429)) return true;
    if (typeof x.message === 'string' && /socket hang up|ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED/.test(x.message)) return true;
  }
  return false;
}
