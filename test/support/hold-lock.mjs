/**
 * Holds a repository lock in a separate process, for lock tests. It opens the repository named by
 * OWB_REPOSITORY with the password in OWB_PASSWORD_FILE, takes an exclusive lock (a shared one when
 * OWB_HOLD_SHARED=1), prints "locked", and keeps it until SIGTERM, when it releases the lock, prints
 * "released" and exits 0. Killed with SIGKILL, it leaves a lock held by a dead process behind, on purpose.
 */
import { readFile } from 'node:fs/promises';

const dist = new URL('../../dist/', import.meta.url);
const { Repository } = await import(new URL('repo/repository.js', dist).href);
const { LocalBackend } = await import(new URL('storage/local.js', dist).href);

const password = (await readFile(process.env.OWB_PASSWORD_FILE, 'utf8')).replace(/\r?\n$/, '');
const backend = new LocalBackend(process.env.OWB_REPOSITORY);
const repo = await Repository.open(backend, password);
const lock = await repo.lock(process.env.OWB_HOLD_SHARED !== '1');
// The lock's refresh timer is unref'd; this keeps the process alive until a signal arrives.
const keepAlive = setInterval(() => undefined, 1 << 30);
process.on('SIGTERM', () => {
  clearInterval(keepAlive);
  lock.release().then(
    () => {
      process.stdout.write('released\n');
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`release failed: ${err.message}\n`);
      process.exit(1);
    },
  );
});
process.stdout.write('locked\n');
