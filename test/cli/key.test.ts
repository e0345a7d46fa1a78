import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, runCli, runOk, writePassword, type CliOptions } from '../support/cli.js';
import { initRepo } from '../support/repo-setup.js';

interface KeyJson {
  id: string;
  current: boolean;
}

/** The steps depend on each other (add, then remove, then passwd), so they run in order on one repository. */
describe('key management', () => {
  let base: string;
  let repo: string;
  let pw1: string;
  let pw2: string;
  let pw3: string;
  let key1: string;
  let key2: string;
  const as = (passwordFile: string, env?: Record<string, string>): CliOptions => ({ repo, passwordFile, ...(env ? { env } : {}) });

  beforeAll(async () => {
    base = await makeTemp('owb-key-');
    ({ repo, passwordFile: pw1 } = await initRepo(base, 'first password', { passwordFile: 'pw1' }));
    pw2 = await writePassword(base, 'second password', 'pw2');
    pw3 = await writePassword(base, 'third password', 'pw3');
    const list = (await runOk(['--json', 'key', 'list'], as(pw1))).json as KeyJson[];
    key1 = list[0]!.id;
  });
  afterAll(cleanupTemp);

  it('adds a key from OWB_NEW_PASSWORD_FILE; both passwords open the repository', async () => {
    const r = await runOk(['--json', 'key', 'add'], as(pw1, { OWB_NEW_PASSWORD_FILE: pw2 }));
    key2 = (r.json as { id: string }).id;
    expect(key2).toMatch(/^[0-9a-f]{64}$/);
    expect(key2).not.toBe(key1);
    expect(r.stdout + r.stderr).not.toContain('second password');
    expect((await runCli(['snapshots'], as(pw1))).code).toBe(0);
    expect((await runCli(['snapshots'], as(pw2))).code).toBe(0);

    const list = (await runOk(['--json', 'key', 'list'], as(pw2))).json as KeyJson[];
    expect(list).toHaveLength(2);
    expect(list.map((k) => k.id).sort()).toEqual([key1, key2].sort());
    expect(list.find((k) => k.current)?.id).toBe(key2);
  });

  it('removes the other key by id prefix; its password then gives exit 12', async () => {
    const r = await runOk(['--json', 'key', 'remove', key2.slice(0, 10)], as(pw1));
    expect(r.json).toEqual({ removed: key2 });
    expect(await readdir(join(repo, 'keys'))).toEqual([key1]);
    expect((await runCli(['snapshots'], as(pw2))).code).toBe(12);
    expect((await runCli(['snapshots'], as(pw1))).code).toBe(0);
  });

  it('refuses to remove the key in use', async () => {
    const r = await runCli(['key', 'remove', key1], as(pw1));
    expect(r.code).toBe(2); // a usage error: remove it with another password
    expect(r.stderr).toMatch(/refusing/);
    expect(await readdir(join(repo, 'keys'))).toEqual([key1]);
    expect((await runCli(['snapshots'], as(pw1))).code).toBe(0);
  });

  it('changes the password with key passwd: the new one opens, the old one gives exit 12', async () => {
    const r = await runOk(['--json', 'key', 'passwd', '--new-password-file', pw3], as(pw1));
    const key3 = (r.json as { id: string }).id;
    expect(await readdir(join(repo, 'keys'))).toEqual([key3]);
    expect((await runCli(['snapshots'], as(pw3))).code).toBe(0);
    const old = await runCli(['snapshots'], as(pw1));
    expect(old.code).toBe(12);
    expect(old.stderr.replace(/\n$/, '').split('\n')).toHaveLength(1);
  });
});
