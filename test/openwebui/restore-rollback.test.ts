/**
 * The rollback of a restore into a deployment: when the restored Open WebUI never becomes healthy, or the restored
 * database does not match its snapshot, owb puts the previous data and secret key back, starts the container on
 * them, leaves no staging or aside folder, and exits 1.
 */
import { existsSync, readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDist } from '../support/cli.js';
import { backupJson, secretKeyOf, setSecretKey, sqliteIntegrity, stateOf, volumeDir, waitFor } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

const { s, worldWithStandin } = useStandin();

/** A file that, present in the data folder, makes the stand-in's /health fail (a setting of the app under test). */
const MARKER = 'unhealthy-marker';

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.owb-'));
}

async function healthy(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
}

describe('restore into a deployment rolls back', () => {
  it('when /health never answers: exit 1, the old data and secret key back, the container running, no leftovers', async () => {
    const { w, c } = await worldWithStandin({ chats: 20, chatsTimeoutMs: 30_000, run: { env: { STANDIN_UNHEALTHY_IF: MARKER } } });
    const data = await volumeDir(s, c.volume);
    await writeFile(join(data, MARKER), 'the snapshot holds this file, the live data will not');
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    await rm(join(data, MARKER));
    await waitFor(() => healthy(c.port), 60_000, 'a healthy /health');
    await setSecretKey(s, c.id, 'the-key-in-use-now');

    const r = await w.run(['restore', b.snapshot_id, '--container', c.name, '--health-timeout', '15', '--no-safety-snapshot']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/health/i);
    // The previous data is back (the snapshot's marker is not), with its key, and Open WebUI serves it.
    expect(existsSync(join(data, MARKER))).toBe(false);
    expect(sqliteIntegrity(join(data, 'webui.db'))).toBe('ok');
    expect(await secretKeyOf(s, c.id)).toBe('the-key-in-use-now');
    expect(await stateOf(s, c.id)).toBe('running');
    await waitFor(() => healthy(c.port), 60_000, 'a healthy /health');
    expect(leftovers(data)).toEqual([]);
  });

  it('when the restored database does not match its snapshot: refused before the swap, nothing changed', async () => {
    const { w, c } = await worldWithStandin({ chats: 20, chatsTimeoutMs: 30_000 });
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    // A snapshot whose manifest disagrees with its webui.db (one chat more than the database holds).
    const { Repository } = await loadDist<typeof import('../../src/repo/repository.js')>('repo/repository.js');
    const { LocalBackend } = await loadDist<typeof import('../../src/storage/local.js')>('storage/local.js');
    const { readFile } = await import('node:fs/promises');
    const repo = await Repository.open(new LocalBackend(w.repo), (await readFile(w.passwordFile, 'utf8')).trim());
    const snap = await repo.loadJson<{ openwebui: { table_rows: Record<string, number> } }>('snapshots', b.snapshot_id);
    const table = Object.keys(snap.openwebui.table_rows).find((t) => t.startsWith('chat'))!;
    snap.openwebui.table_rows[table]! += 1;
    const forged = await repo.saveJson('snapshots', snap);
    const data = await volumeDir(s, c.volume);

    const r = await w.run(['restore', forged, '--container', c.name, '--health-timeout', '60', '--no-safety-snapshot']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the restored database does not match its snapshot: table chat\w* has \d+ rows, the manifest says \d+/);
    expect(await stateOf(s, c.id)).toBe('running');
    await waitFor(() => healthy(c.port), 60_000, 'a healthy /health');
    expect(sqliteIntegrity(join(data, 'webui.db'))).toBe('ok');
    expect(leftovers(data)).toEqual([]);
  });
});

