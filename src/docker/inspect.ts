/**
 * What owb needs to know about a container: its state, image, env, mounts and ports, and where its
 * Open WebUI data directory lives on the host.
 */
import { posix } from 'node:path';
import type { DockerClient } from './client.js';
import { ContainerNotFoundError, DockerApiError, statusOf } from './errors.js';

/** A container's run state, as the engine reports it. */
export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** One mount of a container. */
export interface ContainerMount {
  /** `volume`, `bind`, `tmpfs`, … */
  readonly type: string;
  /** Volume name, for named volumes. */
  readonly name?: string;
  /** Host path (for volumes, the volume's mountpoint); empty for tmpfs. */
  readonly source: string;
  /** Path inside the container. */
  readonly destination: string;
  /** Whether the container may write to it. */
  readonly rw: boolean;
}

/** A published port: container port → host address. */
export interface PortBinding {
  readonly containerPort: number;
  readonly hostIp: string;
  readonly hostPort: number;
}

/** The facts owb uses about one container. */
export interface ContainerInfo {
  /** Full container id. */
  readonly id: string;
  /** Name without the leading slash. */
  readonly name: string;
  readonly state: ContainerState;
  /** Image id (sha256:…) the container runs. */
  readonly imageId: string;
  /** Image reference the container was created from, as given (e.g. ghcr.io/open-webui/open-webui:main). */
  readonly image: string;
  /** Environment as a map (the image's env merged with the container's, as the engine reports it). */
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly ContainerMount[];
  readonly labels: Readonly<Record<string, string>>;
  /** `host`, `bridge`, `none`, a network name, or `container:<id>`. */
  readonly networkMode: string;
  readonly ports: readonly PortBinding[];
  /** The container's address on its first network, if it has one. */
  readonly ipAddress?: string;
}

/** Where Open WebUI keeps its data inside the container unless DATA_DIR says otherwise. */
export const OPENWEBUI_DATA_DIR = '/app/backend/data';

/** Finds a container by name or id (a unique id prefix works too). Throws {@link ContainerNotFoundError}. */
export async function findContainer(client: DockerClient, ref: string): Promise<ContainerInfo> {
  let raw: RawInspect;
  try {
    raw = (await client.api.getContainer(ref).inspect()) as unknown as RawInspect;
  } catch (err) {
    if (statusOf(err) === 404) throw new ContainerNotFoundError(ref);
    throw new DockerApiError(`inspecting container ${ref}`, err);
  }
  return toInfo(raw);
}

/** The data directory a container uses inside itself: env DATA_DIR, else /app/backend/data. */
export function containerDataDir(info: ContainerInfo): string {
  const d = info.env.DATA_DIR;
  return d !== undefined && d.trim() !== '' ? posix.normalize(d.trim()).replace(/(.)\/$/, '$1') : OPENWEBUI_DATA_DIR;
}

/** Where a container's data directory is on the host. */
export interface HostDataDir {
  /** Host path of the data directory. */
  readonly hostPath: string;
  /** The same directory inside the container. */
  readonly containerPath: string;
  /** The mount that holds it. */
  readonly mount: ContainerMount;
}

/**
 * The host path of the container's data directory: the source of the mount whose destination is that
 * directory or, failing that, the deepest mount that contains it (DATA_DIR may sit below a mount).
 * Named volumes resolve to their mountpoint. Undefined when the data lives in the container's own layer
 * (no mount), where the host cannot read it directly.
 */
export function dataDirOf(info: ContainerInfo): HostDataDir | undefined {
  const containerPath = containerDataDir(info);
  let best: ContainerMount | undefined;
  for (const m of info.mounts) {
    if (m.source === '' || m.type === 'tmpfs') continue;
    const dest = m.destination.replace(/(.)\/$/, '$1');
    const inside = containerPath === dest || containerPath.startsWith(dest === '/' ? '/' : `${dest}/`);
    if (inside && (best === undefined || dest.length > best.destination.length)) best = { ...m, destination: dest };
  }
  if (best === undefined) return undefined;
  const rest = posix.relative(best.destination, containerPath);
  return { hostPath: rest === '' ? best.source : posix.join(best.source, rest), containerPath, mount: best };
}

/** The engine's inspect document, reduced to the fields read here. */
interface RawInspect {
  Id: string;
  Name?: string;
  Image: string;
  State?: { Status?: string; Running?: boolean; Paused?: boolean };
  Config?: { Env?: string[] | null; Image?: string; Labels?: Record<string, string> | null };
  Mounts?: { Type?: string; Name?: string; Source?: string; Destination: string; RW?: boolean }[] | null;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: {
    Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
    IPAddress?: string;
    Networks?: Record<string, { IPAddress?: string }> | null;
  };
}

const STATES: readonly ContainerState[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

function toInfo(raw: RawInspect): ContainerInfo {
  const status = raw.State?.Status ?? '';
  const state: ContainerState = (STATES as readonly string[]).includes(status)
    ? (status as ContainerState)
    : raw.State?.Paused
      ? 'paused'
      : raw.State?.Running
        ? 'running'
        : 'exited';
  const env: Record<string, string> = {};
  for (const kv of raw.Config?.Env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    else if (i < 0) env[kv] = '';
  }
  const mounts: ContainerMount[] = (raw.Mounts ?? []).map((m) => ({
    type: m.Type ?? 'bind',
    ...(m.Name ? { name: m.Name } : {}),
    source: m.Source ?? '',
    destination: m.Destination,
    rw: m.RW ?? true,
  }));
  const ports: PortBinding[] = [];
  for (const [key, bindings] of Object.entries(raw.NetworkSettings?.Ports ?? {})) {
    const containerPort = Number.parseInt(key, 10);
    for (const b of bindings ?? []) {
      if (b.HostPort) ports.push({ containerPort, hostIp: b.HostIp ?? '', hostPort: Number(b.HostPort) });
    }
  }
  const ip =
    raw.NetworkSettings?.IPAddress ||
    Object.values(raw.NetworkSettings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress ||
    undefined;
  return {
    id: raw.Id,
    name: (raw.Name ?? '').replace(/^\//, ''),
    state,
    imageId: raw.Image,
    image: raw.Config?.Image ?? '',
    env,
    mounts,
    labels: { ...(raw.Config?.Labels ?? {}) },
    networkMode: raw.HostConfig?.NetworkMode ?? '',
    ports,
    ...(ip ? { ipAddress: ip } : {}),
  };
}
