/**
 * Set-ups shared by the tests that run against Open WebUI stand-in containers on the test Docker engine: the
 * engine and images for a whole test file, containers and volumes that are always removed, a world whose
 * repository is ready next to a stand-in that is busy writing, and a backup caught inside its quiesce window.
 *
 * The use* functions register vitest hooks, so call them at the top level of a test file (or of a describe). The
 * objects they return are filled in by those hooks: read them inside tests and hooks only.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { runStandin, standin, type RunOptions, type Standin, type StandinContainer } from '../docker/standin.js';
import { cleanupTemp, collect, type CliResult } from './cli.js';
import { chatsAbove, Fixtures, owbWorld, startIn, waitState, type OwbWorld } from './openwebui.js';

/** Options of {@link StandinSuite.worldWithStandin}. */
export interface WorldWithStandinOptions {
  /** Wait until the stand-in has committed more than this many chats (default 20). */
  chats?: number;
  /** How long to wait for them (default that of chatsAbove). */
  chatsTimeoutMs?: number;
  /** How the stand-in runs (image, env, …). */
  run?: RunOptions;
  /** How the world is made (see owbWorld). */
  world?: Parameters<typeof owbWorld>[1];
}

/** What {@link useStandin} gives a test file. */
export interface StandinSuite {
  /** The engine and the stand-in images. */
  readonly s: Standin;
  /** Containers and volumes made through it are removed after the file's tests. */
  readonly fx: Fixtures;
  /**
   * A fresh world (its repository initialised with `owb init`) and a running stand-in with a volume of its own,
   * once that stand-in has committed more than `chats` chats: the starting point of most backup tests.
   */
  worldWithStandin(opts?: WorldWithStandinOptions): Promise<{ w: OwbWorld; c: StandinContainer }>;
}

/** Backups started by {@link backupInWindow} that may still run when their test ends. */
const windowRuns: ChildProcess[] = [];

/**
 * Starts the test engine and the stand-in images before the file's tests, and removes every container, volume
 * and temp folder afterwards, whatever happened. A backup left running by {@link backupInWindow} is killed after
 * each test.
 */
export function useStandin(): StandinSuite {
  // One object, filled in place once the engine is up: the Fixtures built now and the tests read the same one.
  const s = {} as Standin;
  const fx = new Fixtures(s);
  beforeAll(async () => {
    Object.assign(s, await standin());
  });
  afterEach(() => {
    for (const ch of windowRuns.splice(0)) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
  });
  afterAll(async () => {
    await fx.removeAll();
    await cleanupTemp();
  });
  return {
    s,
    fx,
    worldWithStandin: async (opts = {}) => {
      const w = await owbWorld(s, opts.world);
      const c = await fx.standin(opts.run);
      await chatsAbove(c.port, opts.chats ?? 20, opts.chatsTimeoutMs);
      return { w, c };
    },
  };
}

/**
 * Starts the engine and one stand-in container (a fresh volume, waited on until it answers) before the file's
 * tests, and removes both afterwards.
 */
export function useStandinContainer(opts: RunOptions = {}): { s: Standin; c: StandinContainer } {
  const s = {} as Standin;
  const c = {} as StandinContainer;
  beforeAll(async () => {
    Object.assign(s, await standin());
    Object.assign(c, await runStandin(s, opts));
  });
  afterAll(async () => {
    // Absent when the container never started.
    if (typeof c.remove === 'function') await c.remove();
  });
  return { s, c };
}

/** A backup running in the background, caught with its quiesce window open. */
export interface WindowRun {
  child: ChildProcess;
  /** The CLI's result, once it ends (a minute at most). */
  done: Promise<CliResult>;
}

/**
 * Starts `owb backup --container <c>` in `w` with the quiesce window held open for `holdMs` (the test-only
 * OWB_FAULT_HOLD_WINDOW_MS), and resolves once the container has stopped, that is once the window is open. For
 * the default quiesce mode, stop. Use with {@link useStandin}, which kills the backup after the test if needed.
 */
export async function backupInWindow(s: Standin, w: OwbWorld, c: StandinContainer, holdMs: number): Promise<WindowRun> {
  const child = await startIn(w, ['backup', '--container', c.name], { OWB_FAULT_HOLD_WINDOW_MS: String(holdMs) });
  windowRuns.push(child);
  const done = collect(child, 60_000);
  await waitState(s, c.id, 'exited');
  return { child, done };
}

/** How many snapshots the world's repository holds. */
export async function snapshotCount(w: OwbWorld): Promise<number> {
  return ((await w.ok(['snapshots', '--json'])).json as unknown[]).length;
}
