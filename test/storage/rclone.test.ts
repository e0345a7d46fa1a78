import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, OwbError, UsageError } from '../../src/errors.js';
import type { Backend, Handle } from '../../src/storage/backend.js';
import { RcloneBackend, rcloneSettingsFromUrl } from '../../src/storage/rclone.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { service } from '../support/services.js';
import { randomName, runBackendConformance } from './conformance.js';

/** A private folder with an rclone config defining `owblocal` (type local) and `owbsftp` (the test sshd). */
async function rcloneHome(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), 'owb-rclone-test-'));
  const s = service('sshd');
  const config = [
    '[owblocal]',
    'type = local',
    '',
    '[owbsftp]',
    'type = sftp',
    `host = ${s.SFTP_HOST}`,
    `port = ${s.SFTP_PORT}`,
    `user = ${s.SFTP_USER}`,
    `key_file = ${s.SFTP_KEY}`,
    `known_hosts_file = ${s.SFTP_KNOWN_HOSTS}`,
    // No shell commands over SSH: only the SFTP subsystem is under test.
    'shell_type = none',
    '',
  ].join('\n');
  await writeFile(join(dir, 'rclone.conf'), config, { mode: 0o600 });
  // Only what rclone needs: PATH to be found, its config, and a HOME of its own.
  return { dir, env: { PATH: process.env.PATH, HOME: dir, RCLONE_CONFIG: join(dir, 'rclone.conf') } };
}

/** Every file below `dir`, relative to it. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

runBackendConformance('RcloneBackend (local remote)', async () => {
  const { dir, env } = await rcloneHome();
  const backend = await openBackend(`rclone:owblocal:${dir}/repo`, { env });
  return { backend, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

runBackendConformance('RcloneBackend (sftp remote on the test sshd)', async () => {
  const { dir, env } = await rcloneHome();
  const remoteDir = join(service('sshd').SFTP_ROOT!, `rc-${randomBytes(6).toString('hex')}`);
  const backend = await openBackend(`rclone:owbsftp:${remoteDir}/repo`, { env });
  return {
    backend,
    cleanup: async () => {
      await rm(remoteDir, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('RcloneBackend details', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let be: Backend;

  beforeEach(async () => {
    ({ dir, env } = await rcloneHome());
    be = await openBackend(`rclone:owblocal:${dir}/repo`, { env });
    await be.create();
  });

  afterEach(async () => {
    await be.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores objects at the documented paths and leaves no temp file after losing a save', async () => {
    const name = 'ab' + randomName().slice(2);
    await be.save({ type: 'data', name }, Buffer.from('d'));
    await be.save({ type: 'config', name: '' }, Buffer.from('c'));
    const h: Handle = { type: 'keys', name: 'k1' };
    await be.save(h, Buffer.from('k'));
    await expect(be.save(h, Buffer.from('other'))).rejects.toThrow(/already exists/);
    expect((await walk(join(dir, 'repo'))).sort()).toEqual(['config', `data/ab/${name}`, 'keys/k1']);
    expect((await be.load(h)).toString()).toBe('k');
    expect(be.location).toBe(`rclone:owblocal:${dir}/repo`);
  });

  it('hides temp files and stray deeper entries from list()', async () => {
    const name = randomName();
    await be.save({ type: 'data', name }, Buffer.from('x'));
    await writeFile(join(dir, 'repo', 'data', name.slice(0, 2), '.tmp-partial'), 'partial');
    await mkdir(join(dir, 'repo', 'data', 'zz', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'repo', 'data', 'zz', 'deeper', 'f'), 'not an object');
    await writeFile(join(dir, 'repo', 'keys', '.tmp-k'), 'partial');
    expect(await be.list('data')).toEqual([{ name, size: 1 }]);
    expect(await be.list('keys')).toEqual([]);
  });

  it('reports a missing rclone binary and an unknown remote clearly, not as NotFoundError', async () => {
    const missing = new RcloneBackend(rcloneSettingsFromUrl(`owblocal:${dir}/repo`, { ...env, OWB_RCLONE_PROGRAM: join(dir, 'no-rclone') }));
    await expect(missing.stat({ type: 'config', name: '' })).rejects.toThrow(/cannot run .*no-rclone.*not found/);
    const unknown = await openBackend('rclone:nosuchremote:repo', { env });
    const err = await unknown.load({ type: 'config', name: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OwbError);
    expect(err).not.toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/nosuchremote/);
  });
});

describe('rclone URLs', () => {
  it('parses remote:path as restic does', () => {
    const env = { OWB_RCLONE_PROGRAM: '/opt/rclone' };
    expect(rcloneSettingsFromUrl('b2:bucket/owb', env)).toMatchObject({ remote: 'b2', path: 'bucket/owb', program: '/opt/rclone' });
    expect(rcloneSettingsFromUrl('nas:', {})).toMatchObject({ remote: 'nas', path: '', program: 'rclone' });
    expect(rcloneSettingsFromUrl('my-nas:/srv/owb/', {})).toMatchObject({ remote: 'my-nas', path: '/srv/owb' });
    expect(rcloneSettingsFromUrl('local:/', {})).toMatchObject({ remote: 'local', path: '/' });
    expect(rcloneSettingsFromUrl(':local:/tmp/x', {})).toMatchObject({ remote: ':local', path: '/tmp/x' });
    expect(new RcloneBackend(rcloneSettingsFromUrl('b2:bucket/owb', {})).location).toBe('rclone:b2:bucket/owb');
  });

  it('runs rclone without owb settings (OWB_*) in its environment', () => {
    const { env } = rcloneSettingsFromUrl('b2:bucket', { OWB_PASSWORD: 'hunter2', OWB_SFTP_PASSWORD_FILE: '/x', RCLONE_CONFIG: '/c', PATH: '/bin' });
    expect(env).toEqual({ RCLONE_CONFIG: '/c', PATH: '/bin' });
  });

  it('refuses inline remote parameters, which would put credentials in argv, without echoing them', () => {
    for (const url of [':s3,access_key_id=AKIASECRET,secret_access_key=xyz:bucket', 'b2,account=AKIASECRET:bucket']) {
      let err: unknown;
      try {
        rcloneSettingsFromUrl(url, {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).not.toContain('AKIASECRET');
    }
    expect(() => rcloneSettingsFromUrl('no-colon', {})).toThrow(UsageError);
    expect(() => rcloneSettingsFromUrl(':path-only', {})).toThrow(UsageError);
  });
});
