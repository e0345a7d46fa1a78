/**
 * Real servers for integration tests (dockerd, Ceph RGW, sshd, PostgreSQL, …). Each service has a script
 * `scripts/services/<name>.sh start|stop`. `start` is idempotent: it starts the server on 127.0.0.1 if it
 * is not running and writes KEY=VALUE lines to `$OWB_SERVICES_DIR/<name>.env`. Tests never skip a missing
 * service: a server that cannot start fails the test, in CI and locally alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Project root (this file is test/support/services.ts). */
export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** Where service state, sockets and env files live. */
export const SERVICES_DIR = process.env.OWB_SERVICES_DIR ?? join(PROJECT_ROOT, '.services');

/** Starts (if needed) the named service and returns its settings. */
export function service(name: string): Record<string, string> {
  const script = join(PROJECT_ROOT, 'scripts', 'services', `${name}.sh`);
  const envFile = join(SERVICES_DIR, `${name}.env`);
  const r = spawnSync('bash', [script, 'start'], {
    env: { ...process.env, OWB_SERVICES_DIR: SERVICES_DIR },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0 || !existsSync(envFile)) {
    throw new Error(`service ${name} failed to start (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const out: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
