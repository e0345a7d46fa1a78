import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { secretFromEnv } from '../config/secrets.js';
import { AlreadyExistsError, DamagedRepoError, NotFoundError, OwbError, UsageError } from '../errors.js';
import type { Backend, BackendProperties, FileInfo, FileType, Handle } from './backend.js';
import { checkHandle, checkRange, handleLabel } from './handles.js';

// ─── Settings and URLs ──────────────────────────────────────────────────────────────────────────────

/** Where and how to reach an SFTP repository. Holds secrets: never put it (or parts of it) in a message. */
export interface SftpSettings {
  host: string;
  port: number;
  user: string;
  /** Repository folder; a relative path starts at the login folder, as the server resolves it. */
  path: string;
  /** Private key text (OpenSSH or PEM format). */
  privateKey?: string;
  /** Where the key came from, for messages: a file path or a variable name, never the key. */
  keySource?: string;
  passphrase?: string;
  password?: string;
  /** ssh-agent socket, tried along with any key. */
  agent?: string;
  /** The known_hosts file the server's host key is checked against. */
  knownHostsFile: string;
  /** A pinned host key fingerprint (`SHA256:…`); when set, it replaces the known_hosts check. */
  hostFingerprint?: string;
}

/** The connection part of an SFTP URL. */
export interface SftpAddress {
  user?: string;
  host: string;
  port: number;
  path: string;
}

/** Keys ssh tries by default, in its order; the first one present is used when nothing else is configured. */
const DEFAULT_KEY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** OpenSSH's fingerprint shape: `SHA256:` and 43 characters of unpadded base64. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/**
 * Parses the part of a repository URL after `sftp:`, following restic: `user@host:/abs/path`,
 * `user@host:relative/path` (from the login folder), or `//user@host:port/relative` and
 * `//user@host:port//abs/path` (the first slash only separates the path). IPv6 hosts go in brackets.
 */
export function parseSftpUrl(rest: string): SftpAddress {
  let user: string | undefined;
  let host: string;
  let port = 22;
  let path: string;
  if (rest.startsWith('//')) {
    const m = /^\/\/(?:([^@/]*)@)?(\[[^\]/]+\]|[^:/[\]]+)(?::(\d+))?(\/.*)?$/.exec(rest);
    if (m === null) throw new UsageError('sftp: cannot parse the repository URL; expected sftp://user@host:port/path');
    if (m[1]?.includes(':')) {
      // A password here would sit in shell history and process lists; the message must not repeat it.
      throw new UsageError('sftp: passwords in the repository URL are refused; use OWB_SFTP_PASSWORD_FILE or OWB_SFTP_PASSWORD');
    }
    user = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    host = m[2]!;
    if (m[3] !== undefined) port = Number(m[3]);
    path = decodeURIComponent((m[4] ?? '').slice(1));
  } else {
    // The user may itself contain '@' (restic allows it); the host ends at the first ':' after it.
    const m = /^(?:([^:]*)@)?(\[[^\]]+\]|[^:@[\]]+):(.*)$/.exec(rest);
    if (m === null) throw new UsageError('sftp: cannot parse the repository URL; expected sftp:user@host:/path');
    user = m[1];
    host = m[2]!;
    path = m[3]!;
  }
  host = host.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError('sftp: no host in the repository URL');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`sftp: invalid port ${port}`);
  if (user === '') user = undefined;
  if (path === '') throw new UsageError('sftp: no folder in the repository URL');
  if (path.startsWith('~')) {
    throw new UsageError('sftp: paths starting with "~" are not expanded by SFTP servers; write the path relative to the login folder instead');
  }
  const cleaned = posix.normalize(path);
  return { ...(user === undefined ? {} : { user }), host, port, path: cleaned.length > 1 ? cleaned.replace(/\/$/, '') : cleaned };
}

