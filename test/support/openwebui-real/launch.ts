/**
 * Launchers for the real Open WebUI in both deployment shapes: a plain process from the release's venv (a
 * pip install: `open-webui serve`) and a container of its image on the test engine (host network, a named
 * volume at /app/backend/data). Each waits for /health, fails with the log tail when start-up fails, and
 * the launcher stops and removes only what it created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { connectDocker, readContainerFile, type DockerClient } from '../../../src/docker/index.js';
import { freePort } from '../../docker/standin.js';
import type { FakeOpenAI } from '../fake-openai.js';
import { offlineEnv, type OfflineOptions } from './offline.js';
import type { RealRelease, RealService } from './service.js';

/** Where the official image (and ours) keeps the data volume and the secret key. */
export const IMAGE_DATA_DIR = '/app/backend/data';
export const IMAGE_SECRET_KEY_PATH = '/app/backend/.webui_secret_key';

/** Default time allowed for start-up; a first start runs every migration, on two shared cores. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 240_000;

/** A running (or stopped) Open WebUI, whichever shape. */
export interface LaunchedOpenWebui {
  readonly shape: 'process' | 'container';
  readonly version: string;
  readonly port: number;
  readonly baseUrl: string;
  /** Host path of the data directory. */
  readonly dataDir: string;
  /** The data directory as the application sees it (what `file.path` values start with). */
  readonly appDataDir: string;
  /** Where the application keeps its secret key: a host path (process) or a path inside the container. */
  readonly secretKeyPath: string;
  /** From launch to the first healthy answer, in ms. */
  readonly startupMs: number;
  /** The secret key file's content, or undefined when there is none. */
  readSecretKey(): Promise<string | undefined>;
  /** Resident memory of the application (process tree, or the container's cgroup rss). */
  memoryBytes(): Promise<number>;
  /** The last lines of its log. */
  logTail(lines?: number): Promise<string>;
  /** Stops it (SIGTERM, as `docker stop` does); resolves with how long that took. Data stays. */
  stop(): Promise<{ stopMs: number }>;
}

/** A pip-install instance: its own working directory (where the key file goes), data and log. */
export interface ProcessOpenWebui extends LaunchedOpenWebui {
  readonly shape: 'process';
  readonly pid: number;
  /** The working directory `open-webui serve` ran in. */
  readonly cwd: string;
  readonly logFile: string;
}

/** A container instance of the release's image. */
export interface ContainerOpenWebui extends LaunchedOpenWebui {
  readonly shape: 'container';
  readonly containerId: string;
  readonly containerName: string;
  readonly volume: string;
}

/** Options common to both shapes. */
export interface LaunchOptions extends OfflineOptions {
  /** Extra environment, applied over the offline settings. */
  env?: Record<string, string>;
  startupTimeoutMs?: number;
}

/** Starts instances and remembers them, so {@link OpenWebuiLauncher.disposeAll} removes exactly those. */
export class OpenWebuiLauncher {
  private readonly disposers: (() => Promise<void>)[] = [];
  private docker: DockerClient | undefined;

  constructor(
    private readonly service: RealService,
    private readonly fake: FakeOpenAI,
  ) {}

  /** The test engine's client (connected on first use). */
  async dockerClient(): Promise<DockerClient> {
    this.docker ??= await connectDocker({ host: this.service.dockerHost });
    return this.docker;
  }

