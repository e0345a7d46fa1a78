import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, describeTree, diffTrees, makeTemp, runCli, runOk, writePassword, writeRandomFile } from '../support/cli.js';
import { service } from '../support/services.js';

/**
 * The classic set-up from the README as one config file: back up to S3 (a real Ceph RGW), keep a second
 * copy on a NAS over SFTP (a real sshd), with every credential in a file named by the config, none in the
 * environment — and none of them in anything owb prints or writes.
 */
describe('S3 + SFTP copy from one config file', () => {
  let dir: string;
  let config: string;
  let s3: Record<string, string>;
  let sftp: Record<string, string>;
  let src: string;
  // Only what the test needs: no AWS_* or OWB_SFTP_* variables reach owb.
  const env = (): Record<string, string | undefined> => ({ OWB_CONFIG: config, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });

  beforeAll(async () => {
    s3 = service('s3');
    sftp = service('sshd');
    dir = await makeTemp('owb-remote-');
    src = join(dir, 'src');
    await mkdir(src);
    for (let i = 0; i < 4; i++) await writeRandomFile(join(src, `f${i}.bin`), 600_000, `r${i}`);
    const pwB2 = await writePassword(dir, 'b2-repository-password', 'pw-b2');
    const pwNas = await writePassword(dir, 'nas-repository-password', 'pw-nas');
    await writeFile(join(dir, 'key-id'), `${s3.AWS_ACCESS_KEY_ID}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'key-secret'), `${s3.AWS_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    const bucket = `owb-cfg-${Date.now().toString(36)}`;
    const nasPath = join(sftp.SFTP_ROOT!, `nas-${Date.now().toString(36)}`);
    config = join(dir, 'owb.yaml');
    await writeFile(
      config,
      [
        'default_repository: b2',
        `state_dir: ${join(dir, 'state')}`,
        `logs: { dir: ${join(dir, 'logs')} }`,
        'repositories:',
        '  b2:',
        `    url: s3:${s3.S3_ENDPOINT}/${bucket}/owb`,
        `    password_file: ${pwB2}`,
        '    copy_to: [nas]',
        `    s3: { region: ${s3.S3_REGION}, access_key_id_file: ${join(dir, 'key-id')}, secret_access_key_file: ${join(dir, 'key-secret')} }`,
        '  nas:',
        `    url: sftp://${sftp.SFTP_USER}@${sftp.SFTP_HOST}:${sftp.SFTP_PORT}/${nasPath}`,
        `    password_file: ${pwNas}`,
        `    sftp: { key_file: ${sftp.SFTP_KEY}, known_hosts: ${sftp.SFTP_KNOWN_HOSTS} }`,
        '',
      ].join('\n'),
    );
  }, 300_000);

  afterAll(cleanupTemp);

  it('backs up to S3, replicates to the NAS, and both restore and check', async () => {
    await runOk(['init'], { env: env() });
    await runOk(['--repo', 'nas', 'init', '--from', 'b2', '--copy-chunker-params'], { env: env() });
    const b = (await runOk(['backup', src, '--json'], { env: env() })).json as { replicas: { ok: boolean }[] };
    expect(b.replicas).toEqual([expect.objectContaining({ target: 'nas', ok: true })]);
    for (const repo of ['b2', 'nas']) {
      await runOk(['--repo', repo, 'check', '--read-data'], { env: env() });
      const out = join(dir, `restore-${repo}`);
      await runOk(['--repo', repo, 'restore', 'latest', '--target', out], { env: env() });
      expect(diffTrees(await describeTree(src), await describeTree(join(out, src)))).toEqual([]);
    }
  });

  it('never shows a credential: not in output, errors, JSON or run logs', async () => {
    const secrets = [s3.AWS_SECRET_ACCESS_KEY!, 'b2-repository-password', 'nas-repository-password'];
    const outputs: string[] = [];
    for (const args of [['snapshots', '--json'], ['--repo', 'nas', 'snapshots', '--json'], ['check'], ['backup', src, '--json'], ['-v', '--repo', 'nas', 'check']]) {
      const r = await runCli(args, { env: env() });
      outputs.push(r.stdout, r.stderr);
    }
    // A failing run too: a wrong secret key must produce an error that does not echo it.
    await writeFile(join(dir, 'key-secret'), 'definitely-not-the-secret-key\n');
    const bad = await runCli(['check'], { env: env() });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    outputs.push(bad.stdout, bad.stderr);
    expect(bad.stderr).not.toContain('definitely-not-the-secret-key');
    await writeFile(join(dir, 'key-secret'), `${s3.AWS_SECRET_ACCESS_KEY}\n`);
    for (const name of await readdir(join(dir, 'logs'))) outputs.push(await readFile(join(dir, 'logs', name), 'utf8'));
    const all = outputs.join('\n');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
