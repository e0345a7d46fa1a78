import { OwbError } from '../errors.js';
import { HostKeyError, hostKeyAlgorithms, hostKeyPolicy, knownHostsName, refuseHostKey } from './sftp-host-keys.js';
import type { SftpSettings } from './sftp-settings.js';
import { isTransient } from './transient.js';

// ─── The ssh2 surface used here (neither ssh2 nor ssh2-sftp-client ships types) ────────────────────────

/** An ssh2 callback: a failed request carries a numeric SFTP status as `code`. */
export type Callback<T> = (err: (Error & { code?: unknown }) | undefined | null, value: T) => void;

/** The attributes of a file, as far as they are used here. */
export interface SftpAttrs {
  size: number;
  mode: number;
}

/** A folder entry. */
export interface SftpEntry {
  filename: string;
  attrs: SftpAttrs;
}

/** ssh2's SFTP channel, as far as it is used here. */
export interface RawSftp {
  open(path: string, flags: string, attrs: { mode: number }, cb: Callback<Buffer>): void;
  close(handle: Buffer, cb: Callback<void>): void;
  read(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Callback<number>): void;
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Callback<void>): void;
  fstat(handle: Buffer, cb: Callback<SftpAttrs>): void;
  stat(path: string, cb: Callback<SftpAttrs>): void;
  unlink(path: string, cb: Callback<void>): void;
  rename(from: string, to: string, cb: Callback<void>): void;
  mkdir(path: string, attrs: { mode: number }, cb: Callback<void>): void;
  readdir(path: string, cb: Callback<SftpEntry[]>): void;
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

// ─── Statuses and errors ────────────────────────────────────────────────────────────────────────────

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that this backend tells apart. */
const FX_NO_SUCH_FILE = 2;
const FX_NO_SUCH_PATH = 10;
/** SFTP's catch-all status; OpenSSH answers it for a rename onto an existing file. */
export const FX_FAILURE = 4;

/** The numeric SFTP status of an error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True for "no such file" statuses. */
export function isMissing(err: unknown): boolean {
  const code = statusOf(err);
  return code === FX_NO_SUCH_FILE || code === FX_NO_SUCH_PATH;
}

/** The message ssh2 fails pending requests with when their channel closes. */
const NO_RESPONSE = 'No response from server';

/**
 * A failure to reach the server or to keep the connection, as one secret-free line. `transient` tells the retry
 * wrapper whether trying again can help (a dropped or refused connection), or not (a refused login, a bad key).
 */
export class SftpConnectionError extends OwbError {
  readonly transient: boolean;
  constructor(message: string, transient: boolean, cause?: unknown) {
    super(message, undefined, cause === undefined ? undefined : { cause });
    this.transient = transient;
  }
}

/** The error of every request on a connection that is gone; the next call opens a new one. */
export function connectionLost(cause?: unknown): SftpConnectionError {
  return new SftpConnectionError('sftp: connection lost', true, cause);
}

// ─── One connection ─────────────────────────────────────────────────────────────────────────────────

/** One SSH connection with its SFTP channel. Requests on it fail as soon as it is known to be lost. */
export class Connection {
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
    const err = connectionLost();
    for (const fail of this.pending) fail(err);
    this.pending.clear();
  }

  /** Runs one SFTP request. It must not wait forever: ssh2 never answers requests queued on a closed channel. */
  call<T>(fn: (sftp: RawSftp, cb: Callback<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) {
        reject(connectionLost());
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

  /**
   * True when `err` came from losing this connection rather than from an answer of the server. Errors owb
   * derived from an answer (not found, already exists, a short read) stand even if the connection died after it.
   */
  isLoss(err: unknown): boolean {
    if (err instanceof SftpConnectionError) return err.transient;
    if (err instanceof OwbError) return false;
    return this.lost || (statusOf(err) === undefined && err instanceof Error && err.message.includes(NO_RESPONSE));
  }
}

// ─── Opening connections ────────────────────────────────────────────────────────────────────────────

/**
 * Opens SSH connections to one server on demand and keeps one open: concurrent callers share it (SFTP pipelines
 * requests), and a connection found lost is replaced lazily, by the next call, never by a retry loop here.
 */
export class SftpConnector {
  private connecting: Promise<Connection> | undefined;
  /** #private, so neither JSON.stringify nor util.inspect can show the secrets in it. */
  readonly #settings: SftpSettings;

  /** Only stores the settings: the first get() connects. */
  constructor(settings: SftpSettings) {
    this.#settings = settings;
  }

  /** The live connection, opening one if there is none (concurrent callers share the attempt). */
  async get(): Promise<Connection> {
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
    return this.get();
  }

  /** Gives up a connection found lost, so the next get() opens a fresh one. */
  drop(conn: Connection): void {
    void this.end(conn);
  }

  /** Closes the connection; a later get() would open a new one. */
  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = undefined;
    const conn = await pending?.catch(() => undefined);
    if (conn !== undefined) await this.end(conn);
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
    const policy = await hostKeyPolicy(s);
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

  /** A one-line, secret-free error for a failed connect; only network trouble is worth another try. */
  private connectError(err: unknown): SftpConnectionError {
    const s = this.#settings;
    const where = `${s.user}@${knownHostsName(s.host, s.port)}`;
    const msg = (err instanceof Error ? err.message : String(err)).replace(/^[\w.]+: /, '');
    const level = (err as { level?: unknown } | null)?.level;
    if (msg.includes('Cannot parse privateKey') || /passphrase/i.test(msg)) {
      const why = msg.replace(/^Cannot parse privateKey: /, '');
      return new SftpConnectionError(`sftp: cannot use the private key from ${s.keySource ?? 'settings'}: ${why} (passphrase: OWB_SFTP_KEY_PASSPHRASE_FILE)`, false, err);
    }
    if (level === 'client-authentication' || msg.includes('authentication methods failed')) {
      const tried = [
        s.privateKey === undefined ? undefined : `key ${s.keySource ?? ''}`.trim(),
        s.password === undefined ? undefined : 'password',
        s.agent === undefined ? undefined : 'ssh-agent',
      ].filter((x) => x !== undefined);
      return new SftpConnectionError(`sftp: ${where} refused the login (tried: ${tried.join(', ') || 'nothing: set OWB_SFTP_KEY_FILE or OWB_SFTP_PASSWORD_FILE'})`, false, err);
    }
    return new SftpConnectionError(`sftp: cannot connect to ${where}: ${msg}`, isTransient(err), err);
  }
}
