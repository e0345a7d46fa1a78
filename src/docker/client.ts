/**
 * Connection to the Docker Engine API. dockerode is loaded lazily, so commands that never touch Docker do
 * not pay for it.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { UsageError } from '../errors.js';
import { DockerUnreachableError, engineMessage } from './errors.js';

/** Where the engine listens, as DOCKER_HOST says. */
export type DockerEndpoint =
  | { readonly kind: 'unix'; readonly socketPath: string }
  | { readonly kind: 'tcp'; readonly protocol: 'http' | 'https'; readonly host: string; readonly port: number };

/** A connected engine: the dockerode client plus where it points (for messages and the exit-time fallback). */
export interface DockerClient {
  /** The dockerode client. */
  readonly api: Dockerode;
  /** Parsed address of the engine. */
  readonly endpoint: DockerEndpoint;
  /** The address as a user would write it (unix:///… or tcp://host:port); holds no secrets. */
  readonly address: string;
}

/** Options for {@link connectDocker}. */
export interface ConnectOptions {
  /** Engine address (unix:///path, tcp://host:port, http(s)://host:port); default env DOCKER_HOST, then the standard socket. */
  host?: string;
  /** Environment to read DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How long the initial ping may take, in ms. */
  pingTimeoutMs?: number;
}

/** The standard socket of a local engine. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** Default time allowed for the first ping, in ms. */
export const DEFAULT_PING_TIMEOUT_MS = 5_000;

/**
 * Parses a DOCKER_HOST value: `unix:///path`, `tcp://host:port` (https when DOCKER_TLS_VERIFY=1 or the
 * port is 2376, as the docker CLI does), or `http://` / `https://`. Undefined or empty means the standard socket.
 */
export function parseDockerHost(value: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  if (value === undefined || value.trim() === '') return { kind: 'unix', socketPath: DEFAULT_DOCKER_SOCKET };
  const v = value.trim();
  if (v.startsWith('unix://')) {
    const socketPath = v.slice('unix://'.length);
    if (socketPath === '') throw new UsageError('DOCKER_HOST unix:// needs a socket path, as in unix:///var/run/docker.sock');
    return { kind: 'unix', socketPath };
  }
  if (v.startsWith('/')) return { kind: 'unix', socketPath: v };
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new UsageError(`DOCKER_HOST "${v}" is not a unix://, tcp://, http:// or https:// address`);
  }
  if (!['tcp:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`DOCKER_HOST scheme "${url.protocol}" is not supported (use unix:// or tcp://)`);
  }
  const tls = url.protocol === 'https:' || env.DOCKER_TLS_VERIFY === '1' || url.port === '2376';
  const port = url.port !== '' ? Number(url.port) : tls ? 2376 : 2375;
  return { kind: 'tcp', protocol: tls ? 'https' : 'http', host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/** The endpoint as a user would write it. */
export function formatEndpoint(e: DockerEndpoint): string {
  return e.kind === 'unix' ? `unix://${e.socketPath}` : `${e.protocol === 'https' ? 'https' : 'tcp'}://${e.host}:${e.port}`;
}

/**
 * Connects to the engine and pings it. Throws {@link DockerUnreachableError} (one line, naming the address)
 * when nothing answers, so callers can report "is Docker running?" without a stack trace.
 */
export async function connectDocker(opts: ConnectOptions = {}): Promise<DockerClient> {
  const env = opts.env ?? process.env;
  const endpoint = parseDockerHost(opts.host ?? env.DOCKER_HOST, env);
  const address = formatEndpoint(endpoint);
  const { default: Docker } = await import('dockerode');
  const api =
    endpoint.kind === 'unix'
      ? new Docker({ socketPath: endpoint.socketPath })
      : new Docker({ protocol: endpoint.protocol, host: endpoint.host, port: endpoint.port, ...tlsFiles(endpoint, env) });
  const timeoutMs = opts.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      api.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new DockerUnreachableError(address, reasonOf(err));
  } finally {
    clearTimeout(timer);
  }
  return { api, endpoint, address };
}

/** Client certificates for a TLS engine, from DOCKER_CERT_PATH (default ~/.docker), when present. */
function tlsFiles(e: DockerEndpoint, env: NodeJS.ProcessEnv): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if (e.kind !== 'tcp' || e.protocol !== 'https') return {};
  const dir = env.DOCKER_CERT_PATH ?? join(homedir(), '.docker');
  const read = (name: string): Buffer | undefined => {
    try {
      return readFileSync(join(dir, name));
    } catch {
      return undefined;
    }
  };
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  const ca = read('ca.pem');
  const cert = read('cert.pem');
  const key = read('key.pem');
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}

/** A short reason for an unreachable engine: the errno code says more than a stack. */
function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no socket there (is the Docker daemon running?)';
  if (code === 'ECONNREFUSED') return 'connection refused (is the Docker daemon running?)';
  if (code === 'EACCES') return 'permission denied (is this user in the docker group?)';
  if (typeof code === 'string') return code;
  return engineMessage(err);
}
