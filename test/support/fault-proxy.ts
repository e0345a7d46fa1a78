/**
 * A real HTTP proxy on 127.0.0.1 in front of a real server (Ceph RGW in the tests), which misbehaves on
 * command: it answers 500/503, resets connections halfway through a request or response body, or stalls, for
 * the next N matching requests or for a fraction of them. Everything else is forwarded byte for byte, Host
 * header included, so SigV4 signatures stay valid.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What the proxy can do to one request. */
export type FaultKind =
  /** Answer 500 InternalError (the request never reaches the server). */
  | 'status500'
  /** Answer 503 ServiceUnavailable. */
  | 'status503'
  /** Answer 503 SlowDown, S3's throttling answer. */
  | 'slowdown'
  /** Read half of the request body, then reset the connection (the server never sees the request). */
  | 'reset-request'
  /** Forward the whole request, then reset halfway through the response body (before any byte, when it has none):
   *  the server did the work, the client never hears of it. */
  | 'reset-response'
  /** Accept the request and never answer; the socket is reset after stallMs (default: when the proxy closes). */
  | 'stall';

/** Which requests a fault applies to. */
export interface FaultRule {
  /** One kind, or several to pick from at random (seeded) per faulted request. */
  kind: FaultKind | FaultKind[];
  /** Fault the next `count` matching requests (then stop)… */
  count?: number;
  /** …or this fraction of matching requests, until cleared… */
  fraction?: number;
  /** …or every matching request for this long from now (a storm), then stop. */
  durationMs?: number;
  /** Only requests this accepts are considered (default: all). */
  match?: (req: { method: string; url: string }) => boolean;
  /** How long a stall lasts before the proxy resets the socket. */
  stallMs?: number;
}

/** Counters, for tests to assert that faults really happened. */
export interface ProxyStats {
  requests: number;
  forwarded: number;
  faults: Record<FaultKind, number>;
  /** Requests seen, as "METHOD /path" without the query, in order; a fault is appended as " !kind". */
  log: string[];
  /** Requests answered by the upstream and relayed in full, as "METHOD /path STATUS". */
  completed: string[];
}