/**
 * Builds SFTP settings from a repository URL (the part after `sftp:`) and the environment:
 * OWB_SFTP_KEY_FILE (or OWB_SFTP_KEY, the key text), OWB_SFTP_KEY_PASSPHRASE(_FILE), OWB_SFTP_PASSWORD(_FILE),
 * OWB_SFTP_KNOWN_HOSTS (default ~/.ssh/known_hosts), OWB_SFTP_HOST_FINGERPRINT, and SSH_AUTH_SOCK.
 * Without a key or password, the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists is used.
 */
export async function sftpSettingsFromUrl(rest: string, env: NodeJS.ProcessEnv): Promise<SftpSettings> {
  const addr = parseSftpUrl(rest);
  const home = env.HOME || homedir();
  const settings: SftpSettings = {
    host: addr.host,
    port: addr.port,
    user: addr.user ?? (env.USER || userInfo().username),
    path: addr.path,
    knownHostsFile: env.OWB_SFTP_KNOWN_HOSTS || join(home, '.ssh', 'known_hosts'),
  };
  const fingerprint = env.OWB_SFTP_HOST_FINGERPRINT?.trim();
  if (fingerprint) {
    if (!FINGERPRINT.test(fingerprint)) {
      throw new UsageError('OWB_SFTP_HOST_FINGERPRINT must look like SHA256:<43 base64 characters> (as ssh-keygen -l prints)');
    }
    settings.hostFingerprint = fingerprint.replace(/=$/, '');
  }
  const key = await secretFromEnv(env, 'OWB_SFTP_KEY');
  if (key !== undefined) {
    settings.privateKey = key;
    settings.keySource = env.OWB_SFTP_KEY_FILE || 'OWB_SFTP_KEY';
  }
  const passphrase = await secretFromEnv(env, 'OWB_SFTP_KEY_PASSPHRASE');
  if (passphrase !== undefined) settings.passphrase = passphrase;
  const password = await secretFromEnv(env, 'OWB_SFTP_PASSWORD');
  if (password !== undefined) settings.password = password;
  if (env.SSH_AUTH_SOCK) settings.agent = env.SSH_AUTH_SOCK;
  if (settings.privateKey === undefined && settings.password === undefined) {
    for (const name of DEFAULT_KEY_FILES) {
      const file = join(home, '.ssh', name);
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined) {
        settings.privateKey = text;
        settings.keySource = file;
        break;
      }
    }
  }
  return settings;
}

// ─── Host key checking ──────────────────────────────────────────────────────────────────────────────

/** A refused host key: unknown, changed, revoked, or not the pinned one. */
export class HostKeyError extends OwbError {}

/** One known_hosts line that applies to the server being checked. */
export interface KnownHostKey {
  type: string;
  blob: Buffer;
  revoked: boolean;
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and the unpadded base64 of its SHA-256. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The name known_hosts records a server under: `host` on port 22, `[host]:port` otherwise (as ssh writes it). */
function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** True when a known_hosts host field (patterns `a,*.b,!c`, or one hashed `|1|salt|hash`) matches `name`. */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    if (re.test(name)) {
      if (negated) return false; // a negated match vetoes the whole line, as in ssh
      matched = true;
    }
  }
  return matched;
}

/** The keys a known_hosts text lists for `host:port`. `@cert-authority` lines are skipped: certificates are not supported. */
export function knownHostKeys(text: string, host: string, port: number): KnownHostKey[] {
  const name = knownHostsName(host, port);
  const keys: KnownHostKey[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) continue;
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    const [hosts, type, b64] = fields;
    if (marker === '@cert-authority' || !hosts || !type || !b64 || !hostFieldMatches(hosts, name)) continue;
    keys.push({ type, blob: Buffer.from(b64, 'base64'), revoked: marker === '@revoked' });
  }
  return keys;
}

/** The key type named inside a public key blob (its first SSH string). */
function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
}

/** How the server's key is checked: against a pinned fingerprint, or against the known_hosts entries for it. */
type HostKeyPolicy =
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'known_hosts'; file: string; keys: KnownHostKey[] };

