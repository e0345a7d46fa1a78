import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  findContainer,
  markerPath,
  quiesce,
  resumeLeftovers,
  withQuiesced,
  type QuiesceMarker,
} from '../../src/docker/index.js';
import { makeTemp } from '../support/cli.js';
import { chatsAbove } from '../support/openwebui.js';
import { PROJECT_ROOT } from '../support/services.js';
import { useStandin } from '../support/standin-suite.js';
import { stats, waitFor, type StandinContainer } from './standin.js';

const { s, fx } = useStandin();
const children: ChildProcess[] = [];

afterEach(() => {
  for (const ch of children.splice(0)) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
});

/** A running stand-in on a volume of its own, and an empty state folder for the markers. */
async function fresh(): Promise<{ c: StandinContainer; stateDir: string }> {
  const c = await fx.standin();
  const stateDir = await makeTemp('owb-state-');
  return { c, stateDir };
}

async function state(id: string): Promise<string> {
  return (await findContainer(s.client, id)).state;
}

describe('quiesce', () => {
  it('stop: container is exited inside the window, marker present; resume brings it back and it keeps writing', async () => {
    const { c, stateDir } = await fresh();
    await chatsAbove(c.port, 5);
    const h = await quiesce(s.client, c.name, 'stop', { stateDir, timeoutS: 5 });
    expect(h.action).toBe('stopped');
    expect(await state(c.id)).toBe('exited');
    const marker = JSON.parse(readFileSync(markerPath(stateDir, c.id), 'utf8')) as QuiesceMarker;
    expect(marker).toMatchObject({ containerId: c.id, containerName: c.name, action: 'stopped', pid: process.pid });
    expect(statSync(markerPath(stateDir, c.id)).mode & 0o777).toBe(0o600);
    // A clean stop checkpoints the WAL: the stand-in closed its database (no -wal left behind).
    const dataDir = (await s.client.api.getVolume(c.volume).inspect()).Mountpoint;
    expect(existsSync(join(dataDir, 'webui.db-wal'))).toBe(false);

    const r = await h.resume();
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
    expect(r.downtimeMs).toBeGreaterThan(0);
    expect(r.downtimeMs).toBeLessThan(10_000);
    expect(h.downtimeMs).toBe(r.downtimeMs);
    await waitFor(async () => (await stats(c.port)) !== undefined, 15_000, 'stand-in back');
    const after = (await stats(c.port))!.chats;
    await chatsAbove(c.port, after + 5);
  });

  it('pause: container is paused inside the window and resumes writing after unpause; resume runs once', async () => {
    const { c, stateDir } = await fresh();
    await chatsAbove(c.port, 5);
    const h = await quiesce(s.client, c.id, 'pause', { stateDir });
    expect(h.action).toBe('paused');
    expect(await state(c.id)).toBe('paused');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(true);
    const [a, b] = await Promise.all([h.resume(), h.resume()]);
    expect(a).toBe(b);
    expect(await h.resume()).toBe(a);
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
    // A pause window is short: the freezer acts at once.
    expect(a.downtimeMs).toBeGreaterThan(0);
    expect(a.downtimeMs).toBeLessThan(2_000);
    const before = (await stats(c.port))!.chats;
    await chatsAbove(c.port, before + 5);
  });

  it('none, and a container that is not running, are left alone', async () => {
    const { c, stateDir } = await fresh();
    const none = await quiesce(s.client, c.id, 'none', { stateDir });
    expect(none.action).toBe('none');
    expect(await state(c.id)).toBe('running');
    expect(readdirSync(stateDir)).toEqual([]);
    expect((await none.resume()).downtimeMs).toBe(0);

    await s.client.api.getContainer(c.id).stop({ t: 5 });
    const h = await quiesce(s.client, c.id, 'stop', { stateDir });
    expect(h.action).toBe('none');
    await h.resume();
    // The user stopped it; the backup must not start it.
    expect(await state(c.id)).toBe('exited');
    await s.client.api.getContainer(c.id).start();
  });
});

