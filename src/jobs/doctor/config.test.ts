import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { checkSecretFiles, configSecretsItem, findInlineSecrets, redactUrl, secretFileItem, secretFilesOf } from './config.js';

describe('secretFileItem', () => {
  const ref = { label: 'repositories.main.password_file', path: '/etc/owb/pw' };
  it('fails world-readable files, warns group-readable ones', () => {
    expect(secretFileItem(ref, { mode: 0o100600 })).toEqual({ name: 'secret file repositories.main.password_file', status: 'PASS', detail: '/etc/owb/pw (mode 600)' });
    expect(secretFileItem(ref, { mode: 0o100400 }).status).toBe('PASS');
    expect(secretFileItem(ref, { mode: 0o100640 })).toMatchObject({ status: 'WARN', fix: 'chmod 600 /etc/owb/pw' });
    expect(secretFileItem(ref, { mode: 0o100644 })).toMatchObject({ status: 'FAIL', detail: '/etc/owb/pw is readable by every user (mode 644)' });
    expect(secretFileItem(ref, { mode: 0o100604 }).status).toBe('FAIL');
    expect(secretFileItem(ref, { error: 'ENOENT' })).toMatchObject({ status: 'WARN', detail: '/etc/owb/pw: cannot check (ENOENT)' });
  });
});

describe('findInlineSecrets / configSecretsItem', () => {
  const yaml = [
    'repositories:', // 1
    '  main:', // 2
    '    url: /srv/backups', // 3
    '    password_file: /etc/owb/pw', // 4
    '  far:', // 5
    '    url: "sftp://backup:hunter2@nas:22/owb"', // 6
    'notify:', // 7
    '  - type: webhook', // 8
    '    url: https://hooks.example/x', // 9
    '    headers:', // 10
    '      X-Api-Key: s3cr3t', // 11
    '      Content-Type: text/plain', // 12
    '  - type: ntfy', // 13
    '    topic: t', // 14
    '    token_file: /etc/owb/ntfy', // 15
    'other:', // 16
    '  password:', // 17
    '',
  ].join('\n');

  it('names the line and key of each inline secret, never the value', () => {
    const hits = findInlineSecrets(yaml);
    expect(hits).toEqual(['line 6 (repositories.far.url: password in a URL)', 'line 11 (notify.0.headers.X-Api-Key)']);
    expect(hits.join(' ')).not.toMatch(/hunter2|s3cr3t/);
  });

  it('fails a config holding one, passes a clean one or none', () => {
    const bad = configSecretsItem('/etc/owb/config.yaml', yaml);
    expect(bad.status).toBe('FAIL');
    expect(bad.fix).toBe('use password_file / *_file settings instead');
    expect(configSecretsItem('/c.yaml', 'repositories:\n  a:\n    url: /x\n    password_file: /p\n')).toMatchObject({ status: 'PASS' });
    expect(configSecretsItem(undefined, undefined)).toMatchObject({ status: 'PASS', detail: 'no config file' });
  });
});

describe('secretFilesOf', () => {
  it('collects password, key and token files from config, flags and env, once per path', () => {
    const cfg = ConfigSchema.parse({
      repositories: { a: { url: '/a', password_file: '/s/pw' }, b: { url: '/b', password_file: '/s/pw' } },
      source: { data_dir: '/d', secret_key_file: '/s/key' },
      notify: [{ type: 'ntfy', topic: 't', token_file: '/s/ntfy' }],
    });
    const env = { OWB_PASSWORD_FILE: '/s/env-pw', AWS_SECRET_ACCESS_KEY_FILE: '/s/aws', SOME_CONFIG_FILE: '/etc/x', OWB_PASSWORD: 'inline' };
    const refs = secretFilesOf(cfg, env, [{ label: '--password-file', path: '/s/flag' }]);
    expect(refs.map((r) => [r.label, r.path])).toEqual([
      ['repositories.a.password_file, repositories.b.password_file', '/s/pw'],
      ['source.secret_key_file', '/s/key'],
      ['notify.0.token_file', '/s/ntfy'],
      ['--password-file', '/s/flag'],
      ['OWB_PASSWORD_FILE', '/s/env-pw'],
      ['AWS_SECRET_ACCESS_KEY_FILE', '/s/aws'],
    ]);
  });
});

describe('redactUrl', () => {
  it('masks passwords in URLs only', () => {
    expect(redactUrl('sftp://u:pw@host/x')).toBe('sftp://u:***@host/x');
    expect(redactUrl('s3:https://host/bucket')).toBe('s3:https://host/bucket');
  });
});

describe('checkSecretFiles', () => {
  it('judges each named file by its real mode, and a missing one as unchecked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'owb-doctor-secrets-'));
    try {
      await writeFile(join(dir, 'pw'), 'x');
      await chmod(join(dir, 'pw'), 0o600);
      await writeFile(join(dir, 'key'), 'x');
      await chmod(join(dir, 'key'), 0o644);
      const cfg = ConfigSchema.parse({
        repositories: { a: { url: '/a', password_file: join(dir, 'pw') } },
        source: { data_dir: '/d', secret_key_file: join(dir, 'key') },
      });
      const items = await checkSecretFiles(cfg, { OWB_PASSWORD_FILE: join(dir, 'gone') });
      expect(items.map((i) => [i.name, i.status])).toEqual([
        ['secret file repositories.a.password_file', 'PASS'],
        ['secret file source.secret_key_file', 'FAIL'],
        ['secret file OWB_PASSWORD_FILE', 'WARN'],
      ]);
      expect(items[2]!.detail).toContain('cannot check (ENOENT)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
