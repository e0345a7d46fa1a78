/**
 * HTTP probes of an Open WebUI container: where it answers, whether it is healthy, which version it runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthTimeoutError } from './errors.js';
import type { ContainerInfo } from './inspect.js';

/** Host and port where a container's HTTP server can be reached from here. */
export interface HttpEndpoint {
  readonly host: string;
  readonly port: number;
}

/** Open WebUI's port inside the container unless env PORT says otherwise. */
export const OPENWEBUI_PORT = 8080;

/**
 * Default time {@link waitHealthy} waits, in ms. The real Open WebUI needs 16-60 s after a start before
 * /health answers (longer under load), so a minute is too tight.
 */
export const DEFAULT_HEALTH_TIMEOUT_MS = 300_000;

/**
 * Where a container's web server answers: with host networking, 127.0.0.1 and its PORT (default 8080);
 * with a published port, that host port; otherwise the container's own address. `port` overrides the
 * container port.
 */
export function httpEndpointOf(info: ContainerInfo, port?: number): HttpEndpoint {
  const envPort = Number.parseInt(info.env.PORT ?? '', 10);
  const containerPort = port ?? (Number.isInteger(envPort) && envPort > 0 ? envPort : OPENWEBUI_PORT);
  if (info.networkMode === 'host') return { host: '127.0.0.1', port: containerPort };
  const published = info.ports.find((p) => p.containerPort === containerPort);
  if (published) {
    const any = published.hostIp === '' || published.hostIp === '0.0.0.0' || published.hostIp === '::';
    return { host: any ? '127.0.0.1' : published.hostIp, port: published.hostPort };
  }
  return { host: info.ipAddress ?? '127.0.0.1', port: containerPort };
}

/** Options for {@link waitHealthy}. */
export interface WaitHealthyOptions {
  /** Total time allowed, in ms. */
  timeoutMs?: number;
  /** Pause between attempts, in ms. */
  intervalMs?: number;
  /** Path probed; Open WebUI's health check is /health. */
  path?: string;
  /** Stops waiting early (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Polls `http://host:port/health` until it answers 2xx (and, when the body is JSON with `status`, that is
 * not false). Resolves with the time waited in ms; throws {@link HealthTimeoutError} after the timeout.
 */
export async function waitHealthy(endpoint: HttpEndpoint, opts: WaitHealthyOptions = {}): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? 200;
  const url = `http://${formatHost(endpoint.host)}:${endpoint.port}${opts.path ?? '/health'}`;
  const start = performance.now();
  const deadline = start + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    opts.signal?.throwIfAborted();
    const left = deadline - performance.now();
    if (left <= 0) throw new HealthTimeoutError(url, timeoutMs, last);
    const attempt = AbortSignal.timeout(Math.ceil(Math.max(1, Math.min(left, 5_000))));
    try {
      const res = await fetch(url, { signal: opts.signal ? AbortSignal.any([attempt, opts.signal]) : attempt });
      const body = await res.text();
      if (res.ok && !statusFalse(body)) return performance.now() - start;
      last = `HTTP ${res.status}`;
    } catch (err) {
      opts.signal?.throwIfAborted();
      last = reason(err);
    }
    const wait = Math.ceil(Math.min(intervalMs, deadline - performance.now()));
    if (wait > 0) {
      try {
        await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
      } catch (err) {
        // timers/promises rejects with a generic AbortError; the caller's reason says more.
        opts.signal?.throwIfAborted();
        throw err;
      }
    }
  }
}

/** GET /api/version: the Open WebUI version string, or undefined when it does not answer with one. */
export async function fetchVersion(endpoint: HttpEndpoint, timeoutMs = 5_000): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${formatHost(endpoint.host)}:${endpoint.port}/api/version`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    const v = ((await res.json()) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function statusFalse(body: string): boolean {
  try {
    return (JSON.parse(body) as { status?: unknown }).status === false;
  } catch {
    return false;
  }
}

function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if ((err as Error | null)?.name === 'TimeoutError') return 'request timed out';
  return err instanceof Error ? err.message : String(err);
}
