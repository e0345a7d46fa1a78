import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repository } from '../../src/repo/repository.js';
import { listSnapshots } from '../../src/repo/snapshot.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { runStandin, standin, type StandinContainer } from '../docker/standin.js';
import { cleanupTemp, makeTemp, runCli, runOk, writePassword, type CliResult } from '../support/cli.js';
import { initRepo } from '../support/repo-setup.js';
import { service } from '../support/services.js';

/**
 * `owb doctor` through the real CLI: real local repositories (one opened with a wrong password, one missing),
 * password files with real modes, configs on disk, snapshots aged through the library, last-drill.json files,
 * data folders (one holding a sparse webui.db larger than the free space), and the real Docker Engine.
 */
const PASSWORD = 'doctor password';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

interface Item {
  name: string;
  status: 'PASS' | 'WARN' | 'FAIL';
  detail: string;
  fix?: string;
}

let root: string;
let srcDir: string;

beforeAll(async () => {
  root = await makeTemp('owb-doctor-');
  srcDir = join(root, 'src');
  await mkdir(srcDir);
  await writeFile(join(srcDir, 'note.txt'), 'back me up\n');
});
afterAll(cleanupTemp);

/** A new repository with one real snapshot, optionally re-dated `ageMs` into the past. */
async function makeRepo(name: string, ageMs = 0): Promise<{ path: string; pw: string }> {
  const { repo: path, passwordFile: pw } = await initRepo(root, PASSWORD, { repo: `repo-${name}`, passwordFile: `pw-${name}` });
  await runOk(['backup', srcDir], { repo: path, passwordFile: pw });
  if (ageMs > 0) {
    const backend = await openBackend(path);
    try {
      const repo = await Repository.open(backend, PASSWORD);
      for (const { id, ...json } of await listSnapshots(repo)) {
        await repo.saveJson('snapshots', { ...json, time: new Date(Date.now() - ageMs).toISOString() });
        await backend.remove({ type: 'snapshots', name: id });
      }
    } finally {
      await backend.close();
    }
  }
  return { path, pw };
}

/** A data folder with a small webui.db and vector store, or a sparse webui.db of `dbBytes`. */
async function makeData(name: string, opts: { dbBytes?: number; noDb?: boolean } = {}): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'vector_db', 'c0ffee'), { recursive: true });
  await writeFile(join(dir, 'vector_db', 'chroma.sqlite3'), Buffer.alloc(4096, 1));
  await writeFile(join(dir, 'vector_db', 'c0ffee', 'data_level0.bin'), Buffer.alloc(8192, 2));
  if (!opts.noDb) {
    const fh = await open(join(dir, 'webui.db'), 'w');
    await (opts.dbBytes ? fh.truncate(opts.dbBytes) : fh.write(Buffer.alloc(16384, 3)));
    await fh.close();
  }
  return dir;
}

async function writeDrill(stateDir: string, ageMs: number): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  await writeFile(join(stateDir, 'last-drill.json'), JSON.stringify({ time: new Date(Date.now() - ageMs).toISOString(), snapshot_id: 'ab'.repeat(32) }));
}