describe('stop grace period', () => {
  it('by default outlasts a 12 s shutdown (Python as PID 1 takes 4-12 s): the container exits cleanly, not SIGKILLed', async () => {
    const c = await fx.standin({ env: { STANDIN_IDLE: '1', STANDIN_STOP_DELAY_S: '12' } });
    const stateDir = await makeTemp('owb-state-');
    const h = await quiesce(s.client, c.id, 'stop', { stateDir });
    expect(h.action).toBe('stopped');
    const st = (await s.client.api.getContainer(c.id).inspect()).State;
    // 137 is the engine's SIGKILL after the grace period: a kill inside the quiesce window.
    expect(st.ExitCode).toBe(0);
    await h.resume();
    expect(await state(c.id)).toBe('running');
  }, 60_000);
});

describe('withQuiesced', () => {
  it('returns the value and downtime, resuming after fn', async () => {
    const { c, stateDir } = await fresh();
    const r = await withQuiesced(s.client, c.id, 'stop', { stateDir, timeoutS: 5 }, async (h) => {
      expect(await state(c.id)).toBe('exited');
      expect(h.signal.aborted).toBe(false);
      return 42;
    });
    expect(r).toMatchObject({ value: 42, action: 'stopped' });
    expect(r.downtimeMs).toBeGreaterThan(0);
    expect(await state(c.id)).toBe('running');
  });

  it('resumes when fn throws, and rethrows fn’s error', async () => {
    const { c, stateDir } = await fresh();
    const listeners = process.listenerCount('SIGTERM');
    await expect(
      withQuiesced(s.client, c.id, 'stop', { stateDir, timeoutS: 5 }, async () => {
        expect(await state(c.id)).toBe('exited');
        throw new Error('copy failed');
      }),
    ).rejects.toThrow('copy failed');
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('lets fn resume early, so the container runs while fn goes on', async () => {
    const { c, stateDir } = await fresh();
    const r = await withQuiesced(s.client, c.id, 'pause', { stateDir }, async (h) => {
      const early = await h.resume();
      expect(await state(c.id)).toBe('running');
      return early.downtimeMs;
    });
    expect(r.downtimeMs).toBe(r.value);
  });
});

/** Starts the child script (built module) and resolves once it reports being inside the window. */
async function child(args: Record<string, string>): Promise<ChildProcess> {
  const script = join(PROJECT_ROOT, 'test', 'support', 'quiesce-child.mjs');
  const built = join(PROJECT_ROOT, 'dist', 'docker', 'quiesce.js');
  const src = join(PROJECT_ROOT, 'src', 'docker', 'quiesce.ts');
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs) {
    throw new Error('dist/docker is missing or older than src/docker: run `npm run build` first');
  }
  const ch = spawn(process.execPath, [script, JSON.stringify(args)], {
    env: { ...process.env, DOCKER_HOST: s.env.DOCKER_HOST },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(ch);
  let out = '';
  let err = '';
  ch.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    ch.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('QUIESCED')) resolve();
    });
    ch.on('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
  });
  return ch;
}

function exited(ch: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (ch.exitCode !== null || ch.signalCode !== null) return Promise.resolve({ code: ch.exitCode, signal: ch.signalCode });
  return new Promise((resolve) => ch.on('exit', (code, signal) => resolve({ code, signal })));
}