/** Returns why `blob` is refused (one line naming the server's fingerprint), or undefined when it is accepted. */
function refuseHostKey(blob: Buffer, policy: HostKeyPolicy, s: SftpSettings): string | undefined {
  const fp = hostKeyFingerprint(blob);
  const presented = `${blobKeyType(blob)} key ${fp}`;
  const label = knownHostsName(s.host, s.port);
  if (policy.kind === 'fingerprint') {
    if (fp === policy.fingerprint) return undefined;
    return `sftp: host key of ${label} does not match the pinned fingerprint ${policy.fingerprint}: the server presented ${presented}; refusing to connect`;
  }
  if (policy.keys.some((k) => k.revoked && k.blob.equals(blob))) {
    return `sftp: host key of ${label} is marked @revoked in ${policy.file}: the server presented ${presented}; refusing to connect`;
  }
  const trusted = policy.keys.filter((k) => !k.revoked);
  if (trusted.some((k) => k.blob.equals(blob))) return undefined;
  if (trusted.length > 0) {
    return (
      `sftp: HOST KEY CHANGED for ${label}: the server presented ${presented}, which matches none of the ${trusted.length} ` +
      `key(s) for it in ${policy.file}; this may be an attack; if the change is genuine, replace the entry`
    );
  }
  return (
    `sftp: host ${label} is unknown: its ${presented} is not in ${policy.file}; after checking it, add it ` +
    `(ssh-keyscan${s.port === 22 ? '' : ` -p ${s.port}`} ${s.host}) or set OWB_SFTP_HOST_FINGERPRINT=${fp}`
  );
}

/** Host key algorithms, those already known for this server first, so a server with several keys shows the trusted one. */
function hostKeyAlgorithms(policy: HostKeyPolicy): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (policy.kind !== 'known_hosts') return all;
  const known = policy.keys.filter((k) => !k.revoked).flatMap((k) => (k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type]));
  return [...new Set([...known.filter((a) => all.includes(a)), ...all])];
}

// ─── The ssh2 surface used here (neither ssh2 nor ssh2-sftp-client ships types) ────────────────────────

type Callback<T> = (err: (Error & { code?: unknown }) | undefined | null, value: T) => void;

interface SftpAttrs {
  size: number;
  mode: number;
}

interface RawSftp {
  open(path: string, flags: string, attrs: { mode: number }, cb: Callback<Buffer>): void;
  close(handle: Buffer, cb: Callback<void>): void;
  read(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Callback<number>): void;
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Callback<void>): void;
  fstat(handle: Buffer, cb: Callback<SftpAttrs>): void;
  stat(path: string, cb: Callback<SftpAttrs>): void;
  unlink(path: string, cb: Callback<void>): void;
  rename(from: string, to: string, cb: Callback<void>): void;
  mkdir(path: string, attrs: { mode: number }, cb: Callback<void>): void;
  readdir(path: string, cb: Callback<{ filename: string; attrs: SftpAttrs }[]>): void;
  ext_openssh_fsync(handle: Buffer, cb: Callback<void>): void;
  on(event: string, listener: () => void): void;
}

interface SftpClient {
  connect(config: Record<string, unknown>): Promise<RawSftp>;
  end(): Promise<unknown>;
  on(event: string, listener: () => void): void;
}

type SftpClientClass = new (name: string, callbacks: Record<string, () => void>) => SftpClient;

/** Loads ssh2-sftp-client on first use, so commands that never touch SFTP never pay for ssh2. */
async function loadSftpClient(): Promise<SftpClientClass> {
  // A string variable, not a literal: the package has no type declarations, and the members used are typed above.
  const specifier: string = 'ssh2-sftp-client';
  return ((await import(specifier)) as { default: SftpClientClass }).default;
}

// ─── Connection ─────────────────────────────────────────────────────────────────────────────────────

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that this backend tells apart. */
const FX_NO_SUCH_FILE = 2;
const FX_FAILURE = 4;
const FX_NO_SUCH_PATH = 10;

/** The numeric SFTP status of an error, if it has one. */
function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True for "no such file" statuses. */
function isMissing(err: unknown): boolean {
  const code = statusOf(err);
  return code === FX_NO_SUCH_FILE || code === FX_NO_SUCH_PATH;
}

