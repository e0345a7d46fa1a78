/**
 * A backup taken while the Open WebUI stand-in writes a chat every ~20 ms must restore to one committed
 * state of webui.db, and `backup --json` must carry the whole manifest. Real dockerd, real stand-in
 * container, real CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupJson, secretKeyOf, sqliteIntegrity, webuiDbFacts, type WebuiDbFacts } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

const { s, worldWithStandin } = useStandin();

/**
 * What standin.py guarantees for a container that was never restarted: its loop commits "chat 1", "chat 2", …
 * one transaction each, and after every 50th chat commits one file row (a separate transaction). So a
 * committed state holds exactly the titles chat 1…N, and floor(N/50) file rows, or one fewer when N is a
 * multiple of 50 and the file row of chat N was not committed yet.
 */
function expectCommittedState(f: WebuiDbFacts): void {
  const n = f.chats;
  expect(n).toBeGreaterThan(0);
  const want = Array.from({ length: n }, (_, i) => `chat ${i + 1}`);
  expect([...f.titles].sort()).toEqual(want.sort());
  const full = Math.floor(n / 50);
  const allowed = n % 50 === 0 ? [full - 1, full] : [full];
  expect(allowed).toContain(f.files);
  expect(f.badChatJson).toBe(0);
}

describe('Open WebUI backup while the stand-in writes', () => {
  it('stop mode: restored webui.db is one committed state matching the manifest; the manifest is complete', async () => {
    // Past two upload rows, so file rows and uploads are part of the picture.
    const { w, c } = await worldWithStandin({ chats: 120 });
    const key = await secretKeyOf(s, c.id);
    expect(key).toBeTruthy();

    const b = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    const m = b.openwebui;
    expect(m.version).toBe(s.env.STANDIN_VERSION_LATEST);
    expect(m.alembic_revision).toBe(s.env.STANDIN_HEAD_LATEST);
    expect(m.database).toEqual({ engine: 'sqlite', captured_as: 'sqlite-backup' });
    expect(m.secret_key).toEqual({ captured: true, source: 'file' });
    expect(m.quiesce.mode).toBe('stop');
    expect(m.quiesce.container).toBe(c.name);
    expect(m.integrity_check).toBe('ok');
    expect(m.app_data_dir).toBe('/app/backend/data');
    expect(b.downtime_s).toBeGreaterThan(0);
    expect(b.downtime_s).toBeLessThan(5);
    expect(m.quiesce.downtime_s).toBe(b.downtime_s);
    expect(b.duration_s).toBeGreaterThan(0);

    const target = join(w.dir, 'restored');
    // `owb snapshots` shows what a restore decision needs: version, schema revision and downtime.
    const listed = (await w.ok(['snapshots'])).stdout;
    expect(listed).toMatch(new RegExp(`${b.snapshot_id.slice(0, 8)}.*${String(m.version).replace(/\./g, '\\.')}\\s+${m.alembic_revision}\\s+\\d+\\.\\d\\d s stop`));
    await w.ok(['restore', b.snapshot_id, '--target', target]);
    const db = join(target, 'data', 'webui.db');
    const facts = webuiDbFacts(db);
    expect(facts.integrity).toBe('ok');
    expect(facts.foreignKeyViolations).toBe(0);
    expect(facts.revision).toBe(s.env.STANDIN_HEAD_LATEST);
    expectCommittedState(facts);
    // The manifest describes exactly this state.
    expect(facts.chats).toBe(m.table_rows.chat);
    expect(facts.files).toBe(m.table_rows.file);
    expect(m.uploads.referenced).toBe(facts.files);
    expect(m.uploads.missing).toEqual([]);
    // A self-contained database: no WAL was copied along, none is needed.
    expect(facts.journalMode).toBe('delete');
    for (const side of ['webui.db-wal', 'webui.db-shm']) expect(existsSync(join(target, 'data', side))).toBe(false);
    expect(sqliteIntegrity(join(target, 'data', 'vector_db', 'chroma.sqlite3'))).toBe('ok');
    // Every upload the database references came along.
    for (const p of facts.filePaths) {
      expect(p.startsWith('/app/backend/data/uploads/')).toBe(true);
      expect(existsSync(join(target, 'data', p.slice('/app/backend/data/'.length)))).toBe(true);
    }
    // cache/ is left out by default; the key from outside the volume is in.
    expect(existsSync(join(target, 'data', 'cache'))).toBe(false);
    expect(readFileSync(join(target, 'secret', '.webui_secret_key'), 'utf8')).toBe(key);
  });

  it('duration_s covers the whole backup, the capture and its window included (never below downtime_s)', async () => {
    const { w, c } = await worldWithStandin({ chats: 20 });
    // Hold the window open 1.5 s, so the downtime is long next to the archiving of this small volume.
    const t0 = Date.now();
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--json'], { OWB_FAULT_HOLD_WINDOW_MS: '1500' }));
    const wall = (Date.now() - t0) / 1000;
    expect(b.downtime_s).toBeGreaterThanOrEqual(1.5);
    expect(b.duration_s).toBeLessThanOrEqual(wall);
    expect(b.duration_s).toBeGreaterThanOrEqual(b.downtime_s!);
  });

  it('quiesce none: the SQLite backup API alone still gives a committed state while writes go on', async () => {
    const { w, c } = await worldWithStandin({ chats: 200, run: { env: { STANDIN_INTERVAL_MS: '2' } } });
    const b = backupJson(await w.ok(['backup', '--container', c.name, '--quiesce', 'none', '--json']));
    expect(b.openwebui.quiesce.mode).toBe('none');
    expect(b.downtime_s).toBe(0);
    expect(b.warnings.join('\n')).toMatch(/quiesce: none/);

    const target = join(w.dir, 'restored');
    await w.ok(['restore', 'latest', '--target', target]);
    const facts = webuiDbFacts(join(target, 'data', 'webui.db'));
    expect(facts.integrity).toBe('ok');
    expectCommittedState(facts);
    expect(facts.chats).toBe(b.openwebui.table_rows.chat);
  });
});
