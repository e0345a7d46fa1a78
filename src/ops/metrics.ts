/**
 * Prometheus metrics about job runs, in the text exposition format (version 0.0.4), rendered by prom-client
 * for node_exporter's textfile collector and/or served on /metrics. The state is a small JSON file so
 * counters survive daemon restarts: each owb run is its own short process, so prom-client's in-memory
 * registry is rebuilt from that state for every render.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { parseListen } from '../config/ops-schema.js';
import { OwbError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { Redactor } from './redact.js';

/** Content type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const num = z.number().or(z.null()).optional();
const JobStateSchema = z.object({
  last_run: num,
  last_success: num,
  last_duration: num,
  last_exit_code: num,
  runs: z.number().int().min(0).default(0),
  failures: z.number().int().min(0).default(0),
  bytes_added: num,
  bytes_stored: num,
  downtime: num,
});
const RepoStateSchema = z.object({ snapshots: num, size_bytes: num });
const StateFileSchema = z.object({
  version: z.literal(1),
  jobs: z.record(z.string(), JobStateSchema).default({}),
  repositories: z.record(z.string(), RepoStateSchema).default({}),
});

/** What is kept per job (seconds and bytes; absent = never seen). */
export type JobState = z.infer<typeof JobStateSchema>;
/** What is kept per repository. */
export type RepoState = z.infer<typeof RepoStateSchema>;

/** One finished run, as metrics see it. */
export interface RunMetrics {
  job: string;
  ok: boolean;
  exitCode: number;
  durationS: number;
  /** When the run started; defaults to now. */
  time?: Date;
  bytesAdded?: number;
  bytesStored?: number;
  /** Container downtime of the last quiesce, in seconds. */
  downtimeS?: number;
}

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  label: 'job' | 'repository';
  value: (s: JobState & RepoState) => number | null | undefined;
}

const FAMILIES: Family[] = [
  { name: 'owb_last_success_timestamp_seconds', type: 'gauge', help: 'Unix time when the last successful run started.', label: 'job', value: (s) => s.last_success },
  { name: 'owb_last_run_timestamp_seconds', type: 'gauge', help: 'Unix time when the last run started.', label: 'job', value: (s) => s.last_run },
  { name: 'owb_last_duration_seconds', type: 'gauge', help: 'Duration of the last run.', label: 'job', value: (s) => s.last_duration },
  { name: 'owb_last_exit_code', type: 'gauge', help: 'Exit code of the last run (0 = ok).', label: 'job', value: (s) => s.last_exit_code },
  { name: 'owb_runs_total', type: 'counter', help: 'Runs finished.', label: 'job', value: (s) => s.runs },
  { name: 'owb_failures_total', type: 'counter', help: 'Runs that failed.', label: 'job', value: (s) => s.failures },
  { name: 'owb_backup_bytes_added', type: 'gauge', help: 'New bytes (before compression) added by the last backup.', label: 'job', value: (s) => s.bytes_added },
  { name: 'owb_backup_bytes_stored', type: 'gauge', help: 'Bytes actually stored (packed) by the last backup.', label: 'job', value: (s) => s.bytes_stored },
  { name: 'owb_downtime_seconds', type: 'gauge', help: 'Container downtime during the last quiesce.', label: 'job', value: (s) => s.downtime },
  { name: 'owb_snapshots', type: 'gauge', help: 'Snapshots in the repository.', label: 'repository', value: (s) => s.snapshots },
  { name: 'owb_repository_size_bytes', type: 'gauge', help: 'Total size of the repository.', label: 'repository', value: (s) => s.size_bytes },
];

/** Options of MetricsState. */
export interface MetricsStateOptions {
  /** JSON file the state is loaded from and saved to; none = in memory only. */
  path?: string;
  /** Scrubs label values (repository names might be URLs with credentials). */
  redactor?: Redactor;
}

/** Per-job and per-repository metrics; see recordRun, setRepository, render. */
export class MetricsState {
  readonly path: string | undefined;
  /** Why the state file could not be used (it was then ignored), for the caller to log. */
  loadProblem: string | undefined;
  private readonly redactor: Redactor | undefined;
  private jobs: Record<string, JobState> = {};
  private repositories: Record<string, RepoState> = {};

  constructor(opts: MetricsStateOptions = {}) {
    this.path = opts.path;
    this.redactor = opts.redactor;
  }