describe('always resume', () => {
  it('after SIGKILL in the window, the container stays stopped until resumeLeftovers brings it back', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.name, mode: 'stop', stateDir, how: 'hold' });
    expect(await state(c.id)).toBe('exited');

    // While the owner lives, its window is not ours to close.
    const alive = await resumeLeftovers(s.client, stateDir);
    expect(alive).toEqual([expect.objectContaining({ containerId: c.id, outcome: 'owner-alive', ownerPid: ch.pid })]);
    expect(await state(c.id)).toBe('exited');

    ch.kill('SIGKILL');
    expect((await exited(ch)).signal).toBe('SIGKILL');
    expect(await state(c.id)).toBe('exited');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(true);

    const out = await resumeLeftovers(s.client, stateDir);
    expect(out).toEqual([
      expect.objectContaining({ containerId: c.id, containerName: c.name, action: 'stopped', outcome: 'resumed' }),
    ]);
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
    await waitFor(async () => (await stats(c.port)) !== undefined, 15_000, 'stand-in back');
    expect(await resumeLeftovers(s.client, stateDir)).toEqual([]);
  });

  it('after SIGKILL in a pause window, resumeLeftovers unpauses', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'pause', stateDir, how: 'hold' });
    expect(await state(c.id)).toBe('paused');
    ch.kill('SIGKILL');
    await exited(ch);
    expect(await state(c.id)).toBe('paused');
    const out = await resumeLeftovers(s.client, stateDir);
    expect(out).toEqual([expect.objectContaining({ action: 'paused', outcome: 'resumed' })]);
    expect(await state(c.id)).toBe('running');
  });

  it('quiesce takes over a dead run’s window on the same container instead of restarting it', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'stop', stateDir, how: 'hold' });
    ch.kill('SIGKILL');
    await exited(ch);
    const h = await quiesce(s.client, c.id, 'stop', { stateDir, timeoutS: 5 });
    expect(h).toMatchObject({ action: 'stopped', adopted: true });
    expect(await state(c.id)).toBe('exited');
    const marker = JSON.parse(readFileSync(markerPath(stateDir, c.id), 'utf8')) as QuiesceMarker;
    expect(marker.pid).toBe(process.pid);
    await h.resume();
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
  });

  it('quiesce with mode none undoes a dead run’s leftover first', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'pause', stateDir, how: 'hold' });
    ch.kill('SIGKILL');
    await exited(ch);
    const h = await quiesce(s.client, c.id, 'none', { stateDir });
    expect(h).toMatchObject({ action: 'none', adopted: false });
    expect(await state(c.id)).toBe('running');
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('on %s in the window, the child resumes the container before exiting', async (sig) => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'stop', stateDir, how: 'guarded' });
    expect(await state(c.id)).toBe('exited');
    ch.kill(sig);
    const end = await exited(ch);
    // Re-raised after the resume, so the process still ends by the signal, as it would have.
    expect(end.signal).toBe(sig);
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
  });

  it('on process.exit in the window, the exit hook resumes synchronously', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'stop', stateDir, how: 'exit' });
    const end = await exited(ch);
    expect(end.code).toBe(3);
    expect(await state(c.id)).toBe('running');
    expect(existsSync(markerPath(stateDir, c.id))).toBe(false);
  });

  it('takes a marker whose pid now belongs to another process (start time differs) for a dead run', async () => {
    const { c, stateDir } = await fresh();
    await s.client.api.getContainer(c.id).stop({ t: 5 });
    // This very process's pid, as if the dead owner's pid had been reused by us.
    const marker: QuiesceMarker = {
      version: 1,
      containerId: c.id,
      containerName: c.name,
      action: 'stopped',
      pid: process.pid,
      procStart: 1,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(markerPath(stateDir, c.id), JSON.stringify(marker));
    expect(await resumeLeftovers(s.client, stateDir)).toEqual([expect.objectContaining({ outcome: 'resumed' })]);
    expect(await state(c.id)).toBe('running');
  });

  it('drops the marker of a container that no longer exists', async () => {
    const { c, stateDir } = await fresh();
    const ch = await child({ container: c.id, mode: 'stop', stateDir, how: 'hold' });
    ch.kill('SIGKILL');
    await exited(ch);
    await s.client.api.getContainer(c.id).remove({ force: true });
    expect(await resumeLeftovers(s.client, stateDir)).toEqual([expect.objectContaining({ outcome: 'container-gone' })]);
    expect(readdirSync(stateDir)).toEqual([]);
  });
});
