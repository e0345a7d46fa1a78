/**
 * Quiesce markers: one small JSON file per quiesced container, written before the container is stopped or
 * paused and removed after it runs again. A marker whose owner process is gone means a run was killed
 * inside its backup window; `resumeLeftovers` undoes that.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What owb did to a container and must undo. */
export type QuiesceAction = 'stopped' | 'paused';

/** Contents of a marker file. */
export interface QuiesceMarker {
  readonly version: 1;
  readonly containerId: string;
  readonly containerName: string;
  readonly action: QuiesceAction;
  /** Owner process. */
  readonly pid: number;
  /** The owner's start time in clock ticks since boot (Linux), so a reused pid is not mistaken for the owner. */
  readonly procStart?: number;
  readonly hostname: string;
  /** ISO time the window opened. */
  readonly startedAt: string;
}

const PREFIX = 'quiesce-';

/** Path of the marker for one container. */
export function markerPath(stateDir: string, containerId: string): string {
  return join(stateDir, `${PREFIX}${containerId}.json`);
}

/** Builds the marker for this process. */
export function newMarker(containerId: string, containerName: string, action: QuiesceAction): QuiesceMarker {
  const procStart = procStartOf(process.pid);
  return {
    version: 1,
    containerId,
    containerName,
    action,
    pid: process.pid,
    ...(procStart !== undefined ? { procStart } : {}),
    hostname: hostname(),
    startedAt: new Date().toISOString(),
  };
}

/** Writes a marker durably (temp file, fsync, rename): it must survive the process being killed right after. */
export function writeMarker(stateDir: string, marker: QuiesceMarker): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = markerPath(stateDir, marker.containerId);
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(marker)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(stateDir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Directory fsync is best effort (not every filesystem allows it).
  }
}

/** Removes a marker; a missing one is fine (another process may have cleaned it up). */
export function removeMarker(stateDir: string, containerId: string): void {
  rmSync(markerPath(stateDir, containerId), { force: true });
}

/** Reads one marker, or undefined when absent or unreadable. */
export function readMarker(path: string): QuiesceMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Partial<QuiesceMarker>;
    if (m.version !== 1 || typeof m.containerId !== 'string' || typeof m.pid !== 'number') return undefined;
    if (m.action !== 'stopped' && m.action !== 'paused') return undefined;
    return m as QuiesceMarker;
  } catch {
    return undefined;
  }
}

/** All marker files in a state directory (an absent directory has none). */
export function listMarkers(stateDir: string): { path: string; marker: QuiesceMarker | undefined }[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(PREFIX) && n.endsWith('.json'))
    .map((n) => ({ path: join(stateDir, n), marker: readMarker(join(stateDir, n)) }));
}

/** True when the marker's owner process still runs (same pid and, where known, same start time and host). */
export function ownerAlive(m: QuiesceMarker): boolean {
  if (m.hostname !== hostname()) return false;
  try {
    process.kill(m.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (m.procStart === undefined) return true;
  const now = procStartOf(m.pid);
  return now === undefined || now === m.procStart;
}

/** A process's start time in clock ticks since boot, from /proc (Linux only). */
function procStartOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
