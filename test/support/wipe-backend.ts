import type { Backend, FileType } from '../../src/storage/backend.js';

/** Every object type a repository stores, config first so a half-wiped store is never a repository. */
const TYPES: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots', 'locks'];

/**
 * Removes every object of a backend through the Backend interface itself, so tests of any backend (S3 under a
 * shared bucket, SFTP, rclone) clean up alike and large test objects do not pile up on the server.
 */
export async function wipeBackend(be: Backend): Promise<void> {
  for (const type of TYPES) {
    for (const f of await be.list(type)) await be.remove({ type, name: f.name }).catch(() => undefined);
  }
}