/** The message ssh2 fails pending requests with when their channel closes. */
const NO_RESPONSE = 'No response from server';

/** One SSH connection with its SFTP channel. Requests on it fail as soon as it is known to be lost. */
class Connection {
  lost = false;
  private readonly pending = new Set<(err: Error) => void>();

  constructor(
    readonly client: SftpClient,
    readonly sftp: RawSftp,
  ) {}

  /** Marks the connection dead and fails every request still waiting on it. */
  markLost(): void {
    if (this.lost) return;
    this.lost = true;
    const err = new OwbError('sftp: connection lost');
    for (const fail of this.pending) fail(err);
    this.pending.clear();
  }

  /** Runs one SFTP request. It must not wait forever: ssh2 never answers requests queued on a closed channel. */
  call<T>(fn: (sftp: RawSftp, cb: Callback<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) {
        reject(new OwbError('sftp: connection lost'));
        return;
      }
      this.pending.add(reject);
      try {
        fn(this.sftp, (err, value) => {
          this.pending.delete(reject);
          if (err) reject(err);
          else resolve(value);
        });
      } catch (err) {
        this.pending.delete(reject);
        reject(err);
      }
    });
  }

  /** True when `err` came from losing this connection rather than from the server refusing a request. */
  isLoss(err: unknown): boolean {
    return this.lost || (statusOf(err) === undefined && err instanceof Error && err.message.includes(NO_RESPONSE));
  }
}

/** Bytes per read or write request: 32 KiB is what every SFTP server must accept. */
const IO_CHUNK = 32 * 1024;
/** Requests kept in flight per transfer, so throughput is not bound by round trips (2 MiB in flight). */
const IO_DEPTH = 64;
/** Bytes per chunk handed out by openReadStream(). */
const STREAM_CHUNK = 1024 * 1024;

/** Runs fn(0..count-1) with at most `depth` running at once; stops starting new ones after a failure. */
async function pipelined(count: number, depth: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(depth, count) }, worker));
}

/** Fills `buf` from `position` of an open file; a file that ends early is damage, not a missing object. */
async function readInto(conn: Connection, handle: Buffer, buf: Buffer, position: number, h: Handle): Promise<void> {
  await pipelined(Math.ceil(buf.length / IO_CHUNK), IO_DEPTH, async (i) => {
    let off = i * IO_CHUNK;
    const end = Math.min(off + IO_CHUNK, buf.length);
    while (off < end) {
      const at = off;
      const n = await conn.call<number>((s, cb) => s.read(handle, buf, at, end - at, position + at, cb));
      if (!n) {
        throw new DamagedRepoError(`short read: ${handleLabel(h)} ended before byte ${position + end}`);
      }
      off += n;
    }
  });
}

/** Closes a file handle, ignoring errors: used where an earlier error is the one to report. */
async function closeQuietly(conn: Connection, handle: Buffer): Promise<void> {
  if (conn.lost) return;
  await conn.call<void>((s, cb) => s.close(handle, cb)).catch(() => undefined);
}

/** Removes a file, ignoring errors: a stray temp file is hidden from list() and harmless. */
async function unlinkQuietly(conn: Connection, path: string): Promise<void> {
  if (conn.lost) return;
  await conn.call<void>((s, cb) => s.unlink(path, cb)).catch(() => undefined);
}

/** Writes `data` to a new file (refusing an existing one) and flushes it to disk where the server can. */
async function upload(conn: Connection, path: string, data: Buffer): Promise<void> {
  const handle = await conn.call<Buffer>((s, cb) => s.open(path, 'wx', { mode: FILE_MODE }, cb));
  try {
    await pipelined(Math.ceil(data.length / IO_CHUNK), IO_DEPTH, (i) => {
      const off = i * IO_CHUNK;
      return conn.call<void>((s, cb) => s.write(handle, data, off, Math.min(IO_CHUNK, data.length - off), off, cb));
    });
    try {
      await conn.call<void>((s, cb) => s.ext_openssh_fsync(handle, cb));
    } catch (err) {
      // Servers without fsync@openssh.com cannot be asked to flush; ssh2 says so before sending anything.
      if (!(err instanceof Error && err.message.includes('does not support'))) throw err;
    }
  } catch (err) {
    await closeQuietly(conn, handle);
    throw err;
  }
  await conn.call<void>((s, cb) => s.close(handle, cb));
}