async function writeConfig(name: string, lines: string[]): Promise<string> {
  const file = join(root, `${name}.yaml`);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

function statuses(r: CliResult): Record<string, string> {
  const doc = r.json as { ok: boolean; items: Item[] } | undefined;
  if (!doc) throw new Error(`no JSON output (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return Object.fromEntries(doc.items.map((i) => [i.name, i.status]));
}

function item(r: CliResult, name: string): Item {
  const found = (r.json as { items: Item[] }).items.find((i) => i.name === name);
  if (!found) throw new Error(`no item "${name}" in ${r.stdout}`);
  return found;
}

describe('owb doctor', () => {
  it('passes every check on a healthy setup, in JSON and as a table', async () => {
    const main = await makeRepo('healthy');
    const data = await makeData('data-healthy');
    const state = join(root, 'state-healthy');
    await writeDrill(state, HOUR);
    await writeFile(join(state, 'daemon.pid'), `${process.pid}\n`);
    const cfg = await writeConfig('healthy', [
      `state_dir: ${state}`,
      `logs: { dir: ${join(root, 'logs-healthy')} }`,
      `source: { data_dir: ${data} }`,
      'default_repository: main',
      'repositories:',
      `  main: { url: ${main.path}, password_file: ${main.pw} }`,
      'schedule:',
      '  - { job: backup, cron: "0 * * * *" }',
    ]);
    const r = await runCli(['--json', '--config', cfg, 'doctor']);
    expect(statuses(r)).toEqual({
      'data folder': 'PASS',
      'repository main': 'PASS',
      'config secrets': 'PASS',
      'secret file repositories.main.password_file': 'PASS',
      'backup age main': 'PASS',
      drill: 'PASS',
      schedule: 'PASS',
      'log folder': 'PASS',
      'staging space': 'PASS',
    });
    expect((r.json as { ok: boolean }).ok).toBe(true);
    expect(r.code).toBe(0);
    expect(item(r, 'repository main').detail).toBe('opened, lock written and removed, 1 snapshot(s)');
    expect(item(r, 'schedule').detail).toBe(`1 schedule entry; daemon running (pid ${process.pid})`);
    expect(item(r, 'backup age main').detail).toMatch(/^latest snapshot \d+m old; the schedule "0 \* \* \* \*" runs every 1h$/);
    // The lock probe leaves nothing behind.
    const locks = await readdir(join(main.path, 'locks'));
    expect(locks.filter((n) => !n.startsWith('.'))).toEqual([]);

    const human = await runCli(['--config', cfg, 'doctor']);
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n');
    const width = 'secret file repositories.main.password_file'.length;
    expect(lines[0]).toBe(`PASS  ${'data folder'.padEnd(width)}  ${data} is readable, webui.db present`);
    expect(lines.filter((l) => l.startsWith('PASS  '))).toHaveLength(9);
    expect(human.stdout).toContain('9 passed, 0 warning(s), 0 failed');
  });

  it('fails on wrong passwords, missing repositories, open secrets, stale backups and drills, bad folders and no space', async () => {
    const main = await makeRepo('problems');
    const lagging = await makeRepo('lagging', 2 * HOUR);
    const stale = await makeRepo('stale', 4 * HOUR);
    await chmod(main.pw, 0o644);
    const wrongPw = await writePassword(root, 'not the password', 'pw-wrong');
    const free = await statfs(root);
    const data = await makeData('data-huge', { dbBytes: free.bavail * free.bsize });
    const state = join(root, 'state-problems');
    await writeDrill(state, 61 * DAY);
    await writeFile(join(root, 'afile'), 'not a folder\n');
    const cfg = await writeConfig('problems', [
      `state_dir: ${state}`,
      `logs: { dir: ${join(root, 'afile', 'logs')} }`,
      `source: { data_dir: ${data} }`,
      'repositories:',
      `  main: { url: ${main.path}, password_file: ${main.pw} }`,
      `  lagging: { url: ${lagging.path}, password_file: ${lagging.pw} }`,
      `  stale: { url: ${stale.path}, password_file: ${stale.pw} }`,
      `  wrong: { url: ${main.path}, password_file: ${wrongPw} }`,
      `  missing: { url: ${join(root, 'no-repo-here')}, password_file: ${stale.pw} }`,
      'notify:',
      '  - type: webhook',
      '    url: https://hooks.example.invalid/x',
      '    headers: { X-Api-Key: inline-secret-value }',
      'schedule:',
      '  - { job: backup, cron: "0 * * * *", repository: main }',
      '  - { job: backup, cron: "0 * * * *", repository: lagging }',
      '  - { job: backup, cron: "0 * * * *", repository: stale }',
    ]);
    const r = await runCli(['--json', '--config', cfg, 'doctor']);
    expect(statuses(r)).toEqual({
      'data folder': 'PASS',
      'repository main': 'PASS',
      'repository lagging': 'PASS',
      'repository stale': 'PASS',
      'repository wrong': 'FAIL',
      'repository missing': 'FAIL',
      'config secrets': 'FAIL',
      'secret file repositories.main.password_file': 'FAIL',
      'secret file repositories.lagging.password_file': 'PASS',
      'secret file repositories.stale.password_file, repositories.missing.password_file': 'PASS',
      'secret file repositories.wrong.password_file': 'PASS',
      'backup age main': 'PASS',
      'backup age lagging': 'WARN',
      'backup age stale': 'FAIL',
      drill: 'FAIL',
      schedule: 'WARN',
      'log folder': 'FAIL',
      'staging space': 'FAIL',
    });
    expect(r.code).toBe(1);
    expect((r.json as { ok: boolean }).ok).toBe(false);
    expect(item(r, 'repository wrong')).toMatchObject({ detail: 'wrong password, or no key in this repository opens with it', fix: 'check password_file of repository wrong' });
    expect(item(r, 'repository missing').fix).toContain('owb -r missing init');
    expect(item(r, 'config secrets').detail).toContain('line 13 (notify.0.headers.X-Api-Key)');
    expect(item(r, 'config secrets').fix).toBe('use password_file / *_file settings instead');
    expect(item(r, 'secret file repositories.main.password_file')).toMatchObject({ detail: `${main.pw} is readable by every user (mode 644)`, fix: `chmod 600 ${main.pw}` });
    expect(item(r, 'log folder').detail).toBe(`${join(root, 'afile')} is not a folder`);
    expect(item(r, 'drill').detail).toMatch(/^last successful drill 61d( \d+h)? ago/);
    // Secrets never reach the output.
    expect(r.stdout + r.stderr).not.toContain('inline-secret-value');
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);

    const human = await runCli(['--config', cfg, 'doctor']);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain('owb: doctor found 8 problem(s)');
    const lines = human.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('FAIL  repository wrong '));
    expect(lines[at + 1]).toMatch(/^ +fix: check password_file of repository wrong$/);
    expect(lines[at + 1]!.indexOf('fix:')).toBe(lines[at]!.indexOf('wrong password'));
  });

  it('exits 0 with warnings only: group-readable password file, old unscheduled backup, no drill, no schedule', async () => {
    const repo = await makeRepo('warnings', 3 * DAY);
    await chmod(repo.pw, 0o640);
    const data = await makeData('data-nodb', { noDb: true });
    const cfg = await writeConfig('warnings', [`state_dir: ${join(root, 'state-warnings')}`, `logs: { dir: ${join(root, 'not-yet', 'logs')} }`, `source: { data_dir: ${data} }`]);
    const r = await runCli(['--json', '--config', cfg, 'doctor'], { repo: repo.path, passwordFile: repo.pw });
    const label = repo.path;
    expect(statuses(r)).toEqual({
      'data folder': 'WARN',
      [`repository ${label}`]: 'PASS',
      'config secrets': 'PASS',
      'secret file OWB_PASSWORD_FILE': 'WARN',
      [`backup age ${label}`]: 'WARN',
      drill: 'WARN',
      schedule: 'WARN',
      'log folder': 'PASS',
      'staging space': 'PASS',
    });
    expect(r.code).toBe(0);
    expect((r.json as { ok: boolean }).ok).toBe(true);
    expect(item(r, `backup age ${label}`).detail).toMatch(/^latest snapshot 3d old \(no backup schedule/);
    expect(item(r, 'log folder').detail).toBe(`${join(root, 'not-yet', 'logs')} does not exist yet; owb will create it (${root} is writable)`);
    expect(item(r, 'data folder').detail).toBe(`${data} is readable but holds no webui.db`);
  });

  it('fails without any repository, and refuses --container with --source', async () => {
    const cfg = await writeConfig('empty', [`state_dir: ${join(root, 'state-empty')}`, `logs: { dir: ${join(root, 'logs-empty')} }`]);
    const r = await runCli(['--json', '--config', cfg, 'doctor']);
    expect(r.code).toBe(1);
    expect(item(r, 'repository')).toMatchObject({ status: 'FAIL', detail: 'no repository configured' });
    expect(item(r, 'data folder').status).toBe('WARN');
    const both = await runCli(['--config', cfg, 'doctor', '--container', 'x', '--source', root]);
    expect(both.code).toBe(2);
  });
});

describe('owb doctor with Docker', () => {
  let dockerHost: string;
  let running: StandinContainer | undefined;

  beforeAll(() => {
    dockerHost = service('docker').DOCKER_HOST!;
  });
  afterAll(async () => {
    await running?.remove();
  });

  it('fails when the container does not exist', async () => {
    const repo = await makeRepo('docker-missing');
    const cfg = await writeConfig('docker-missing', [
      `state_dir: ${join(root, 'state-docker')}`,
      `logs: { dir: ${join(root, 'logs-docker')} }`,
      'repositories:',
      `  main: { url: ${repo.path}, password_file: ${repo.pw} }`,
    ]);
    const name = `owbtest-absent-${randomBytes(4).toString('hex')}`;
    const r = await runCli(['--json', '--config', cfg, 'doctor', '--container', name], { env: { DOCKER_HOST: dockerHost } });
    expect(r.code).toBe(1);
    expect(item(r, 'container')).toMatchObject({ status: 'FAIL', detail: `no container named or with id "${name}"` });
    expect(item(r, 'data folder').status).toBe('FAIL');
    expect(item(r, 'staging space').status).toBe('WARN');
  });

  it('passes a running Open WebUI stand-in with a readable data volume', async () => {
    const s = await standin();
    running = await runStandin(s);
    const repo = await makeRepo('docker-running');
    const cfg = await writeConfig('docker-running', [
      `state_dir: ${join(root, 'state-docker-running')}`,
      `logs: { dir: ${join(root, 'logs-docker')} }`,
      `source: { container: ${running.name} }`,
      'repositories:',
      `  main: { url: ${repo.path}, password_file: ${repo.pw} }`,
    ]);
    const r = await runCli(['--json', '--config', cfg, 'doctor'], { env: { DOCKER_HOST: s.env.DOCKER_HOST } });
    const st = statuses(r);
    expect([st['container'], st['data folder'], st['staging space']]).toEqual(['PASS', 'PASS', 'PASS']);
    expect(item(r, 'container').detail).toBe(`${running.name} is running (${s.env.STANDIN_IMAGE_LATEST})`);
    expect(item(r, 'data folder').detail).toMatch(/ is readable, webui\.db present$/);
  });
});
