import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import { instrumentation } from '../util/instrument.js';

/** Per-repository settings from the config, for the backends that have any. */
export interface BackendOptions {
  s3?: import('./s3.factory.js').S3RepositoryOptions;
  /** Variables layered over the process environment for this backend (SFTP key and host key settings). */
  env?: Record<string, string>;
}

/** Builds a backend from the part of the URL after `scheme:`. */
type BackendFactory = (rest: string, opts: BackendOptions) => Promise<Backend>;

function envOf(opts: BackendOptions): NodeJS.ProcessEnv {
  return opts.env ? { ...process.env, ...opts.env } : process.env;
}

/**
 * Scheme → factory. Modules load lazily (await import) so a local backup never pays for network clients.
 * `memory:` is deliberately absent: a repository that vanishes on exit is a test fake, not a user option.
 */
const FACTORIES: Readonly<Record<string, BackendFactory>> = {
  local: async (rest) => new (await import('./local.js')).LocalBackend(localPath(rest)),
  s3: async (rest, opts) => (await import('./s3.factory.js')).openS3Backend(rest, envOf(opts), opts.s3 ?? {}),
  // Retries wrap the backend rather than living in it (the S3 factory applies the same wrapper).
  sftp: async (rest, opts) => (await import('./retry.js')).withRetry(await (await import('./remote.factories.js')).openSftpBackend(rest, envOf(opts))),
  rclone: async (rest, opts) => (await import('./retry.js')).withRetry(await (await import('./remote.factories.js')).openRcloneBackend(rest, envOf(opts))),
};

/**
 * A scheme is 2+ characters starting with a letter, so Windows drive letters (`C:\…`) stay paths and
 * restic-style names such as `b2:` are still recognised as schemes rather than created as folders.
 */
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** Resolves a local repository path against the current directory. */
function localPath(path: string): string {
  if (path === '') throw new UsageError('the local backend needs a path, as in local:/srv/backup');
  return resolve(path);
}

/**
 * Opens a repository URL as restic parses it: `local:/path`, a plain absolute or relative path, or
 * `s3:`, `sftp:`, `rclone:`. The backend is only constructed; nothing is
 * created or checked on storage here.
 */
export async function openBackend(url: string, opts: BackendOptions = {}): Promise<Backend> {
  const backend = await openPlain(url, opts);
  const wrap = instrumentation().wrapBackend;
  return wrap ? wrap(backend) : backend;
}

async function openPlain(url: string, opts: BackendOptions): Promise<Backend> {
  if (url.trim() === '') throw new UsageError('no repository given: use --repo or OWB_REPOSITORY');
  const match = SCHEME.exec(url);
  if (match === null) return FACTORIES.local!(url, opts);
  const scheme = match[1]!.toLowerCase();
  const factory = Object.hasOwn(FACTORIES, scheme) ? FACTORIES[scheme] : undefined;
  if (factory === undefined) {
    // Only the scheme is echoed: the rest of a URL may carry credentials.
    throw new UsageError(
      `unknown repository scheme "${scheme}:" (known: ${Object.keys(FACTORIES).join(', ')}); ` +
        'for a local folder whose name contains ":", write local:PATH',
    );
  }
  return factory(url.slice(match[0].length), opts);
}