// ─── Backend ────────────────────────────────────────────────────────────────────────────────────────

/** Every object type that lives in a folder of its own (all but `config`). */
const FOLDER_TYPES = ['keys', 'index', 'snapshots', 'locks', 'data'] as const;
/** Prefix of in-flight uploads; list() hides every dot-name. */
const TMP_PREFIX = '.tmp-';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** Renders a server address as a restic-style URL that round-trips through parseSftpUrl. */
function sftpLocation(s: SftpSettings): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  if (s.port === 22 && !s.host.includes(':')) return `sftp:${s.user}@${host}:${s.path}`;
  return `sftp://${s.user}@${host}:${s.port}/${s.path}`;
}

/**
 * A repository on an SFTP server, laid out as LocalBackend lays out a folder. One SSH connection carries
 * all requests (SFTP pipelines them); a connection lost mid-operation is re-opened and the operation
 * retried once. Every connection checks the server's host key first, against known_hosts or a pinned
 * fingerprint, and refuses unknown or changed keys.
 */
export class SftpBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties = Object.freeze({ connections: 4, hasAtomicReplace: true });
  private readonly root: string;
  private connecting: Promise<Connection> | undefined;
  /** A #private field, so neither JSON.stringify nor util.inspect of the backend can show the secrets in it. */
  readonly #settings: SftpSettings;

  /** Only stores the settings: the first operation connects. */
  constructor(settings: SftpSettings) {
    this.#settings = settings;
    this.root = settings.path;
    this.location = sftpLocation(settings);
  }

  /** Creates the root, the type folders and the 256 data prefix folders; existing ones are left alone. */
  async create(): Promise<void> {
    await this.withConnection(async (conn) => {
      await this.mkdirs(conn, this.root);
      await Promise.all(FOLDER_TYPES.map((t) => this.mkdirOnce(conn, posix.join(this.root, t))));
      await pipelined(256, IO_DEPTH, (i) => this.mkdirOnce(conn, posix.join(this.root, 'data', i.toString(16).padStart(2, '0'))));
    });
  }

  /**
   * Uploads to a temp name beside the target, then renames it. The rename is a plain SSH_FXP_RENAME, never
   * posix-rename@openssh.com: OpenSSH's server implements the plain one for files as link()+unlink(), which
   * refuses an existing target atomically, so of several racing saves exactly one wins. (Only on filesystems
   * without hard links does OpenSSH fall back to stat-then-rename, which is racy; servers that let rename
   * replace files are caught by the stat below, leaving the same small window.)
   */
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const final = this.path(h);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const state = { tmp: '', renaming: false };
    await this.withConnection(async (conn) => {
      if (state.tmp !== '') {
        // A previous attempt lost its connection. If it was renaming and its temp is gone, the rename landed.
        if (state.renaming && !(await this.isFile(conn, state.tmp)) && (await this.sizeOrUndefined(conn, final)) === bytes.length) return;
        await unlinkQuietly(conn, state.tmp);
      }
      state.tmp = posix.join(posix.dirname(final), `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
      state.renaming = false;
      try {
        await this.uploadCreatingFolder(conn, state.tmp, bytes);
        if (await this.isFile(conn, final)) throw new AlreadyExistsError(handleLabel(h));
        state.renaming = true;
        await conn.call<void>((s, cb) => s.rename(state.tmp, final, cb)).catch(async (err: unknown) => {
          if (statusOf(err) === FX_FAILURE && (await this.isFile(conn, final))) throw new AlreadyExistsError(handleLabel(h));
          throw err;
        });
      } catch (err) {
        await unlinkQuietly(conn, state.tmp);
        throw err;
      }
    });
  }

  /** Reads the range with pipelined requests; the size is checked first so a short object is damage, not a hang. */
  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    checkRange(offset, length);
    const path = this.path(h);
    return this.withConnection(async (conn) => {
      const handle = await this.openExisting(conn, path, h);
      try {
        const size = (await conn.call<SftpAttrs>((s, cb) => s.fstat(handle, cb))).size;
        const want = length ?? size - offset;
        if (want < 0 || offset + want > size) {
          throw new DamagedRepoError(`short read: ${handleLabel(h)} has ${size} bytes, expected at least ${Math.max(offset, offset + want)}`);
        }
        // Not pooled: the caller owns the whole ArrayBuffer and may mutate or transfer it.
        const buf = Buffer.allocUnsafeSlow(want);
        await readInto(conn, handle, buf, offset, h);
        return buf;
      } finally {
        await closeQuietly(conn, handle);
      }
    });
  }

  /** Opens first, so a missing object fails here with NotFoundError; then streams 1 MiB pipelined chunks. */
  async openReadStream(h: Handle): Promise<Readable> {
    const path = this.path(h);
    const { conn, handle, size } = await this.withConnection(async (conn) => {
      const handle = await this.openExisting(conn, path, h);
      const size = (await conn.call<SftpAttrs>((s, cb) => s.fstat(handle, cb)).catch(async (err: unknown) => {
        await closeQuietly(conn, handle);
        throw err;
      })).size;
      return { conn, handle, size };
    });
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for (let pos = 0; pos < size; pos += STREAM_CHUNK) {
          const buf = Buffer.allocUnsafe(Math.min(STREAM_CHUNK, size - pos));
          await readInto(conn, handle, buf, pos, h);
          yield buf;
        }
      } finally {
        await closeQuietly(conn, handle);
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** Size of an object; anything that is not a regular file does not count as one. */
  async stat(h: Handle): Promise<FileInfo> {
    const path = this.path(h);
    const size = await this.withConnection((conn) => this.sizeOrUndefined(conn, path));
    if (size === undefined) throw new NotFoundError(handleLabel(h));
    return { name: h.name, size };
  }

  /** True when the object exists. */
  async exists(h: Handle): Promise<boolean> {
    const path = this.path(h);
    return this.withConnection((conn) => this.isFile(conn, path));
  }

  /** Deletes an object. After a lost connection, finding it gone on the retry counts as done: it may have been us. */
  async remove(h: Handle): Promise<void> {
    const path = this.path(h);
    let attempts = 0;
    await this.withConnection(async (conn) => {
      attempts++;
      try {
        await conn.call<void>((s, cb) => s.unlink(path, cb));
      } catch (err) {
        if (!isMissing(err)) throw err;
        if (attempts === 1) throw new NotFoundError(handleLabel(h));
      }
    });
  }

  /** Lists complete objects of one type; a missing folder lists as empty. */
  async list(type: FileType): Promise<FileInfo[]> {
    if (type === 'config') {
      const h: Handle = { type: 'config', name: '' };
      const size = await this.withConnection((conn) => this.sizeOrUndefined(conn, this.path(h)));
      return size === undefined ? [] : [{ name: '', size }];
    }
    if (!(FOLDER_TYPES as readonly string[]).includes(type)) throw new TypeError(`unknown object type '${String(type)}'`);
    const folder = posix.join(this.root, type);
    return this.withConnection(async (conn) => {
      const entries = await this.readdir(conn, folder);
      if (type !== 'data') return filesOf(entries);
      const prefixes = entries.filter((e) => (e.attrs.mode & S_IFMT) === S_IFDIR && e.filename.length === 2);
      const parts: FileInfo[][] = [];
      await pipelined(prefixes.length, 16, async (i) => {
        parts[i] = filesOf(await this.readdir(conn, posix.join(folder, prefixes[i]!.filename)));
      });
      return parts.flat();
    });
  }

  /** Closes the connection; a later call would open a new one. */
  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = undefined;
    const conn = await pending?.catch(() => undefined);
    if (conn !== undefined) await this.end(conn);
  }

  /** Server path of an object. */
  private path(h: Handle): string {
    checkHandle(h);
    if (h.type === 'config') return posix.join(this.root, 'config');
    if (h.type === 'data') return posix.join(this.root, 'data', h.name.slice(0, 2), h.name);
    return posix.join(this.root, h.type, h.name);
  }

  /** Runs `op` on the connection; if the connection is lost meanwhile, reconnects and runs it once more. */
  private async withConnection<T>(op: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await this.connection();
    try {
      return await op(conn);
    } catch (err) {
      if (!conn.isLoss(err)) throw err;
      // Ending it marks it lost, so connection() opens a fresh one.
      void this.end(conn);
      return op(await this.connection());
    }
  }

  /** The live connection, opening one if there is none (concurrent callers share the attempt). */
  private async connection(): Promise<Connection> {
    let pending = this.connecting;
    if (pending === undefined) {
      pending = this.connect();
      this.connecting = pending;
      const mine = pending;
      // A failed attempt must not stick: the next call tries again.
      mine.catch(() => {
        if (this.connecting === mine) this.connecting = undefined;
      });
    }
    const conn = await pending;
    if (!conn.lost) return conn;
    if (this.connecting === pending) this.connecting = undefined;
    void this.end(conn);
    return this.connection();
  }

  /** Ends a connection, ignoring errors: it may already be gone. */
  private async end(conn: Connection): Promise<void> {
    conn.markLost();
    await conn.client.end().catch(() => undefined);
  }

  /** Opens an SSH connection and its SFTP channel, checking the host key before anything is sent. */
  private async connect(): Promise<Connection> {
    const s = this.#settings;
    const Client = await loadSftpClient();
    const policy = await this.hostKeyPolicy();
    const noop = (): void => undefined;
    // The library's default callbacks print; library code must not.
    const client = new Client('owb', { error: noop, end: noop, close: noop });
    let refusal: string | undefined;
    let conn: Connection | undefined;
    for (const event of ['close', 'end', 'error']) client.on(event, () => conn?.markLost());
    let sftp: RawSftp;
    try {
      sftp = await client.connect({
        host: s.host,
        port: s.port,
        username: s.user,
        ...(s.privateKey === undefined ? {} : { privateKey: s.privateKey }),
        ...(s.passphrase === undefined ? {} : { passphrase: s.passphrase }),
        ...(s.password === undefined ? {} : { password: s.password }),
        ...(s.agent === undefined ? {} : { agent: s.agent }),
        hostVerifier: (key: Buffer) => {
          refusal = refuseHostKey(key, policy, s);
          return refusal === undefined;
        },
        algorithms: { serverHostKey: hostKeyAlgorithms(policy) },
        readyTimeout: 20_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
      });
    } catch (err) {
      await client.end().catch(() => undefined);
      if (refusal !== undefined) throw new HostKeyError(refusal);
      throw this.connectError(err);
    }
    conn = new Connection(client, sftp);
    for (const event of ['close', 'end', 'error']) sftp.on(event, () => conn?.markLost());
    return conn;
  }

  /** Reads the host key policy afresh for each connection, so an edited known_hosts takes effect. */
  private async hostKeyPolicy(): Promise<HostKeyPolicy> {
    const s = this.#settings;
    if (s.hostFingerprint !== undefined) return { kind: 'fingerprint', fingerprint: s.hostFingerprint };
    let text = '';
    try {
      text = await readFile(s.knownHostsFile, 'utf8');
    } catch (err) {
      // A missing file means "nothing known yet", and the host is then refused as unknown.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new UsageError(`sftp: cannot read known_hosts file ${s.knownHostsFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
    return { kind: 'known_hosts', file: s.knownHostsFile, keys: knownHostKeys(text, s.host, s.port) };
  }

  /** A one-line, secret-free error for a failed connect. */
  private connectError(err: unknown): OwbError {
    const s = this.#settings;
    const where = `${s.user}@${knownHostsName(s.host, s.port)}`;
    const msg = (err instanceof Error ? err.message : String(err)).replace(/^[\w.]+: /, '');
    const level = (err as { level?: unknown } | null)?.level;
    if (msg.includes('Cannot parse privateKey') || /passphrase/i.test(msg)) {
      return new OwbError(`sftp: cannot use the private key from ${s.keySource ?? 'settings'}: ${msg.replace(/^Cannot parse privateKey: /, '')} (passphrase: OWB_SFTP_KEY_PASSPHRASE_FILE)`, undefined, { cause: err });
    }
    if (level === 'client-authentication' || msg.includes('authentication methods failed')) {
      const tried = [
        s.privateKey === undefined ? undefined : `key ${s.keySource ?? ''}`.trim(),
        s.password === undefined ? undefined : 'password',
        s.agent === undefined ? undefined : 'ssh-agent',
      ].filter((x) => x !== undefined);
      return new OwbError(`sftp: ${where} refused the login (tried: ${tried.join(', ') || 'nothing: set OWB_SFTP_KEY_FILE or OWB_SFTP_PASSWORD_FILE'})`, undefined, { cause: err });
    }
    return new OwbError(`sftp: cannot connect to ${where}: ${msg}`, undefined, { cause: err });
  }

  /** Opens an object for reading, mapping "missing" to NotFoundError. */
  private async openExisting(conn: Connection, path: string, h: Handle): Promise<Buffer> {
    try {
      return await conn.call<Buffer>((s, cb) => s.open(path, 'r', { mode: FILE_MODE }, cb));
    } catch (err) {
      throw isMissing(err) ? new NotFoundError(handleLabel(h)) : err;
    }
  }

  /** Uploads; if the target folder is missing (a repository copied without empty folders), creates it and retries. */
  private async uploadCreatingFolder(conn: Connection, tmp: string, data: Buffer): Promise<void> {
    try {
      await upload(conn, tmp, data);
    } catch (err) {
      if (!isMissing(err)) throw err;
      await this.mkdirs(conn, posix.dirname(tmp));
      await upload(conn, tmp, data);
    }
  }

  /** Size of a regular file, or undefined when there is none at `path`. */
  private async sizeOrUndefined(conn: Connection, path: string): Promise<number | undefined> {
    try {
      const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb));
      return (attrs.mode & S_IFMT) === S_IFREG ? attrs.size : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** True when a regular file exists at `path`. */
  private async isFile(conn: Connection, path: string): Promise<boolean> {
    return (await this.sizeOrUndefined(conn, path)) !== undefined;
  }

  /** Creates a folder unless a folder is already there. */
  private async mkdirOnce(conn: Connection, path: string): Promise<void> {
    try {
      await conn.call<void>((s, cb) => s.mkdir(path, { mode: DIR_MODE }, cb));
    } catch (err) {
      if (conn.isLoss(err)) throw err;
      // Servers answer "failure" for an existing folder; only a stat can tell that from a real failure.
      const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb)).catch(() => undefined);
      if (attrs === undefined || (attrs.mode & S_IFMT) !== S_IFDIR) throw err;
    }
  }

  /** Creates a folder and its missing parents, as mkdir -p. */
  private async mkdirs(conn: Connection, path: string): Promise<void> {
    const attrs = await conn.call<SftpAttrs>((s, cb) => s.stat(path, cb)).catch(() => undefined);
    if (attrs !== undefined && (attrs.mode & S_IFMT) === S_IFDIR) return;
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (prefix === '' || prefix === '.') continue;
      await this.mkdirOnce(conn, prefix);
    }
  }

  /** Folder entries, or none when the folder does not exist. */
  private async readdir(conn: Connection, path: string): Promise<{ filename: string; attrs: SftpAttrs }[]> {
    try {
      return await conn.call<{ filename: string; attrs: SftpAttrs }[]>((s, cb) => s.readdir(path, cb));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }
}

/** Regular files among folder entries, without temp or other dot-files. */
function filesOf(entries: { filename: string; attrs: SftpAttrs }[]): FileInfo[] {
  return entries
    .filter((e) => (e.attrs.mode & S_IFMT) === S_IFREG && !e.filename.startsWith('.'))
    .map((e) => ({ name: e.filename, size: e.attrs.size }));
}
