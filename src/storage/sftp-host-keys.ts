import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OwbError, UsageError } from '../errors.js';
import type { SftpSettings } from './sftp-settings.js';


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
export function knownHostsName(host: string, port: number): string {
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
export type HostKeyPolicy =
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'known_hosts'; file: string; keys: KnownHostKey[] };

/** Returns why `blob` is refused (one line naming the server's fingerprint), or undefined when it is accepted. */
export function refuseHostKey(blob: Buffer, policy: HostKeyPolicy, s: SftpSettings): string | undefined {
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
export function hostKeyAlgorithms(policy: HostKeyPolicy): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (policy.kind !== 'known_hosts') return all;
  const known = policy.keys.filter((k) => !k.revoked).flatMap((k) => (k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type]));
  return [...new Set([...known.filter((a) => all.includes(a)), ...all])];
}

/** Reads the host key policy afresh for each connection, so an edited known_hosts takes effect. */
export async function hostKeyPolicy(s: SftpSettings): Promise<HostKeyPolicy> {
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
