import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Backend } from './backend.js';
import type { BackendOptions } from './options.js';
import type { RetryOptions } from './retry.js';
import { stack } from './stack.js';

/** A backend as its factory built it, and what the retry wrapper must know about it (false: no retries). */
interface Opened {
  backend: Backend;
  retry: RetryOptions | false;
}

/** Builds a backend from the part of the URL after `scheme:`. */
type BackendFactory = (rest: string, opts: BackendOptions, env: NodeJS.ProcessEnv) => Promise<Opened>;

/**
 * Scheme → factory. Modules load lazily (await import) so a local backup never pays for network clients.
 * `memory:` is deliberately absent: a repository that vanishes on exit is a test fake, not a user option.
 */
const FACTORIES: Readonly<Record<string, BackendFactory>> = {
  // No retries on a local disk: its failures (ENOSPC, EACCES, EIO) do not heal by waiting, and abandoning a
  // stalled write to start another would only add a second writer on the same disk. Network mounts retry in
  // the kernel's own client.
  local: async (rest) => ({ backend: new (await import('./local.js')).LocalBackend(localPath(rest)), retry: false }),
  s3: async (rest, opts, env) => {
    const [{ S3Backend }, { s3SettingsFor }] = await Promise.all([import('./s3.js'), import('./s3-settings.js')]);
    const { settings, requestTimeoutMs } = await s3SettingsFor(rest, env, opts.s3);
    // A configured stall timeout bounds the retry wrapper's attempts as well as the client's idle sockets.
    return { backend: new S3Backend(settings), retry: requestTimeoutMs === undefined ? {} : { requestTimeoutMs } };
  },
  sftp: async (rest, opts, env) => {
    const [{ SftpBackend }, { sftpSettingsFromUrl }] = await Promise.all([import('./sftp.js'), import('./sftp-settings.js')]);
    return { backend: new SftpBackend(await sftpSettingsFromUrl(rest, env, opts.sftp)), retry: {} };
  },
  // rclone runs with `env`, so RCLONE_CONFIG and RCLONE_CONFIG_PASS set there are honoured.
  rclone: async (rest, _opts, env) => {
    const { RcloneBackend, rcloneSettingsFromUrl } = await import('./rclone.js');
    return { backend: new RcloneBackend(rcloneSettingsFromUrl(rest, env)), retry: {} };
  },
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
 * `s3:`, `sftp:`, `rclone:`, wrapped in the logging, retry and connection-limit wrappers (stack.ts). The
 * backend is only constructed; nothing is created or checked on storage here, and no network client is loaded.
 */
export async function openBackend(url: string, opts: BackendOptions = {}): Promise<Backend> {
  const { backend, retry } = await openPlain(url, opts);
  return stack(backend, {
    retry: retry === false ? false : { ...retry, ...opts.retry },
    ...(opts.onFailure === undefined ? {} : { onFailure: opts.onFailure }),
  });
}

async function openPlain(url: string, opts: BackendOptions): Promise<Opened> {
  if (url.trim() === '') throw new UsageError('no repository given: use --repo or OWB_REPOSITORY');
  const env = opts.env ?? process.env;
  const match = SCHEME.exec(url);
  if (match === null) return FACTORIES.local!(url, opts, env);
  const scheme = match[1]!.toLowerCase();
  const factory = Object.hasOwn(FACTORIES, scheme) ? FACTORIES[scheme] : undefined;
  if (factory === undefined) {
    // Only the scheme is echoed: the rest of a URL may carry credentials.
    throw new UsageError(
      `unknown repository scheme "${scheme}:" (known: ${Object.keys(FACTORIES).join(', ')}); ` +
        'for a local folder whose name contains ":", write local:PATH',
    );
  }
  return factory(url.slice(match[0].length), opts, env);
}
