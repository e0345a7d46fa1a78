/**
 * Shared helpers for the Open WebUI integration tests: a private repository and state folder per test, the
 * real CLI pointed at the test Docker engine, stand-in containers and volumes that are always removed, and
 * readers for what a restore produced (SQLite facts, the secret key inside a container).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { findContainer, readContainerFile, writeContainerFile, type ContainerState } from '../../src/docker/index.js';
import { freePort, runStandin, stats, waitFor, type RunOptions, type Standin, type StandinContainer } from '../docker/standin.js';
import { makeTemp, runCli, runOk, startCli, writePassword, type CliOptions, type CliResult } from './cli.js';

export { freePort, stats, waitFor };

/** Where Open WebUI keeps its secret key inside the image. */
export const SECRET_KEY_PATH = '/app/backend/.webui_secret_key';

/** One test's private world: repository, password, state folder (always-resume markers) and config. */
export interface OwbWorld {
  readonly standin: Standin;
  readonly dir: string;
  readonly repo: string;
  readonly passwordFile: string;
  /** The folder owb keeps its markers and staging copies in for this world. */
  readonly stateDir: string;
  /** The base CLI options; pass extra env through {@link OwbWorld.opts}. */
  opts(env?: Record<string, string | undefined>): CliOptions;
  run(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  ok(args: string[], env?: Record<string, string | undefined>, code?: number): Promise<CliResult>;
}

/**
 * Makes a fresh world and `owb init`s its repository. The state folder is given twice: as XDG_STATE_HOME
 * (what users set) and as `state_dir` in an OWB_CONFIG file, because as root owb's default state folder is
 * /var/lib/owb whatever XDG_STATE_HOME says, and markers there would be shared with every other test run.
 */
export async function owbWorld(s: Standin, opts: { stateFromXdgOnly?: boolean } = {}): Promise<OwbWorld> {
  const dir = await makeTemp('owb-owui-');
  const repo = join(dir, 'repo');
  const passwordFile = await writePassword(dir, `pw-${randomBytes(6).toString('hex')}`);
  const xdg = join(dir, 'xdg-state');
  const stateDir = join(xdg, 'owb');
  await mkdir(xdg, { recursive: true });
  let configFile: string | undefined;
  if (!opts.stateFromXdgOnly) {
    configFile = join(dir, 'owb.yaml');
    await writeFile(configFile, `state_dir: ${JSON.stringify(stateDir)}\n`);
  }
  const base = (env: Record<string, string | undefined> = {}): CliOptions => ({
    repo,
    passwordFile,
    env: { DOCKER_HOST: s.env.DOCKER_HOST, XDG_STATE_HOME: xdg, OWB_CONFIG: configFile, ...env },
    timeoutMs: 180_000,
  });
  const world: OwbWorld = {
    standin: s,
    dir,
    repo,
    passwordFile,
    stateDir,
    opts: base,
    run: (args, env) => runCli(args, base(env)),
    ok: (args, env, code) => runOk(args, base(env), code),
  };
  await world.ok(['init']);
  return world;
}

/** Starts `owb <args>` in a world without waiting (for signal tests). */
export function startIn(world: OwbWorld, args: string[], env?: Record<string, string | undefined>): ReturnType<typeof startCli> {
  return startCli(args, world.opts(env));
}

/** Containers and volumes a test file made, removed in afterAll whatever happened. */
export class Fixtures {
  private readonly containers: StandinContainer[] = [];
  private readonly extraContainers: string[] = [];
  private readonly volumes: string[] = [];

  constructor(private readonly s: Standin) {}

  /** A started stand-in with a fresh named volume (see runStandin). */
  async standin(opts: RunOptions = {}): Promise<StandinContainer> {
    const c = await runStandin(this.s, opts);
    this.containers.push(c);
    return c;
  }

  /**
   * A stand-in container on a fresh empty named volume mounted at `dataPath` (default /app/backend/data;
   * give DATA_DIR in `env` to move Open WebUI's data folder there too). Created only, as right after
   * `docker create` on a new machine, unless `start` is set.
   */
  async created(
    opts: { image?: string; env?: Record<string, string>; dataPath?: string; start?: boolean } = {},
  ): Promise<{ id: string; name: string; port: number; volume: string }> {
    const tag = randomBytes(4).toString('hex');
    const name = `owbtest-new-${tag}`;
    const volume = `owbtest-vol-new-${tag}`;
    const port = await freePort();
    await this.s.client.api.createVolume({ Name: volume });
    this.volumes.push(volume);
    const c = await this.s.client.api.createContainer({
      name,
      Image: opts.image ?? this.s.env.STANDIN_IMAGE_LATEST!,
      Env: Object.entries({ PORT: String(port), ...opts.env }).map(([k, v]) => `${k}=${v}`),
      Labels: { 'owb.test': '1' },
      HostConfig: { NetworkMode: 'host', Binds: [`${volume}:${opts.dataPath ?? '/app/backend/data'}`] },
    });
    this.extraContainers.push(c.id);
    if (opts.start) {
      await c.start();
      await waitFor(async () => (await stats(port)) !== undefined, 15_000, `stand-in ${name} answering on ${port}`);
    }
    return { id: c.id, name, port, volume };
  }

