import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join, posix } from 'node:path';
import { readSecretFile, secretFromEnv } from '../config/secrets.js';
import { UsageError } from '../errors.js';

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
 * Per-repository SFTP settings from the config file (`repositories.<name>.sftp`), which win over the
 * OWB_SFTP_* variables. The URL stays the one source of user, host, port and path.
 */
export interface SftpRepositoryOptions {
  /** File holding the private key, instead of OWB_SFTP_KEY_FILE / OWB_SFTP_KEY. */
  keyFile?: string;
  /** File holding the key's passphrase, instead of OWB_SFTP_KEY_PASSPHRASE(_FILE). */
  keyPassphraseFile?: string;
  /** File holding the login password, instead of OWB_SFTP_PASSWORD(_FILE). */
  passwordFile?: string;
  /** known_hosts file, instead of OWB_SFTP_KNOWN_HOSTS. */
  knownHosts?: string;
  /** Pinned host key fingerprint (`SHA256:…`), instead of OWB_SFTP_HOST_FINGERPRINT. */
  hostFingerprint?: string;
}

/** A secret from the config's file when one is named there, else from the environment (NAME or NAME_FILE). */
async function secretFrom(file: string | undefined, configKey: string, env: NodeJS.ProcessEnv, variable: string): Promise<string | undefined> {
  if (file !== undefined) return readSecretFile(file, `sftp.${configKey}`);
  return secretFromEnv(env, variable);
}

/**
 * Builds SFTP settings from a repository URL (the part after `sftp:`), the config's options and the environment,
 * the config winning: key_file or else OWB_SFTP_KEY_FILE (or OWB_SFTP_KEY, the key text); key_passphrase_file or
 * else OWB_SFTP_KEY_PASSPHRASE(_FILE); password_file or else OWB_SFTP_PASSWORD(_FILE); known_hosts or else
 * OWB_SFTP_KNOWN_HOSTS (default ~/.ssh/known_hosts); host_fingerprint or else OWB_SFTP_HOST_FINGERPRINT; and
 * SSH_AUTH_SOCK. Without a key or password, the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists is used.
 */
export async function sftpSettingsFromUrl(rest: string, env: NodeJS.ProcessEnv, options: SftpRepositoryOptions = {}): Promise<SftpSettings> {
  const addr = parseSftpUrl(rest);
  const home = env.HOME || homedir();
  const settings: SftpSettings = {
    host: addr.host,
    port: addr.port,
    user: addr.user ?? (env.USER || userInfo().username),
    path: addr.path,
    knownHostsFile: options.knownHosts || env.OWB_SFTP_KNOWN_HOSTS || join(home, '.ssh', 'known_hosts'),
  };
  const [fingerprint, fingerprintSetting] =
    options.hostFingerprint !== undefined ? [options.hostFingerprint.trim(), 'sftp.host_fingerprint'] : [env.OWB_SFTP_HOST_FINGERPRINT?.trim(), 'OWB_SFTP_HOST_FINGERPRINT'];
  if (fingerprint) {
    if (!FINGERPRINT.test(fingerprint)) {
      throw new UsageError(`${fingerprintSetting} must look like SHA256:<43 base64 characters> (as ssh-keygen -l prints)`);
    }
    settings.hostFingerprint = fingerprint.replace(/=$/, '');
  }
  const key = await secretFrom(options.keyFile, 'key_file', env, 'OWB_SFTP_KEY');
  if (key !== undefined) {
    settings.privateKey = key;
    settings.keySource = options.keyFile || env.OWB_SFTP_KEY_FILE || 'OWB_SFTP_KEY';
  }
  const passphrase = await secretFrom(options.keyPassphraseFile, 'key_passphrase_file', env, 'OWB_SFTP_KEY_PASSPHRASE');
  if (passphrase !== undefined) settings.passphrase = passphrase;
  const password = await secretFrom(options.passwordFile, 'password_file', env, 'OWB_SFTP_PASSWORD');
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

/** Renders a server address as a restic-style URL that round-trips through parseSftpUrl. */
export function sftpLocation(s: SftpSettings): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  if (s.port === 22 && !s.host.includes(':')) return `sftp:${s.user}@${host}:${s.path}`;
  return `sftp://${s.user}@${host}:${s.port}/${s.path}`;
}
