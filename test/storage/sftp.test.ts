import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, UsageError } from '../../src/errors.js';
import type { Backend, Handle } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { SftpBackend } from '../../src/storage/sftp.js';
import { HostKeyError, hostKeyFingerprint, knownHostKeys } from '../../src/storage/sftp-host-keys.js';
import { parseSftpUrl, sftpSettingsFromUrl, type SftpSettings } from '../../src/storage/sftp-settings.js';
import { stack } from '../../src/storage/stack.js';
import { service } from '../support/services.js';
import { randomName, runBackendConformance } from './conformance.js';

let started: Record<string, string> | undefined;
/** The test sshd's settings (started on first use; a server that cannot start fails the test). */
function sshd(): Record<string, string> {
  started ??= service('sshd');
  return started;
}

/** A fresh folder under the server's test root; the server runs on this machine, so the test can look inside. */
async function serverFolder(): Promise<string> {
  const dir = join(sshd().SFTP_ROOT!, `t-${randomBytes(6).toString('hex')}`);
  await mkdir(dir);
  return dir;
}

/** A private scratch folder (a HOME without ~/.ssh, key copies, known_hosts variants). */
async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'owb-sftp-test-'));
}

/** The sftp:// form with an absolute path, as users write it for a non-default port. */
function urlFor(path: string, user = sshd().SFTP_USER!, port = sshd().SFTP_PORT!): string {
  return `//${user}@${sshd().SFTP_HOST}:${port}/${path}`;
}

/** Environment for key auth against the test server, with a HOME that holds nothing. */
function keyEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const s = sshd();
  return { HOME: home, OWB_SFTP_KEY_FILE: s.SFTP_KEY, OWB_SFTP_KNOWN_HOSTS: s.SFTP_KNOWN_HOSTS, ...extra };
}

/** Every file below `dir`, relative to it. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Awaits `p` and returns what it rejected with, failing the test if it resolved. */
async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

runBackendConformance('SftpBackend (OpenSSH, key auth, known_hosts)', async () => {
  const dir = await serverFolder();
  const home = await scratch();
  const backend = await openBackend(`sftp:${urlFor(`${dir}/repo`)}`, { env: keyEnv(home) });
  return {
    backend,
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
      await rm(home, { recursive: true, force: true });
    },
  };
});

