import { instrumentation } from '../util/instrument.js';
import type { Backend } from './backend.js';
import { withLimit } from './limit.js';
import { withLogging, type LoggingOptions } from './logging.js';
import { withRetry, type RetryOptions } from './retry.js';

/** How {@link stack} wraps one backend. */
export interface StackOptions extends LoggingOptions {
  /** Retry settings, or false for a backend whose failures waiting cannot heal (the local disk). */
  retry?: RetryOptions | false;
}

/**
 * The one place the cross-cutting wrappers are put around a backend, outermost first:
 * - test instrumentation (fault injection by a test preload; absent in production), so it sees the calls the
 *   repository makes;
 * - logging, which reports each operation that failed for good, once, after its retries;
 * - retry, with backoff and a stall deadline per attempt;
 * - the limit of properties.connections calls at once. It sits under retry so that a backoff sleep holds no
 *   connection; an attempt's deadline therefore includes its wait for a slot, which the callers' own bounded
 *   concurrency keeps far below the default 120 s.
 */
export function stack(backend: Backend, opts: StackOptions = {}): Backend {
  let be = withLimit(backend);
  if (opts.retry !== false) be = withRetry(be, opts.retry);
  be = withLogging(be, opts);
  const wrap = instrumentation().wrapBackend;
  return wrap ? wrap(be) : be;
}

/**
 * The backend under every wrapper of a stack, for tests and diagnostics that need the concrete backend. Wrappers
 * expose what they wrap as `inner`.
 */
export function unwrap(backend: Backend): Backend {
  let be = backend;
  while ('inner' in be && typeof be.inner === 'object' && be.inner !== null) be = be.inner as Backend;
  return be;
}
