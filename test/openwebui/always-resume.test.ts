/**
 * The container always runs again after a backup: on success (stop and pause), on a failure inside the
 * window, on SIGTERM inside the window, and after a SIGKILL inside the window on the next owb command of
 * any kind. Real dockerd, real stand-in, real CLI; the window is held open or failed by owb's test-only
 * fault hooks.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson, chatsAbove, startedAt, stateOf, stats, waitState, type OwbWorld } from '../support/openwebui.js';
import { backupInWindow, snapshotCount, useStandin } from '../support/standin-suite.js';

const { s, worldWithStandin } = useStandin();

function marker(w: OwbWorld, id: string): string {
  return join(w.stateDir, `quiesce-${id}.json`);
}

/** Proves the stand-in is up and committing again: its chat count grows past what it was. */
async function keepsWriting(port: number): Promise<void> {
  const now = await chatsAbove(port, -1);
  await chatsAbove(port, now + 10);
}

describe('always resume the container', () => {
  it('stop: after a successful backup the container was restarted and runs again', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const before = await startedAt(s, c.id);
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--quiesce', 'stop', '--json']));
    expect(b.openwebui.quiesce.mode).toBe('stop');
    expect(await stateOf(s, c.id)).toBe('running');
    expect(await startedAt(s, c.id)).not.toBe(before); // it really was stopped and started
    expect(existsSync(marker(w, c.id))).toBe(false);
    await keepsWriting(c.port);
  });

  it('pause: after a successful backup the container is unpaused, never restarted', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const before = await startedAt(s, c.id);
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--quiesce', 'pause', '--json']));
    expect(b.openwebui.quiesce.mode).toBe('pause');
    expect(b.downtime_s).toBeGreaterThan(0);
    expect(b.downtime_s).toBeLessThan(5);
    expect(b.openwebui.integrity_check).toBe('ok');
    expect(await stateOf(s, c.id)).toBe('running');
    expect(await startedAt(s, c.id)).toBe(before);
    expect(existsSync(marker(w, c.id))).toBe(false);
    await keepsWriting(c.port);
  });

  it('a failure inside the window: non-zero exit, container running and writing, no snapshot', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const r = await w.run(['backup', '--container', c.name], { OWB_FAULT_FAIL_IN_WINDOW: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/injected failure/);
    expect(await stateOf(s, c.id)).toBe('running');
    expect(existsSync(marker(w, c.id))).toBe(false);
    await keepsWriting(c.port);
    expect(await snapshotCount(w)).toBe(0);
  });

  it('SIGTERM inside the window: owb exits 130/143 and the container runs again within seconds', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const { child, done } = await backupInWindow(s, w, c, 5000);
    const t0 = Date.now();
    child.kill('SIGTERM');
    await waitState(s, c.id, 'running', 5_000);
    expect(Date.now() - t0).toBeLessThan(4_000); // resumed at once, not when the held window ends
    const r = await done;
    expect([130, 143]).toContain(r.code ?? (r.signal === 'SIGTERM' ? 143 : -1));
    expect(existsSync(marker(w, c.id))).toBe(false);
    await keepsWriting(c.port);
    expect(await snapshotCount(w)).toBe(0);
  });

  it('SIGKILL inside the window: the container stays down until the next owb command of any kind resumes it', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const { child, done } = await backupInWindow(s, w, c, 5000);
    child.kill('SIGKILL');
    const r = await done;
    expect(r.signal).toBe('SIGKILL');
    // Nothing can resume it now: it stays stopped, and the marker says who stopped it.
    await new Promise((res) => setTimeout(res, 1_500));
    expect(await stateOf(s, c.id)).toBe('exited');
    expect(existsSync(marker(w, c.id))).toBe(true);
    expect(await stats(c.port)).toBeUndefined();

    const next = await w.ok(['snapshots']);
    expect(next.stderr).toContain(c.name);
    expect(next.stderr).toMatch(/resumed/);
    expect(await stateOf(s, c.id)).toBe('running');
    expect(existsSync(marker(w, c.id))).toBe(false);
    await keepsWriting(c.port);
  });

  it('the staging copy a SIGKILLed backup left behind (a plain copy of webui.db) is gone after the next backup', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    const { child, done } = await backupInWindow(s, w, c, 5000);
    child.kill('SIGKILL');
    await done;
    const staging = join(w.stateDir, 'staging');
    expect(readdirSync(staging).length).toBeGreaterThan(0); // the killed run's unencrypted copy

    await w.ok(['backup', '--container', c.name]);
    expect(await stateOf(s, c.id)).toBe('running');
    expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
  });

  it('a container that was already stopped stays stopped, and the backup does not call its copy a live one', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    await s.client.api.getContainer(c.id).stop({ t: 5 });
    const r = await w.ok(['backup', '--container', c.name, '--json']);
    const b = backupJson(r);
    expect(await stateOf(s, c.id)).toBe('exited'); // owb only undoes what it did
    expect(existsSync(marker(w, c.id))).toBe(false);
    expect(b.openwebui.integrity_check).toBe('ok');
    // Nothing could write while it was stopped: warning that it "may have been writing" is false.
    expect(`${r.stderr}\n${b.warnings.join('\n')}`).not.toMatch(/may have been writing/);
  });

  it('markers go to $XDG_STATE_HOME/owb when it is set (also as root), so separate runs do not share them', async () => {
    // No state_dir in a config here: only XDG_STATE_HOME, as a user (or a test harness) would isolate owb.
    const { w, c } = await worldWithStandin({ chats: 5, world: { stateFromXdgOnly: true } });
    const { done } = await backupInWindow(s, w, c, 2500);
    const inXdg = existsSync(marker(w, c.id));
    const r = await done;
    expect(r.code).toBe(0);
    expect(await stateOf(s, c.id)).toBe('running');
    expect(inXdg, `marker not in ${w.stateDir} while the window was open`).toBe(true);
  });
});