describe('SftpBackend on a real OpenSSH server', () => {
  let dir: string;
  let home: string;
  const open: SftpBackend[] = [];

  /** Opens a backend from a URL and env, closing it after the test. */
  async function backendFor(url: string, env: NodeJS.ProcessEnv): Promise<SftpBackend> {
    const be = new SftpBackend(await sftpSettingsFromUrl(url, env));
    open.push(be);
    return be;
  }

  beforeAll(() => {
    sshd();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((be) => be.close()));
    await rm(dir, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  });

  it('creates the local layout and stores objects at the documented paths with mode 0600', async () => {
    dir = await serverFolder();
    home = await scratch();
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home));
    await be.create();
    const root = join(dir, 'repo');
    for (const sub of ['keys', 'index', 'snapshots', 'locks', 'data', 'data/00', 'data/ff']) {
      const st = await stat(join(root, sub));
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
    }
    expect((await readdir(join(root, 'data'))).length).toBe(256);
    const name = 'ab' + randomName().slice(2);
    await be.save({ type: 'data', name }, Buffer.from('d'));
    await be.save({ type: 'config', name: '' }, Buffer.from('c'));
    await be.save({ type: 'keys', name: 'k1' }, Buffer.from('k'));
    expect((await walk(root)).sort()).toEqual(['config', `data/ab/${name}`, 'keys/k1']);
    for (const p of ['config', 'keys/k1', `data/ab/${name}`]) expect((await stat(join(root, p))).mode & 0o777).toBe(0o600);
    expect(be.location).toBe(`sftp://${sshd().SFTP_USER}@127.0.0.1:${sshd().SFTP_PORT}//${root.slice(1)}`);
  });

  it('recreates a missing data prefix folder on save (a repository copied without empty folders)', async () => {
    dir = await serverFolder();
    home = await scratch();
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home));
    await be.create();
    await rm(join(dir, 'repo', 'data', 'c3'), { recursive: true });
    const h: Handle = { type: 'data', name: 'c3' + randomName().slice(2) };
    await be.save(h, Buffer.from('payload'));
    expect((await be.load(h)).toString()).toBe('payload');
  });

  it('leaves no temp file behind when saving over an existing object or into a folder replaced by a file', async () => {
    dir = await serverFolder();
    home = await scratch();
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home));
    await be.create();
    const h: Handle = { type: 'index', name: randomName() };
    await be.save(h, Buffer.from('one'));
    await expect(be.save(h, Buffer.from('two'))).rejects.toThrow(/already exists/);
    await rm(join(dir, 'repo', 'locks'), { recursive: true });
    await writeFile(join(dir, 'repo', 'locks'), 'not a folder');
    await expect(be.save({ type: 'locks', name: randomName() }, Buffer.from('x'))).rejects.toThrow();
    expect((await walk(join(dir, 'repo'))).sort()).toEqual([`index/${h.name}`, 'locks']);
    expect((await be.load(h)).toString()).toBe('one');
  });

  it('hides stray temp files from list()', async () => {
    dir = await serverFolder();
    home = await scratch();
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home));
    await be.create();
    const name = randomName();
    await be.save({ type: 'keys', name }, Buffer.from('key'));
    await writeFile(join(dir, 'repo', 'keys', '.tmp-x'), 'partial');
    await writeFile(join(dir, 'repo', 'data', 'ab', '.tmp-y'), 'partial');
    expect(await be.list('keys')).toEqual([{ name, size: 3 }]);
    expect(await be.list('data')).toEqual([]);
  });

  it('refuses a server whose key does not match the pinned fingerprint, naming the one it presented', async () => {
    dir = await serverFolder();
    home = await scratch();
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home, { OWB_SFTP_HOST_FINGERPRINT: wrong }));
    const err = await rejectionOf(be.create());
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toContain(sshd().SFTP_HOST_FINGERPRINT);
    expect(err.message).toContain(wrong);
    expect(err.message).not.toContain('\n');
    await expect(stat(join(dir, 'repo'))).rejects.toThrow(/ENOENT/);
  });

  it('accepts the right pinned fingerprint without any known_hosts file', async () => {
    dir = await serverFolder();
    home = await scratch();
    const env = keyEnv(home, { OWB_SFTP_HOST_FINGERPRINT: sshd().SFTP_HOST_FINGERPRINT, OWB_SFTP_KNOWN_HOSTS: join(home, 'none') });
    const be = await backendFor(urlFor(`${dir}/repo`), env);
    await be.create();
    const h: Handle = { type: 'snapshots', name: randomName() };
    await be.save(h, Buffer.from('pinned'));
    expect((await be.load(h)).toString()).toBe('pinned');
  });

  it('refuses an unknown host: empty or missing known_hosts', async () => {
    dir = await serverFolder();
    home = await scratch();
    await writeFile(join(home, 'known_hosts'), '');
    for (const file of [join(home, 'known_hosts'), join(home, 'missing')]) {
      const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home, { OWB_SFTP_KNOWN_HOSTS: file }));
      const err = await rejectionOf(be.exists({ type: 'config', name: '' }));
      expect(err).toBeInstanceOf(HostKeyError);
      expect(err.message).toMatch(/unknown/);
      expect(err.message).toContain(sshd().SFTP_HOST_FINGERPRINT);
      expect(err.message).toContain(file);
      expect(err.message).not.toContain('\n');
    }
  });

  it('refuses a changed host key, and one marked @revoked', async () => {
    dir = await serverFolder();
    home = await scratch();
    const other = join(home, 'other');
    const gen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    expect(gen.status).toBe(0);
    const otherKey = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    const name = `[127.0.0.1]:${sshd().SFTP_PORT}`;
    await writeFile(join(home, 'changed'), `${name} ${otherKey}\n`);
    const real = (await readFile(sshd().SFTP_KNOWN_HOSTS!, 'utf8')).trim();
    await writeFile(join(home, 'revoked'), `${real}\n@revoked * ${real.split(' ').slice(1).join(' ')}\n`);

    const changed = await backendFor(urlFor(`${dir}/repo`), keyEnv(home, { OWB_SFTP_KNOWN_HOSTS: join(home, 'changed') }));
    const err = await rejectionOf(changed.create());
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toMatch(/HOST KEY CHANGED/);
    expect(err.message).toContain(sshd().SFTP_HOST_FINGERPRINT);

    const revoked = await backendFor(urlFor(`${dir}/repo`), keyEnv(home, { OWB_SFTP_KNOWN_HOSTS: join(home, 'revoked') }));
    const err2 = await rejectionOf(revoked.create());
    expect(err2).toBeInstanceOf(HostKeyError);
    expect(err2.message).toMatch(/@revoked/);
  });

  it('accepts a hashed known_hosts entry written by ssh-keygen -H', async () => {
    dir = await serverFolder();
    home = await scratch();
    const file = join(home, 'known_hosts');
    await copyFile(sshd().SFTP_KNOWN_HOSTS!, file);
    expect(spawnSync('ssh-keygen', ['-H', '-f', file]).status).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^\|1\|/);
    expect(text).not.toContain('127.0.0.1');
    const be = await backendFor(urlFor(`${dir}/repo`), keyEnv(home, { OWB_SFTP_KNOWN_HOSTS: file }));
    await be.create();
    expect(await be.list('keys')).toEqual([]);
  });

  it('logs in with a password from OWB_SFTP_PASSWORD_FILE, on a path relative to the login folder', async () => {
    const s = sshd();
    expect(s.SFTP_PASSWORD_USER, 'sshd.sh sets up a password user when run as root').toBeTruthy();
    dir = join(s.SFTP_PASSWORD_ROOT!, `t-${randomBytes(6).toString('hex')}`);
    home = await scratch();
    await writeFile(join(home, 'pw'), `${s.SFTP_PASSWORD}\n`);
    const rel = dir.slice(s.SFTP_PASSWORD_ROOT!.length + 1);
    const env = { HOME: home, OWB_SFTP_PASSWORD_FILE: join(home, 'pw'), OWB_SFTP_KNOWN_HOSTS: s.SFTP_KNOWN_HOSTS };
    const be = await backendFor(`//${s.SFTP_PASSWORD_USER}@127.0.0.1:${s.SFTP_PORT}/${rel}`, env);
    await be.create();
    const h: Handle = { type: 'keys', name: randomName() };
    await be.save(h, Buffer.from('by password'));
    expect((await be.load(h)).toString()).toBe('by password');
    // It really is the password user's own folder: the file belongs to that user.
    const owner = spawnSync('id', ['-u', s.SFTP_PASSWORD_USER!], { encoding: 'utf8' }).stdout.trim();
    expect(String((await stat(join(dir, 'keys', h.name))).uid)).toBe(owner);

    const badPassword = `wrong-${randomBytes(6).toString('hex')}`;
    const wrong = await backendFor(`//${s.SFTP_PASSWORD_USER}@127.0.0.1:${s.SFTP_PORT}/${rel}`, { ...env, OWB_SFTP_PASSWORD_FILE: undefined, OWB_SFTP_PASSWORD: badPassword });
    const err = await rejectionOf(wrong.list('keys'));
    expect(err.message).toMatch(/refused the login \(tried: password\)/);
    expect(err.message).not.toContain(badPassword);
    expect(err.message).not.toContain(s.SFTP_PASSWORD);
  });

  it('uses a passphrase-protected key, and says clearly when the passphrase is missing', async () => {
    const s = sshd();
    dir = await serverFolder();
    home = await scratch();
    await writeFile(join(home, 'pp'), `${s.SFTP_KEY_PASSPHRASE}\n`);
    const env = keyEnv(home, { OWB_SFTP_KEY_FILE: s.SFTP_KEY_ENCRYPTED, OWB_SFTP_KEY_PASSPHRASE_FILE: join(home, 'pp') });
    const be = await backendFor(urlFor(`${dir}/repo`), env);
    await be.create();
    expect(await be.list('snapshots')).toEqual([]);

    const without = await backendFor(urlFor(`${dir}/repo`), { ...env, OWB_SFTP_KEY_PASSPHRASE_FILE: undefined });
    const err = await rejectionOf(without.list('snapshots'));
    expect(err.message).toContain(`private key from ${s.SFTP_KEY_ENCRYPTED}`);
    expect(err.message).not.toContain(s.SFTP_KEY_PASSPHRASE);
  });

  it('finds the default key in ~/.ssh when nothing else is configured', async () => {
    dir = await serverFolder();
    home = await scratch();
    await mkdir(join(home, '.ssh'));
    await copyFile(sshd().SFTP_KEY!, join(home, '.ssh', 'id_ed25519'));
    await copyFile(sshd().SFTP_KNOWN_HOSTS!, join(home, '.ssh', 'known_hosts'));
    const be = await backendFor(urlFor(`${dir}/repo`), { HOME: home });
    await be.create();
    expect(await be.list('index')).toEqual([]);
  });
});

