import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RepositorySchema } from '../../src/config/schema.js';
import { UsageError } from '../../src/errors.js';
import { LocalBackend } from '../../src/storage/local.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { backendOptionsFromConfig } from '../../src/storage/options.js';
import { unwrap } from '../../src/storage/stack.js';

/** The UsageError openBackend rejected with, failing if it resolved or threw something else. */
async function usageError(url: string): Promise<UsageError> {
  const err = await openBackend(url).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return err as UsageError;
}

describe('openBackend', () => {
  it('opens local:/path as a LocalBackend at that path', async () => {
    const be = await openBackend('local:/srv/backup');
    expect(unwrap(be)).toBeInstanceOf(LocalBackend);
    expect(be.location).toBe('/srv/backup');
  });

  it('resolves a relative local: path against the current directory', async () => {
    expect((await openBackend('local:repo/x')).location).toBe(join(process.cwd(), 'repo/x'));
  });

  it('treats a plain absolute or relative path as local', async () => {
    expect((await openBackend('/var/backups/owb')).location).toBe('/var/backups/owb');
    const rel = await openBackend('./backups');
    expect(unwrap(rel)).toBeInstanceOf(LocalBackend);
    expect(rel.location).toBe(resolve('backups'));
    expect((await openBackend('backups')).location).toBe(resolve('backups'));
  });

  it('keeps a colon later in a path as part of the path', async () => {
    expect((await openBackend('/mnt/a:b')).location).toBe('/mnt/a:b');
    expect((await openBackend('local:/mnt/a:b')).location).toBe('/mnt/a:b');
    expect((await openBackend('./x:y')).location).toBe(resolve('x:y'));
  });

  it('treats a one-letter prefix as a path, not a scheme (Windows drive letters)', async () => {
    expect(unwrap(await openBackend('C:backups'))).toBeInstanceOf(LocalBackend);
  });

  it('rejects an empty URL with a hint', async () => {
    for (const url of ['', '   ']) {
      expect((await usageError(url)).message).toBe('no repository given: use --repo or OWB_REPOSITORY');
    }
  });

  it('rejects local: without a path', async () => {
    expect((await usageError('local:')).message).toMatch(/needs a path/);
  });

  it('opens sftp: and rclone: lazily (no connection until used), naming the place without credentials', async () => {
    const sftp = await openBackend('sftp:user@nas.example:/srv/repo');
    expect(sftp.location).toContain('nas.example');
    await sftp.close();
    const rclone = await openBackend('rclone:remote:path/repo');
    expect(rclone.location).toContain('remote:path/repo');
    await rclone.close();
  });

  it('refuses an s3: custom endpoint without credentials before sending anything', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const s3 = await openBackend('s3:http://127.0.0.1:9/bucket');
      const err = await s3.list('keys').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/no credentials for http:\/\/127\.0\.0\.1:9/);
      await s3.close();
    } finally {
      if (saved.id !== undefined) process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret !== undefined) process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('rejects unknown schemes by name, without echoing the rest of the URL', async () => {
    const err = await usageError('xyz://user:secret@host/repo');
    expect(err.message).toContain('"xyz:"');
    expect(err.message).not.toContain('secret');
    expect((await usageError('b2:bucket/path')).message).toContain('"b2:"');
  });

  it('does not expose the in-memory backend', async () => {
    expect((await usageError('memory:')).message).toContain('"memory:"');
  });

  it('hands the config sftp options to the SFTP settings', async () => {
    const err = await openBackend('sftp:u@nas.example:/srv/repo', { env: { HOME: '/nonexistent' }, sftp: { hostFingerprint: 'SHA256:short' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^sftp\.host_fingerprint must look like/);
  });
});

describe('backendOptionsFromConfig', () => {
  it('maps the s3 and sftp blocks of a repository to typed options', () => {
    const repo = RepositorySchema.parse({
      url: 'sftp:u@h:/r',
      s3: { region: 'eu-1', path_style: false, storage_class: 'STANDARD_IA', access_key_id_file: '/id', secret_access_key_file: '/secret', request_timeout: 30 },
      sftp: { key_file: '/k', key_passphrase_file: '/pp', password_file: '/pw', known_hosts: '/kh', host_fingerprint: 'SHA256:abc' },
    });
    expect(backendOptionsFromConfig(repo)).toEqual({
      s3: { region: 'eu-1', pathStyle: false, storageClass: 'STANDARD_IA', accessKeyIdFile: '/id', secretAccessKeyFile: '/secret', requestTimeoutS: 30 },
      sftp: { keyFile: '/k', keyPassphraseFile: '/pp', passwordFile: '/pw', knownHosts: '/kh', hostFingerprint: 'SHA256:abc' },
    });
    expect(backendOptionsFromConfig(RepositorySchema.parse({ url: '/srv/owb' }))).toEqual({});
  });
});