  /**
   * `open-webui serve --host 127.0.0.1 --port P` from the release's venv, in a fresh temporary folder:
   * `run/` is the working directory, `data/` is DATA_DIR, `static/` is STATIC_DIR (start-up rewrites the
   * static folder, which would otherwise be inside the shared cached venv).
   */
  async process(version: string, opts: LaunchOptions = {}): Promise<ProcessOpenWebui> {
    const rel = this.service.release(version);
    const root = await mkdtemp(join(tmpdir(), 'owb-owui-'));
    this.disposers.push(() => rm(root, { recursive: true, force: true }));
    const cwd = join(root, 'run');
    const dataDir = join(root, 'data');
    for (const d of [cwd, dataDir, join(root, 'static'), join(root, 'home')]) await mkdir(d, { recursive: true });
    const logFile = join(root, 'openwebui.log');
    const port = await freePort();
    const log = await open(logFile, 'a');
    const started = performance.now();
    const child = spawn(join(rel.venv, 'bin', 'open-webui'), ['serve', '--host', '127.0.0.1', '--port', String(port)], {
      cwd,
      env: {
        PATH: `${join(rel.venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: join(root, 'home'),
        LANG: 'C.UTF-8',
        ...offlineEnv(this.fake, opts),
        DATA_DIR: dataDir,
        STATIC_DIR: join(root, 'static'),
        ...opts.env,
      },
      stdio: ['ignore', log.fd, log.fd],
      // Its own process group, so stop() reaches uvicorn and anything it started, and nothing else.
      detached: true,
    });
    await log.close();
    const exited = exitPromise(child);
    let exitedWith: string | undefined;
    void exited.then((code) => (exitedWith = String(code)));
    this.disposers.push(() => stopChild(child, exited).then(() => undefined));
    const tail = (n = 40): Promise<string> => tailFile(logFile, n);
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS, `Open WebUI ${version} (process ${child.pid})`, async () => (exitedWith === undefined ? undefined : `exited (${exitedWith})`), tail);
    const startupMs = performance.now() - started;
    const secretKeyPath = join(cwd, '.webui_secret_key');
    return {
      shape: 'process',
      version,
      port,
      baseUrl,
      dataDir,
      appDataDir: dataDir,
      secretKeyPath,
      startupMs,
      pid: child.pid!,
      cwd,
      logFile,
      readSecretKey: () => readFile(secretKeyPath, 'utf8').catch(() => undefined),
      memoryBytes: () => treeRss(child.pid!),
      logTail: tail,
      stop: () => stopChild(child, exited),
    };
  }

  /**
   * A container of the release's image with a fresh named volume at /app/backend/data, host networking and
   * its own PORT; the image's start.sh writes the key into the container layer, as upstream's does.
   */
  async container(version: string, opts: LaunchOptions & { volume?: string } = {}): Promise<ContainerOpenWebui> {
    const rel: RealRelease = this.service.release(version);
    const docker = await this.dockerClient();
    const api = docker.api;
    const tag = randomBytes(4).toString('hex');
    const name = `owbtest-owui-${tag}`;
    const volume = opts.volume ?? `owbtest-owui-vol-${tag}`;
    if (opts.volume === undefined) {
      await api.createVolume({ Name: volume, Labels: { 'owb.test': '1' } });
      this.disposers.push(() => api.getVolume(volume).remove().then(() => undefined, () => undefined));
    }
    const port = await freePort();
    const env = { ...offlineEnv(this.fake, opts), PORT: String(port), ...opts.env };
    const started = performance.now();
    const c = await api.createContainer({
      name,
      Image: rel.imageId,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { 'owb.test': '1' },
      HostConfig: { NetworkMode: 'host', Binds: [`${volume}:${IMAGE_DATA_DIR}`] },
    });
    // Removed before the volume it uses (disposers run last-in first-out).
    this.disposers.push(() => c.remove({ force: true, v: true }).then(() => undefined, () => undefined));
    await c.start();
    const tail = async (n = 40): Promise<string> => demuxLogs((await c.logs({ stdout: true, stderr: true, tail: n, follow: false })) as unknown as Buffer);
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS, `Open WebUI ${version} (container ${name})`, async () => {
      const s = ((await c.inspect()) as { State: { Running: boolean; ExitCode: number } }).State;
      return s.Running ? undefined : `exited (${s.ExitCode})`;
    }, tail);
    const startupMs = performance.now() - started;
    const dataDir = ((await api.getVolume(volume).inspect()) as { Mountpoint: string }).Mountpoint;
    return {
      shape: 'container',
      version,
      port,
      baseUrl,
      dataDir,
      appDataDir: IMAGE_DATA_DIR,
      secretKeyPath: IMAGE_SECRET_KEY_PATH,
      startupMs,
      containerId: c.id,
      containerName: name,
      volume,
      readSecretKey: async () => (await readContainerFile(docker, c.id, IMAGE_SECRET_KEY_PATH))?.toString('utf8'),
      memoryBytes: async () => {
        const s = (await c.stats({ stream: false })) as { memory_stats?: { usage?: number; stats?: { rss?: number } } };
        // cgroup v1: rss leaves out the page cache that `usage` counts.
        return s.memory_stats?.stats?.rss ?? s.memory_stats?.usage ?? 0;
      },
      logTail: tail,
      stop: async () => {
        const t = performance.now();
        await c.stop({ t: 30 }).catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 304) throw err; // 304: already stopped
        });
        return { stopMs: performance.now() - t };
      },
    };
  }

  /** Stops and removes everything this launcher started, newest first, ignoring what is already gone. */
  async disposeAll(): Promise<void> {
    for (const d of this.disposers.splice(0).reverse()) await d().catch(() => undefined);
  }
}

/**
 * Polls `${baseUrl}/health` until it answers `{"status": true}`. `dead` says why the server can no longer
 * come up (it exited); the error then carries the log tail.
 */
async function waitHealthy(
  baseUrl: string,
  timeoutMs: number,
  what: string,
  dead: () => Promise<string | undefined>,
  tail: (n?: number) => Promise<string>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
      const body = await res.text();
      if (res.ok && /"status"\s*:\s*true/.test(body)) return;
      last = `HTTP ${res.status} ${body.slice(0, 200)}`;
    } catch (err) {
      last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    }
    const gone = await dead();
    if (gone !== undefined) throw new Error(`${what} ${gone} before /health answered\n--- log tail ---\n${await tail(60)}`);
    if (performance.now() > deadline) {
      throw new Error(`${what}: /health did not answer within ${timeoutMs} ms (last: ${last})\n--- log tail ---\n${await tail(60)}`);
    }
    await sleep(500);
  }
}

function exitPromise(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

/** SIGTERM to the child's own process group, SIGKILL after 30 s; resolves with the time it took. */
async function stopChild(child: ChildProcess, exited: Promise<number | string>): Promise<{ stopMs: number }> {
  const t = performance.now();
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const group = -child.pid;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      // already gone
    }
    const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
    if (!done) {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  }
  return { stopMs: performance.now() - t };
}

/** Sum of VmRSS over a process and all its descendants, from /proc. */
async function treeRss(pid: number): Promise<number> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
    // The command name may hold spaces and parentheses: the ppid is the second field after the last ')'.
    const ppid = stat === undefined ? NaN : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb !== undefined) total += Number(kb) * 1024;
    todo.push(...(parents.get(p) ?? []));
  }
  return total;
}

async function tailFile(path: string, lines: number): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/** Docker's log stream without a TTY: 8-byte frame headers (stream, 0, 0, 0, size) before each chunk. */
function demuxLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
