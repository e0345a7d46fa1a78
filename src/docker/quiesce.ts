/**
 * The backup window: stop or pause a container, let the caller copy, and always bring it back — on success,
 * on errors, on SIGINT/SIGTERM/SIGHUP, at process exit, and (through markers) on the next run after a kill.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { InterruptedError } from '../errors.js';
import type { DockerClient, DockerEndpoint } from './client.js';
import { DockerApiError, ResumeFailedError, statusOf } from './errors.js';
import { findContainer, type ContainerInfo } from './inspect.js';
import {
  listMarkers,
  markerPath,
  newMarker,
  ownerAlive,
  readMarker,
  removeMarker,
  writeMarker,
  type QuiesceAction,
} from './markers.js';

/** How to quiesce: `stop` (the default for backups), `pause` (cgroup freezer), or `none` (live copy). */
export type QuiesceMode = 'stop' | 'pause' | 'none';

/**
 * Default grace period for `stop`, in seconds. Open WebUI's image runs Python as PID 1, which takes 4-12 s
 * to exit after SIGTERM; `docker stop`'s 10 s would SIGKILL it mid-shutdown, inside the quiesce window.
 */
export const DEFAULT_STOP_TIMEOUT_S = 30;

/** Options for {@link quiesce}. */
export interface QuiesceOptions {
  /** Directory for the always-resume markers; the caller decides (see defaultStateDir). */
  stateDir: string;
  /** Grace period before the engine kills a stopping container, in seconds. */
  timeoutS?: number;
}

/** Result of resuming. */
export interface ResumeResult {
  /** Time from the stop/pause call to the start/unpause answer, in ms (monotonic clock); 0 when nothing was done. */
  readonly downtimeMs: number;
}

/** An open backup window. */
export interface QuiesceHandle {
  readonly containerId: string;
  readonly containerName: string;
  readonly mode: QuiesceMode;
  /** What was actually done: a container that was not running is left alone (`none`). */
  readonly action: QuiesceAction | 'none';
  /** True when a dead run had left the container quiesced and this window took it over. */
  readonly adopted: boolean;
  /** Aborted when the process receives SIGINT/SIGTERM/SIGHUP inside {@link withQuiesced}. */
  readonly signal: AbortSignal;
  /** Restarts or unpauses the container; runs once, later calls return the same promise. */
  resume(): Promise<ResumeResult>;
  /** Downtime once resumed, else undefined. */
  readonly downtimeMs: number | undefined;
}

/**
 * Opens the window: writes the marker, then stops or pauses the container if it is running. A container that
 * is not running, or mode `none`, gives a handle whose resume does nothing. If a dead run left this container
 * stopped or paused, the window takes that over (`adopted`); with mode `none` the leftover is undone instead.
 */
export async function quiesce(
  client: DockerClient,
  container: string | ContainerInfo,
  mode: QuiesceMode,
  opts: QuiesceOptions,
): Promise<QuiesceHandle> {
  const ref = typeof container === 'string' ? container : container.id;
  let info = await findContainer(client, ref);
  const controller = new AbortController();
  let adopted = false;
  let action: QuiesceAction | undefined;
  const stale = readMarker(markerPath(opts.stateDir, info.id));
  if (stale !== undefined) {
    if (ownerAlive(stale)) {
      throw new DockerApiError(`quiescing ${info.name}`, new Error(`process ${stale.pid} holds it in a backup window`));
    }
    const stillQuiesced =
      (stale.action === 'stopped' && info.state === 'exited') || (stale.action === 'paused' && info.state === 'paused');
    if (mode !== 'none' && stillQuiesced) {
      // A dead run left it quiesced: take the window over instead of a pointless start-then-stop.
      adopted = true;
      action = stale.action;
    } else {
      await resumeOne(client, opts.stateDir, stale);
      info = await findContainer(client, info.id);
    }
  }
  if (!adopted) {
    action = mode === 'none' || info.state !== 'running' ? undefined : mode === 'stop' ? 'stopped' : 'paused';
  }
  if (action === undefined) return noopHandle(info, mode, controller);

  writeMarker(opts.stateDir, newMarker(info.id, info.name, action));
  const t0 = performance.now();
  if (!adopted) {
    const c = client.api.getContainer(info.id);
    try {
      if (action === 'stopped') await c.stop({ t: opts.timeoutS ?? DEFAULT_STOP_TIMEOUT_S });
      else await c.pause();
    } catch (err) {
      if (action === 'stopped' && statusOf(err) === 304) {
        // It stopped by itself between inspect and stop: not ours to start again.
        removeMarker(opts.stateDir, info.id);
        return noopHandle(info, mode, controller);
      }
      await undoFailedQuiesce(client, info.id, action);
      removeMarker(opts.stateDir, info.id);
      throw new DockerApiError(`${action === 'stopped' ? 'stopping' : 'pausing'} container ${info.name}`, err);
    }
  }
  const act: QuiesceAction = action;

  // If the process exits by any path before resume (process.exit, an uncaught error), undo synchronously.
  const onExit = (): void => resumeAtExit(client.endpoint, opts.stateDir, info.id, act);
  process.on('exit', onExit);

  let downtimeMs: number | undefined;
  let resumed: Promise<ResumeResult> | undefined;
  const doResume = async (): Promise<ResumeResult> => {
    try {
      if (act === 'stopped') await startTolerant(client, info.id);
      else await unpauseTolerant(client, info.id);
    } catch (err) {
      process.removeListener('exit', onExit);
      throw new ResumeFailedError(info.name, act === 'stopped' ? 'start' : 'unpause', err);
    }
    downtimeMs = performance.now() - t0;
    process.removeListener('exit', onExit);
    removeMarker(opts.stateDir, info.id);
    return { downtimeMs };
  };
  const handle: QuiesceHandle = {
    containerId: info.id,
    containerName: info.name,
    mode,
    action: act,
    adopted,
    signal: controller.signal,
    resume: () => (resumed ??= doResume()),
    get downtimeMs() {
      return downtimeMs;
    },
  };
  aborters.set(handle, controller);
  return handle;
}