/** A TCP relay to sshd whose connections the test can cut mid-transfer, as a network drop would. */
class Relay {
  accepted = 0;
  private readonly sockets = new Set<Socket>();
  private cut: { direction: 'up' | 'down'; after: number } | undefined;
  private moved = { up: 0, down: 0 };
  private constructor(private readonly server: Server) {}

  /** Starts a relay on a free loopback port. */
  static async start(target: number): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(server);
    server.on('connection', (down) => relay.accept(down, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Cuts every relayed connection once `bytes` more have passed in `direction` (up: client to server). */
  cutAfter(direction: 'up' | 'down', bytes: number): void {
    this.moved = { up: 0, down: 0 };
    this.cut = { direction, after: bytes };
  }

  /** Cuts every relayed connection now. */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(down: Socket, target: number): void {
    this.accepted++;
    const up = connect(target, '127.0.0.1');
    for (const s of [down, up]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    const forward = (from: Socket, to: Socket, direction: 'up' | 'down'): void => {
      from.on('data', (chunk: Buffer) => {
        this.moved[direction] += chunk.length;
        if (this.cut?.direction === direction && this.moved[direction] > this.cut.after) {
          this.cut = undefined;
          this.cutAll();
          return;
        }
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
    };
    forward(down, up, 'up');
    forward(up, down, 'down');
  }
}

describe('SftpBackend over a connection that drops', () => {
  let dir: string;
  let relay: Relay;
  let be: Backend;

  beforeAll(async () => {
    relay = await Relay.start(Number(sshd().SFTP_PORT));
  });

  afterAll(async () => {
    await relay.close();
  });

  afterEach(async () => {
    await be.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A backend that reaches sshd through the relay (pinned fingerprint: known_hosts names the real port), in the
   * wrappers openBackend puts around it: the backend itself does not retry, the retry wrapper (short backoff) does.
   */
  async function throughRelay(via = relay): Promise<Backend> {
    dir = await serverFolder();
    const s = sshd();
    const settings: SftpSettings = {
      host: '127.0.0.1',
      port: via.port,
      user: s.SFTP_USER!,
      path: join(dir, 'repo'),
      privateKey: await readFile(s.SFTP_KEY!, 'utf8'),
      keySource: s.SFTP_KEY!,
      knownHostsFile: join(dir, 'unused'),
      hostFingerprint: s.SFTP_HOST_FINGERPRINT!,
    };
    be = stack(new SftpBackend(settings), { retry: { baseDelayMs: 5, maxDelayMs: 50 } });
    await be.create();
    return be;
  }

  it('reconnects after an idle drop and after a drop in the middle of a read', async () => {
    await throughRelay();
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(4 * 1024 * 1024);
    await be.save(h, data);
    const before = relay.accepted;
    relay.cutAll();
    expect((await be.load(h, 10, 20)).equals(data.subarray(10, 30))).toBe(true);
    expect(relay.accepted).toBe(before + 1);
    relay.cutAfter('down', 1024 * 1024);
    expect((await be.load(h)).equals(data)).toBe(true);
    expect(relay.accepted).toBe(before + 2);
  });

  it('retries an upload cut mid-way once, and leaves no temp file from the broken attempt', async () => {
    await throughRelay();
    const h: Handle = { type: 'data', name: randomName() };
    const data = randomBytes(4 * 1024 * 1024);
    const before = relay.accepted;
    relay.cutAfter('up', 1024 * 1024);
    await be.save(h, data);
    expect(relay.accepted).toBe(before + 1);
    expect((await be.load(h)).equals(data)).toBe(true);
    expect(await walk(join(dir, 'repo'))).toEqual([`data/${h.name.slice(0, 2)}/${h.name}`]);
  });

  it('fails, not hangs, when the server cannot be reached again', async () => {
    const own = await Relay.start(Number(sshd().SFTP_PORT));
    await throughRelay(own);
    const h: Handle = { type: 'keys', name: randomName() };
    await be.save(h, Buffer.from('x'));
    // Stops listening and cuts the live connection: the one reconnect finds nobody.
    await own.close();
    const err = await rejectionOf(be.load(h));
    expect(err.message).toMatch(/cannot connect to .*ECONNREFUSED/);
    expect(err).not.toBeInstanceOf(NotFoundError);
    expect(own.accepted).toBe(1);
  });
});

describe('sftp URLs and settings', () => {
  it('parses restic-style URLs', () => {
    expect(parseSftpUrl('user@host:/srv/repo')).toEqual({ user: 'user', host: 'host', port: 22, path: '/srv/repo' });
    expect(parseSftpUrl('user@host:relative/repo/')).toEqual({ user: 'user', host: 'host', port: 22, path: 'relative/repo' });
    expect(parseSftpUrl('host:/srv')).toEqual({ host: 'host', port: 22, path: '/srv' });
    expect(parseSftpUrl('a@b@host:/x')).toEqual({ user: 'a@b', host: 'host', port: 22, path: '/x' });
    expect(parseSftpUrl('user@host:/path/with@at:colon')).toEqual({ user: 'user', host: 'host', port: 22, path: '/path/with@at:colon' });
    expect(parseSftpUrl('user@[::1]:/srv')).toEqual({ user: 'user', host: '::1', port: 22, path: '/srv' });
    expect(parseSftpUrl('//user@host:2222/relative')).toEqual({ user: 'user', host: 'host', port: 2222, path: 'relative' });
    expect(parseSftpUrl('//user@host:2222//srv/repo')).toEqual({ user: 'user', host: 'host', port: 2222, path: '/srv/repo' });
    expect(parseSftpUrl('//host/srv%20x')).toEqual({ host: 'host', port: 22, path: 'srv x' });
    expect(parseSftpUrl('//u@[fe80::1]:2200//r')).toEqual({ user: 'u', host: 'fe80::1', port: 2200, path: '/r' });
  });

  it('refuses bad URLs with usage errors, never echoing a password', () => {
    for (const bad of ['host', 'host:', 'user@host:~/repo', '//host:99999/x', '//host', '//host:22/', ':/x']) {
      expect(() => parseSftpUrl(bad), bad).toThrow(UsageError);
    }
    let message = '';
    try {
      parseSftpUrl('//user:hunter2@host/x');
    } catch (err) {
      message = (err as Error).message;
      expect(err).toBeInstanceOf(UsageError);
    }
    expect(message).toMatch(/OWB_SFTP_PASSWORD/);
    expect(message).not.toContain('hunter2');
  });

  it('reads settings from the environment, secrets from *_FILE variants', async () => {
    const home = await scratch();
    try {
      await writeFile(join(home, 'pw'), 's3cret\n');
      const fp = `SHA256:${'A'.repeat(43)}`;
      const s = await sftpSettingsFromUrl('host:/repo', {
        HOME: home,
        USER: 'alice',
        OWB_SFTP_PASSWORD_FILE: join(home, 'pw'),
        OWB_SFTP_HOST_FINGERPRINT: fp,
      });
      expect(s).toMatchObject({ host: 'host', port: 22, user: 'alice', path: '/repo', password: 's3cret', hostFingerprint: fp });
      expect(s.knownHostsFile).toBe(join(home, '.ssh', 'known_hosts'));
      expect(s.privateKey).toBeUndefined();
      await expect(sftpSettingsFromUrl('host:/repo', { HOME: home, OWB_SFTP_HOST_FINGERPRINT: 'MD5:aa:bb' })).rejects.toThrow(UsageError);
      await expect(sftpSettingsFromUrl('host:/repo', { HOME: home, OWB_SFTP_KEY_FILE: join(home, 'nope') })).rejects.toThrow(/OWB_SFTP_KEY_FILE/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('takes the config options over the OWB_SFTP_* variables, and names the config key in its errors', async () => {
    const home = await scratch();
    try {
      await writeFile(join(home, 'pw-env'), 'from-env\n');
      await writeFile(join(home, 'pw-config'), 'from-config\n');
      await writeFile(join(home, 'key-config'), 'KEY FROM CONFIG\n');
      const fpEnv = `SHA256:${'A'.repeat(43)}`;
      const fpConfig = `SHA256:${'B'.repeat(43)}`;
      const env = {
        HOME: home,
        USER: 'alice',
        OWB_SFTP_KEY: 'KEY FROM ENV',
        OWB_SFTP_KEY_PASSPHRASE: 'pp-env',
        OWB_SFTP_PASSWORD_FILE: join(home, 'pw-env'),
        OWB_SFTP_KNOWN_HOSTS: join(home, 'kh-env'),
        OWB_SFTP_HOST_FINGERPRINT: fpEnv,
      };
      const options = { keyFile: join(home, 'key-config'), passwordFile: join(home, 'pw-config'), knownHosts: join(home, 'kh-config'), hostFingerprint: fpConfig };
      expect(await sftpSettingsFromUrl('host:/repo', env, options)).toMatchObject({
        privateKey: 'KEY FROM CONFIG',
        keySource: join(home, 'key-config'),
        password: 'from-config',
        knownHostsFile: join(home, 'kh-config'),
        hostFingerprint: fpConfig,
        // Left out of the config: still from the environment.
        passphrase: 'pp-env',
      });
      expect(await sftpSettingsFromUrl('host:/repo', env)).toMatchObject({
        privateKey: 'KEY FROM ENV',
        keySource: 'OWB_SFTP_KEY',
        password: 'from-env',
        knownHostsFile: join(home, 'kh-env'),
        hostFingerprint: fpEnv,
      });
      await expect(sftpSettingsFromUrl('host:/repo', env, { keyFile: join(home, 'nope') })).rejects.toThrow(/^cannot read sftp\.key_file/);
      await expect(sftpSettingsFromUrl('host:/repo', env, { hostFingerprint: 'SHA256:short' })).rejects.toThrow(/^sftp\.host_fingerprint must look like SHA256:/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('keeps secrets out of JSON.stringify and util.inspect of the backend', () => {
    const be = new SftpBackend({ host: 'h', port: 22, user: 'u', path: '/r', knownHostsFile: 'kh', password: 'hunter2', passphrase: 'pp-secret', privateKey: 'KEY-TEXT' });
    for (const shown of [JSON.stringify(be), inspect(be, { depth: 10, showHidden: true })]) {
      for (const secret of ['hunter2', 'pp-secret', 'KEY-TEXT']) expect(shown).not.toContain(secret);
    }
  });

  it('renders a location that parses back to the same place', () => {
    const base = { user: 'u', knownHostsFile: 'kh' };
    const cases: [SftpSettings, string][] = [
      [{ ...base, host: 'h', port: 22, path: '/srv/r' }, 'sftp:u@h:/srv/r'],
      [{ ...base, host: 'h', port: 22, path: 'rel' }, 'sftp:u@h:rel'],
      [{ ...base, host: 'h', port: 2222, path: '/srv/r' }, 'sftp://u@h:2222//srv/r'],
      [{ ...base, host: '::1', port: 22, path: '/r' }, 'sftp://u@[::1]:22//r'],
    ];
    for (const [settings, location] of cases) {
      expect(new SftpBackend(settings).location).toBe(location);
      const back = parseSftpUrl(location.slice('sftp:'.length));
      expect(back).toEqual({ user: 'u', host: settings.host, port: settings.port, path: settings.path });
    }
  });

  it('matches known_hosts lines as ssh does: ports, patterns, negation, hashes', () => {
    const blob = (t: string): string => Buffer.concat([Buffer.from([0, 0, 0, t.length]), Buffer.from(t), randomBytes(32)]).toString('base64');
    const k1 = blob('ssh-ed25519');
    const k2 = blob('ssh-ed25519');
    const k3 = blob('ecdsa-sha2-nistp256');
    const text = [
      '# comment',
      `*.example.org,!bad.example.org ssh-ed25519 ${k1}`,
      `[nas.lan]:2222 ssh-ed25519 ${k2} comment`,
      `@cert-authority *.example.org ssh-ed25519 ${k3}`,
      `@revoked nas.lan ecdsa-sha2-nistp256 ${k3}`,
      '',
    ].join('\n');
    expect(knownHostKeys(text, 'www.EXAMPLE.org', 22).map((k) => k.blob.toString('base64'))).toEqual([k1]);
    expect(knownHostKeys(text, 'bad.example.org', 22)).toEqual([]);
    expect(knownHostKeys(text, 'nas.lan', 2222).map((k) => k.blob.toString('base64'))).toEqual([k2]);
    expect(knownHostKeys(text, 'nas.lan', 22)).toEqual([{ type: 'ecdsa-sha2-nistp256', blob: Buffer.from(k3, 'base64'), revoked: true }]);
    expect(knownHostKeys(text, 'www.example.org', 2222)).toEqual([]);
    expect(hostKeyFingerprint(Buffer.from(k1, 'base64'))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