/** A small seeded PRNG (mulberry32), so fractions of faults are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const XML_ERRORS: Record<'status500' | 'status503' | 'slowdown', [number, string]> = {
  status500: [500, 'InternalError'],
  status503: [503, 'ServiceUnavailable'],
  slowdown: [503, 'SlowDown'],
};

/** The proxy. Start it with {@link FaultProxy.start}; close it when done. */
export class FaultProxy {
  stats: ProxyStats = FaultProxy.emptyStats();
  private rule: (FaultRule & { left?: number; until?: number }) | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly upstreamAgent = new Agent({ keepAlive: true, maxSockets: 64 });
  private random: () => number;

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    seed: number,
  ) {
    this.random = seeded(seed);
  }

  private static emptyStats(): ProxyStats {
    return {
      requests: 0,
      forwarded: 0,
      faults: { status500: 0, status503: 0, slowdown: 0, 'reset-request': 0, 'reset-response': 0, stall: 0 },
      log: [],
      completed: [],
    };
  }

  /** Starts counting from zero. */
  resetStats(): void {
    this.stats = FaultProxy.emptyStats();
  }

  /** Starts a proxy for `upstream` (an http:// origin) on a free port of 127.0.0.1. */
  static async start(upstream: string, seed = 1): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, new URL(upstream), seed);
    server.on('request', (req, res) => proxy.handle(req, res));
    server.on('connection', (s) => {
      proxy.sockets.add(s);
      s.on('close', () => proxy.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The proxy's port. */
  get port(): number {
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy is not listening');
    return addr.port;
  }

  /** The proxy's origin, to use as the S3 endpoint. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces the current fault rule; `seed` restarts the random sequence for reproducible runs. */
  inject(rule: FaultRule, seed?: number): void {
    this.rule = {
      ...rule,
      ...(rule.count !== undefined ? { left: rule.count } : {}),
      ...(rule.durationMs !== undefined ? { until: Date.now() + rule.durationMs } : {}),
    };
    if (seed !== undefined) this.random = seeded(seed);
  }

  /** Stops injecting faults; everything is forwarded again. */
  clear(): void {
    this.rule = undefined;
  }

  /** Total faults injected so far. */
  get faultCount(): number {
    return Object.values(this.stats.faults).reduce((a, b) => a + b, 0);
  }

  /** Closes the proxy and every connection it holds (stalled ones included). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.upstreamAgent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Decides whether this request gets a fault, and which. */
  private pick(method: string, url: string): FaultKind | undefined {
    const r = this.rule;
    if (r === undefined || (r.match && !r.match({ method, url }))) return undefined;
    if (r.left !== undefined) {
      if (r.left <= 0) return undefined;
      r.left--;
    } else if (r.until !== undefined) {
      if (Date.now() >= r.until) return undefined;
    } else if (this.random() >= (r.fraction ?? 0)) {
      return undefined;
    }
    const kinds = Array.isArray(r.kind) ? r.kind : [r.kind];
    return kinds[Math.floor(this.random() * kinds.length)];
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    this.stats.requests++;
    const label = `${method} ${url.split('?')[0]}`;
    const fault = this.pick(method, url);
    this.stats.log.push(fault === undefined ? label : `${label} !${fault}`);
    if (fault !== undefined) this.stats.faults[fault]++;
    switch (fault) {
      case 'status500':
      case 'status503':
      case 'slowdown':
        return this.answerError(req, res, fault);
      case 'reset-request':
        return this.resetMidRequest(req);
      case 'stall':
        return this.stall(req);
      default:
        return this.forward(req, res, fault === 'reset-response');
    }
  }

  /** Drains the body, then answers with an S3-style XML error. */
  private answerError(req: IncomingMessage, res: ServerResponse, kind: 'status500' | 'status503' | 'slowdown'): void {
    const [status, code] = XML_ERRORS[kind];
    req.resume();
    req.on('end', () => {
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test proxy</Message></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }

  /** Reads about half of the declared body, then resets the connection. */
  private resetMidRequest(req: IncomingMessage): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!(declared > 1)) {
      req.socket.resetAndDestroy();
      return;
    }
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= declared / 2) req.socket.resetAndDestroy();
    });
  }

  /** Holds the request unanswered, reading nothing more. */
  private stall(req: IncomingMessage): void {
    req.pause();
    const ms = this.rule?.stallMs;
    if (ms !== undefined) {
      const t = setTimeout(() => req.socket.resetAndDestroy(), ms);
      req.socket.on('close', () => clearTimeout(t));
    }
  }

  /** Forwards to the upstream; with `cut`, resets the client's connection halfway through the response. */
  private forward(req: IncomingMessage, res: ServerResponse, cut: boolean): void {
    const headers = { ...req.headers };
    // The proxy streams the body at once; the upstream's "100 Continue" would only confuse the relay.
    delete headers.expect;
    const up = httpRequest(
      { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.upstreamAgent },
      (upRes) => {
        this.stats.forwarded++;
        if (!cut) {
          const stats = this.stats;
          res.on('finish', () => stats.completed.push(`${req.method} ${(req.url ?? '/').split('?')[0]} ${upRes.statusCode}`));
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          return;
        }
        const length = Number(upRes.headers['content-length'] ?? 0);
        if (!(length > 1)) {
          upRes.resume();
          upRes.on('end', () => req.socket.resetAndDestroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        let sent = 0;
        let done = false;
        upRes.on('data', (chunk: Buffer) => {
          if (done) return;
          const room = Math.floor(length / 2) - sent;
          if (room > 0) res.write(chunk.subarray(0, room));
          sent += Math.min(chunk.length, Math.max(room, 0));
          if (sent >= Math.floor(length / 2)) {
            done = true;
            upRes.destroy();
            // Give the half body a moment to leave before the reset, so the client sees a cut-off body.
            setTimeout(() => req.socket.resetAndDestroy(), 20);
          }
        });
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  }
}