/** What {@link withQuiesced} returns. */
export interface QuiescedResult<T> {
  readonly value: T;
  readonly downtimeMs: number;
  readonly action: QuiesceAction | 'none';
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Each open handle's abort controller, so withQuiesced can abort `handle.signal` without exposing it. */
const aborters = new WeakMap<QuiesceHandle, AbortController>();

/**
 * Runs `fn` inside a backup window and resumes the container in `finally`. `fn` may call `handle.resume()`
 * itself as soon as its copy is staged (the usual case); the final resume is then a no-op. On
 * SIGINT/SIGTERM/SIGHUP the container is resumed at once and `handle.signal` aborts; if no other handler
 * listens for that signal, it is raised again after the resume so the process ends as it would have.
 * A second signal before the resume finishes ends the process at once (the marker stays for the next run).
 */
export async function withQuiesced<T>(
  client: DockerClient,
  container: string | ContainerInfo,
  mode: QuiesceMode,
  opts: QuiesceOptions,
  fn: (handle: QuiesceHandle) => Promise<T>,
): Promise<QuiescedResult<T>> {
  const handle = await quiesce(client, container, mode, opts);
  let caught = false;
  const listeners = new Map<NodeJS.Signals, () => void>();
  const detach = (): void => {
    for (const [sig, l] of listeners) process.removeListener(sig, l);
    listeners.clear();
  };
  for (const sig of SIGNALS) {
    const listener = (): void => {
      if (caught) {
        // A second signal while resuming: the user insists. Go now; the marker is left for resumeLeftovers.
        detach();
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        return;
      }
      caught = true;
      aborters.get(handle)?.abort(new InterruptedError(sig));
      void handle
        .resume()
        .catch(() => undefined) // the marker stays; the next run's resumeLeftovers retries
        .finally(() => {
          detach();
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
    };
    listeners.set(sig, listener);
    process.on(sig, listener);
  }
  let value: T;
  try {
    value = await fn(handle);
  } finally {
    // A failed resume outranks fn's own error: the container is down and the user must know.
    try {
      await handle.resume();
    } finally {
      if (!caught) detach();
    }
  }
  return { value, downtimeMs: handle.downtimeMs ?? 0, action: handle.action };
}

/** One marker's fate in {@link resumeLeftovers}. */
export interface LeftoverOutcome {
  readonly containerId: string;
  readonly containerName: string;
  readonly action: QuiesceAction;
  readonly ownerPid: number;
  /**
   * `resumed`: started or unpaused; `not-quiesced`: already running or changed by someone else, left alone;
   * `container-gone`: removed meanwhile; `owner-alive`: another run is inside its window; `failed`: marker kept.
   */
  readonly outcome: 'resumed' | 'not-quiesced' | 'container-gone' | 'owner-alive' | 'failed';
  /** One-line reason for `failed`. */
  readonly error?: string;
}

/**
 * Finds markers left by runs that died inside their backup window and brings those containers back.
 * Call it at the start of every command. Markers of live runs, and unreadable ones, are left alone.
 */
export async function resumeLeftovers(client: DockerClient, stateDir: string): Promise<LeftoverOutcome[]> {
  const out: LeftoverOutcome[] = [];
  for (const { marker } of listMarkers(stateDir)) {
    // Unreadable (say, a newer owb's format): left for whoever wrote it.
    if (marker === undefined) continue;
    const base = {
      containerId: marker.containerId,
      containerName: marker.containerName,
      action: marker.action,
      ownerPid: marker.pid,
    };
    if (ownerAlive(marker)) {
      out.push({ ...base, outcome: 'owner-alive' });
      continue;
    }
    try {
      out.push({ ...base, outcome: await resumeOne(client, stateDir, marker) });
    } catch (err) {
      out.push({ ...base, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

/** Undoes one dead run's action, removing the marker unless that fails. */
async function resumeOne(
  client: DockerClient,
  stateDir: string,
  m: { containerId: string; action: QuiesceAction },
): Promise<'resumed' | 'not-quiesced' | 'container-gone'> {
  let state: string;
  try {
    state = (await findContainer(client, m.containerId)).state;
  } catch (err) {
    if ((err as Error).name === 'ContainerNotFoundError') {
      removeMarker(stateDir, m.containerId);
      return 'container-gone';
    }
    throw err;
  }
  let outcome: 'resumed' | 'not-quiesced' = 'not-quiesced';
  if (m.action === 'stopped' && (state === 'exited' || state === 'created')) {
    await startTolerant(client, m.containerId);
    outcome = 'resumed';
  } else if (m.action === 'paused' && state === 'paused') {
    await unpauseTolerant(client, m.containerId);
    outcome = 'resumed';
  }
  removeMarker(stateDir, m.containerId);
  return outcome;
}

async function startTolerant(client: DockerClient, id: string): Promise<void> {
  try {
    await client.api.getContainer(id).start();
  } catch (err) {
    if (statusOf(err) !== 304) throw err; // 304: already running
  }
}

async function unpauseTolerant(client: DockerClient, id: string): Promise<void> {
  try {
    await client.api.getContainer(id).unpause();
  } catch (err) {
    // 409 "not paused" is fine if it is running again by now.
    if (statusOf(err) !== 409 || (await findContainer(client, id)).state !== 'running') throw err;
  }
}

/** After a failed stop/pause, put the container back as it was, as far as the engine lets us. */
async function undoFailedQuiesce(client: DockerClient, id: string, action: QuiesceAction): Promise<void> {
  try {
    const state = (await findContainer(client, id)).state;
    if (action === 'stopped' && state === 'exited') await startTolerant(client, id);
    if (action === 'paused' && state === 'paused') await unpauseTolerant(client, id);
  } catch {
    // The original error is the one to report.
  }
}

function noopHandle(info: ContainerInfo, mode: QuiesceMode, controller: AbortController): QuiesceHandle {
  const done = Promise.resolve({ downtimeMs: 0 });
  const handle: QuiesceHandle = {
    containerId: info.id,
    containerName: info.name,
    mode,
    action: 'none',
    adopted: false,
    signal: controller.signal,
    resume: () => done,
    downtimeMs: 0,
  };
  aborters.set(handle, controller);
  return handle;
}

/**
 * Exit-time fallback: the event loop is gone, so a child node process makes the one HTTP call
 * (start or unpause) synchronously. Plain-HTTP endpoints only; for TLS the marker stays for the next run.
 */
function resumeAtExit(endpoint: DockerEndpoint, stateDir: string, id: string, action: QuiesceAction): void {
  if (endpoint.kind === 'tcp' && endpoint.protocol === 'https') return;
  const target =
    endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
  const req = { ...target, method: 'POST', path: `/containers/${id}/${action === 'stopped' ? 'start' : 'unpause'}` };
  const script =
    "const r=require('http').request(JSON.parse(process.argv[1]),(s)=>{s.resume();" +
    's.on(\'end\',()=>process.exit(s.statusCode<300||s.statusCode===304?0:1))});' +
    "r.on('error',()=>process.exit(1));r.setTimeout(15000,()=>process.exit(1));r.end();";
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(req)], { stdio: 'ignore', timeout: 20_000 });
  if (r.status === 0) removeMarker(stateDir, id);
}