  /** Removes everything, ignoring what is already gone. */
  async removeAll(): Promise<void> {
    for (const c of this.containers.splice(0)) await c.remove();
    for (const id of this.extraContainers.splice(0)) {
      await this.s.client.api.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
    }
    for (const v of this.volumes.splice(0)) await this.s.client.api.getVolume(v).remove().catch(() => undefined);
  }
}

/** Everything the stand-in's /standin/stats reports, or undefined when it does not answer. */
export async function standinStats(port: number): Promise<{ chats: number; files: number; revision: string; head: string } | undefined> {
  return (await stats(port)) as { chats: number; files: number; revision: string; head: string } | undefined;
}

/** Host path of a named volume (where the engine keeps its files). */
export async function volumeDir(s: Standin, volume: string): Promise<string> {
  return ((await s.client.api.getVolume(volume).inspect()) as { Mountpoint: string }).Mountpoint;
}

/** A container's run state. */
export async function stateOf(s: Standin, id: string): Promise<ContainerState> {
  return (await findContainer(s.client, id)).state;
}

/** When the container last started, as the engine records it (changes on every start). */
export async function startedAt(s: Standin, id: string): Promise<string> {
  const raw = (await s.client.api.getContainer(id).inspect()) as { State: { StartedAt: string } };
  return raw.State.StartedAt;
}

/** Waits until the container is in `state`. */
export async function waitState(s: Standin, id: string, state: ContainerState, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await stateOf(s, id)) === state, timeoutMs, `container ${id.slice(0, 12)} ${state}`);
}

/** Waits until the stand-in's committed chat count is above `than` (it writes every ~20 ms while running). */
export async function chatsAbove(port: number, than: number, timeoutMs = 15_000): Promise<number> {
  let last = -1;
  await waitFor(
    async () => {
      last = (await stats(port))?.chats ?? -1;
      return last > than;
    },
    timeoutMs,
    `the stand-in on ${port} to have more than ${than} chats`,
  );
  return last;
}

/** The secret key file inside a container (running or not), as text. */
export async function secretKeyOf(s: Standin, id: string): Promise<string | undefined> {
  return (await readContainerFile(s.client, id, SECRET_KEY_PATH))?.toString('utf8');
}

/** Replaces the secret key file inside a container, as a different image build would have it. */
export async function setSecretKey(s: Standin, id: string, key: string): Promise<void> {
  await writeContainerFile(s.client, id, SECRET_KEY_PATH, Buffer.from(key), { mode: 0o600 });
}

/** What a (restored) webui.db holds, read through SQLite itself. */
export interface WebuiDbFacts {
  integrity: string;
  foreignKeyViolations: number;
  journalMode: string;
  revision: string | undefined;
  chats: number;
  files: number;
  titles: string[];
  /** Rows whose chat JSON does not parse (a torn row). */
  badChatJson: number;
  filePaths: string[];
}

/** Opens a database read-only and collects {@link WebuiDbFacts}. */
export function webuiDbFacts(path: string): WebuiDbFacts {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const chats = db.prepare('SELECT title, chat FROM chat').all() as { title: string; chat: string | null }[];
    let bad = 0;
    for (const c of chats) {
      try {
        JSON.parse(c.chat ?? '');
      } catch {
        bad++;
      }
    }
    return {
      integrity: (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; '),
      foreignKeyViolations: (db.pragma('foreign_key_check') as unknown[]).length,
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      revision: (db.prepare('SELECT version_num FROM alembic_version').get() as { version_num: string } | undefined)?.version_num,
      chats: chats.length,
      files: (db.prepare('SELECT count(*) AS n FROM file').get() as { n: number }).n,
      titles: chats.map((c) => c.title),
      badChatJson: bad,
      filePaths: (db.prepare('SELECT path FROM file ORDER BY path').all() as { path: string }[]).map((r) => r.path),
    };
  } finally {
    db.close();
  }
}

/** Integrity check of any SQLite file (chroma.sqlite3 too). */
export function sqliteIntegrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** Parses `owb backup --json` output, failing with the output when it is not JSON. */
export function backupJson(r: CliResult): BackupJson {
  if (r.json === undefined) throw new Error(`owb backup printed no JSON\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.json as BackupJson;
}

/** The parts of `owb backup --json` these tests read. */
export interface BackupJson {
  snapshot_id: string;
  duration_s: number;
  downtime_s?: number;
  unavailable_s?: number | null;
  warnings: string[];
  openwebui: {
    version?: string;
    alembic_revision?: string;
    database: { engine: string; captured_as: string };
    table_rows: Record<string, number>;
    integrity_check: string;
    uploads: { referenced: number; missing: string[] };
    secret_key: { captured: boolean; source: string };
    quiesce: { mode: string; downtime_s: number; unavailable_s?: number | null; container?: string };
    app_data_dir: string;
    warnings: string[];
  };
}

/** The parts of `owb restore --container/--source --json` these tests read. */
export interface RestoreJson {
  snapshot_id: string;
  safety_snapshot_id: string | null;
  restored: string[];
  rewritten_paths: number;
  secret_key: string;
  healthy: boolean | null;
  downtime_s: number;
}

/** A unique name for throwaway things (databases, folders). */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}