  /**
   * Loads the state from `opts.path`. A missing file is a fresh start; an unreadable or corrupt one is
   * ignored (counters restart, which Prometheus handles) and noted in loadProblem, never thrown.
   */
  static async load(opts: MetricsStateOptions = {}): Promise<MetricsState> {
    const state = new MetricsState(opts);
    if (!opts.path) return state;
    let text: string;
    try {
      text = await readFile(opts.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') state.loadProblem = `cannot read metrics state ${opts.path} (${code ?? 'error'})`;
      return state;
    }
    try {
      const parsed = StateFileSchema.parse(JSON.parse(text));
      state.jobs = parsed.jobs;
      state.repositories = parsed.repositories;
    } catch {
      state.loadProblem = `metrics state ${opts.path} is corrupt; starting afresh`;
    }
    return state;
  }

  /** Records a finished run: timestamps, duration, exit code, counters and (when given) sizes and downtime. */
  recordRun(r: RunMetrics): void {
    const j = (this.jobs[r.job] ??= { runs: 0, failures: 0 });
    const t = (r.time ?? new Date()).getTime() / 1000;
    j.last_run = t;
    j.last_duration = r.durationS;
    j.last_exit_code = r.exitCode;
    j.runs += 1;
    if (r.ok) j.last_success = t;
    else j.failures += 1;
    if (r.bytesAdded !== undefined) j.bytes_added = r.bytesAdded;
    if (r.bytesStored !== undefined) j.bytes_stored = r.bytesStored;
    if (r.downtimeS !== undefined) j.downtime = r.downtimeS;
  }

  /** Sets a repository's snapshot count and/or size. */
  setRepository(repository: string, values: { snapshots?: number; sizeBytes?: number }): void {
    const s = (this.repositories[repository] ??= {});
    if (values.snapshots !== undefined) s.snapshots = values.snapshots;
    if (values.sizeBytes !== undefined) s.size_bytes = values.sizeBytes;
  }

  /** The state of one job (a copy), or undefined. */
  job(name: string): JobState | undefined {
    const j = this.jobs[name];
    return j && { ...j };
  }

  /**
   * Renders every metric family (HELP and TYPE always, samples for what is known), series sorted by label.
   * Labels are redacted first: a repository name may be a URL with credentials.
   */
  async render(): Promise<string> {
    // Loaded here, not at the top: it costs about 0.1 s, and most commands never render metrics.
    const { Counter, Gauge, Registry } = await import('prom-client');
    const registry = new Registry();
    for (const f of FAMILIES) {
      const config = { name: f.name, help: f.help, labelNames: [f.label], registers: [registry] };
      const metric = f.type === 'counter' ? new Counter(config) : new Gauge(config);
      for (const [key, s] of this.series(f.label)) {
        const v = f.value(s);
        if (v === undefined || v === null) continue;
        const labels = { [f.label]: key };
        if (metric instanceof Counter) metric.inc(labels, v);
        else metric.set(labels, v);
      }
    }
    return registry.metrics();
  }

  /** The jobs or repositories with their redacted label values, sorted by them. */
  private series(label: Family['label']): Array<readonly [string, JobState & RepoState]> {
    const source: Record<string, JobState | RepoState> = label === 'job' ? this.jobs : this.repositories;
    return Object.entries(source)
      .map(([k, s]) => [this.redactor ? this.redactor.redact(k) : k, s as JobState & RepoState] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Saves the state to its path (atomically); a no-op without a path. */
  async save(): Promise<void> {
    if (!this.path) return;
    const data = { version: 1, jobs: this.jobs, repositories: this.repositories };
    await writeFileAtomic(this.path, `${JSON.stringify(data)}\n`, 0o600);
  }

  /**
   * Writes render() to `path` for node_exporter's textfile collector: temp file + rename, so the
   * collector never reads half a file. Mode 0644 because node_exporter usually runs as another user.
   */
  async writeTextfile(path: string): Promise<void> {
    if (!path.endsWith('.prom')) throw new UsageError(`metrics textfile ${path} must end in .prom`);
    await writeFileAtomic(path, await this.render(), 0o644);
  }
}

/** A running /metrics endpoint. */
export interface MetricsServer {
  server: Server;
  host: string;
  /** The bound port (useful with port 0). */
  port: number;
  /** e.g. http://127.0.0.1:9184/metrics */
  url: string;
  /** Stops listening and drops open keep-alive connections. */
  close(): Promise<void>;
}

/** The port could not be bound. */
export class MetricsListenError extends OwbError {
  constructor(listen: string, code: string) {
    super(`cannot serve metrics on ${listen}: ${code}`);
  }
}

/**
 * Serves `/metrics` on `listen` ("host:port", "[::1]:port"; port 0 picks one). GET and HEAD only;
 * every other path is 404. `source` is rendered per request.
 */
export async function serveMetrics(listen: string, source: MetricsState | (() => string | Promise<string>)): Promise<MetricsServer> {
  const addr = parseListen(listen);
  if (!addr) throw new UsageError(`metrics listen address "${listen}" must be host:port`);
  const render = typeof source === 'function' ? source : () => source.render();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    Promise.resolve()
      .then(render)
      .then(
        (body) => {
          res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        () => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('cannot render metrics\n');
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new MetricsListenError(listen, err.code ?? err.message));
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return {
    server,
    host: addr.host,
    port,
    url: `http://${hostPart}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
