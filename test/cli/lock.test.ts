import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, ensureBuilt, PROJECT_ROOT, runCli, runOk, type CliOptions } from '../support/cli.js';
import { initRepoWithSource } from '../support/repo-setup.js';

const HOLDER = join(PROJECT_ROOT, 'test', 'support', 'hold-lock.mjs');

/** Starts hold-lock.mjs and resolves once it printed "locked". */
function holdLock(cli: CliOptions, shared = false): Promise<ChildProcess> {
  ensureBuilt();
  const child = spawn(process.execPath, [HOLDER], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      OWB_REPOSITORY: cli.repo,
      OWB_PASSWORD_FILE: cli.passwordFile,
      ...(shared ? { OWB_HOLD_SHARED: '1' } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('locked\n')) resolve(child);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => reject(new Error(`hold-lock exited ${code} before locking: ${err}`)));
    setTimeout(() => reject(new Error(`hold-lock did not lock in time: ${err}`)), 30_000).unref();
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('repository locks', () => {
  let src: string;
  let cli: CliOptions;
  let locks: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    ({ src, cli } = await initRepoWithSource({
      prefix: 'owb-lock-',
      password: 'lock password',
      fill: (dir) => writeFile(join(dir, 'file.txt'), 'locked in\n'),
    }));
    locks = join(cli.repo!, 'locks');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited(c);
      }
    }
    // Leave no lock behind for the next test, whatever happened.
    await runCli(['unlock', '--remove-all'], cli);
  });
  afterAll(cleanupTemp);

  it('exits 11 with one line naming the holder while another process holds an exclusive lock', async () => {
    const holder = await holdLock(cli);
    children.push(holder);
    const r = await runCli(['backup', src], cli);
    expect(r.code, r.stderr).toBe(11);
    expect(r.stderr.replace(/\n$/, '').split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`PID ${holder.pid}`);
    expect(r.stderr).toMatch(/exclusive/);
    // The refused run left no lock of its own: only the holder's remains.
    expect(await readdir(locks)).toHaveLength(1);
    // Reading commands that take no lock still work meanwhile.
    expect((await runCli(['snapshots'], cli)).code).toBe(0);

    holder.kill('SIGTERM');
    expect(await exited(holder)).toBe(0);
    expect(await readdir(locks)).toEqual([]);
    expect((await runCli(['backup', src], cli)).code).toBe(0);
  });

  it('treats the lock of a SIGKILLed holder (dead PID, same host) as stale: backup succeeds, unlock removes it', async () => {
    const holder = await holdLock(cli);
    children.push(holder);
    expect((await runCli(['backup', src], cli)).code).toBe(11);
    holder.kill('SIGKILL');
    await exited(holder);
    const left = await readdir(locks);
    expect(left).toHaveLength(1); // SIGKILL leaves the lock file behind

    const r = await runCli(['--json', 'backup', src], cli);
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(locks)).toEqual(left); // the backup released its own lock; the stale one is still there

    const unlock = await runOk(['--json', 'unlock'], cli);
    expect(unlock.json).toEqual({ removed: left });
    expect(await readdir(locks)).toEqual([]);
    expect((await runOk(['--json', 'unlock'], cli)).json).toEqual({ removed: [] });
  });

  it('lets a backup run beside a shared lock, but not an exclusive command', async () => {
    const holder = await holdLock(cli, true);
    children.push(holder);
    expect((await runCli(['backup', src], cli)).code).toBe(0);
    const other = await runCli(['key', 'remove', 'ffff'], cli); // takes an exclusive lock first
    expect(other.code).toBe(11);
    expect(other.stderr).toContain(`PID ${holder.pid}`);
    // unlock without --remove-all leaves a live holder's lock alone.
    expect((await runOk(['--json', 'unlock'], cli)).json).toEqual({ removed: [] });
    expect(await readdir(locks)).toHaveLength(1);
  });
});
