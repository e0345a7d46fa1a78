/**
 * Restoring into Open WebUI deployments, against real stand-in containers: the downgrade refusal, the
 * `file.path` prefix rewrite for a different data folder, disaster recovery onto a brand-new container
 * (data and secret key), and partial restores with --only.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { StandinContainer } from '../docker/standin.js';
import { sha256File } from '../support/cli.js';
import {
  backupJson,
  chatsAbove,
  secretKeyOf,
  setSecretKey,
  startedAt,
  stateOf,
  standinStats,
  stats,
  volumeDir,
  waitFor,
  webuiDbFacts,
  type BackupJson,
  type OwbWorld,
  type RestoreJson,
} from '../support/openwebui.js';
import { snapshotCount, useStandin } from '../support/standin-suite.js';

const { s, fx, worldWithStandin } = useStandin();

/** A running `latest` stand-in with some chats and uploads, backed up once into a fresh world. */
async function backedUp(minChats = 120, env: Record<string, string> = {}): Promise<{ w: OwbWorld; a: StandinContainer; b: BackupJson; key: string }> {
  const { w, c: a } = await worldWithStandin({ chats: minChats, chatsTimeoutMs: 30_000, run: { env } });
  const b = backupJson(await w.ok(['backup', '--container', a.name, '--json']));
  return { w, a, b, key: (await secretKeyOf(s, a.id))! };
}

/** Regular files directly in a folder: name → bytes. */
function filesIn(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile()) out.set(e.name, readFileSync(join(dir, e.name)));
  return out;
}

describe('restore refuses a downgrade', () => {
  it('a snapshot of a newer schema into an older image: refused, old container untouched; --force proceeds', async () => {
    const { w, b } = await backedUp(30);
    expect(b.openwebui.alembic_revision).toBe(s.env.STANDIN_HEAD_LATEST);
    const old = await fx.standin({ image: s.env.STANDIN_IMAGE_OLD });
    await chatsAbove(old.port, 10);
    const started = await startedAt(s, old.id);
    const oldDir = await volumeDir(s, old.volume);

    const r = await w.run(['restore', 'latest', '--container', old.name]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(s.env.STANDIN_HEAD_LATEST!);
    expect(r.stderr).toMatch(/refus/i);
    // Untouched: never stopped, no staging or aside folders, no safety snapshot, still on its own schema.
    expect(await stateOf(s, old.id)).toBe('running');
    expect(await startedAt(s, old.id)).toBe(started);
    expect((await readdir(oldDir)).filter((n) => n.startsWith('.owb-'))).toEqual([]);
    expect(await snapshotCount(w)).toBe(1);
    expect((await standinStats(old.port))?.revision).toBe(s.env.STANDIN_HEAD_OLD);
    const live = await chatsAbove(old.port, -1);
    await chatsAbove(old.port, live + 5);

    const f = await w.run(['restore', 'latest', '--container', old.name, '--force', '--json', '--health-timeout', '30']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toMatch(/--force/);
    const j = f.json as RestoreJson;
    expect(j.healthy).toBe(true);
    expect(j.safety_snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    expect(await stateOf(s, old.id)).toBe('running');
    await waitFor(async () => (await stats(old.port)) !== undefined, 15_000, 'old container answering');
    // The old image now runs on the newer database (which is why this needs --force).
    expect((await standinStats(old.port))?.revision).toBe(s.env.STANDIN_HEAD_LATEST);
    expect((await stats(old.port))!.chats).toBeGreaterThanOrEqual(b.openwebui.table_rows.chat!);
  });
});

describe('file.path is rewritten for a different data folder', () => {
  it('restore --source into a folder whose DATA_DIR differs: every file.path gets the new prefix', async () => {
    const { w, b, key } = await backedUp(120);
    expect(b.openwebui.app_data_dir).toBe('/app/backend/data');
    const parent = join(w.dir, 'other');
    const dir = join(parent, 'data');
    await mkdir(dir, { recursive: true });

    const r = await w.ok(['restore', 'latest', '--source', dir, '--json'], { DATA_DIR: '/srv/other/data' });
    const j = r.json as RestoreJson;
    const facts = webuiDbFacts(join(dir, 'webui.db'));
    expect(facts.files).toBeGreaterThan(0);
    expect(j.rewritten_paths).toBe(facts.files);
    for (const p of facts.filePaths) {
      expect(p.startsWith('/srv/other/data/uploads/'), p).toBe(true);
      // And the file it names is where the new prefix says.
      readFileSync(join(dir, p.slice('/srv/other/data/'.length)));
    }
    expect(facts.integrity).toBe('ok');
    expect(facts.chats).toBe(b.openwebui.table_rows.chat);
    expect(j.safety_snapshot_id).toBeNull(); // the folder was empty: nothing to keep
    // A plain folder's key file sits next to the data folder.
    expect(j.secret_key).toBe('restored');
    expect(readFileSync(join(parent, '.webui_secret_key'), 'utf8')).toBe(key);
  });

  it('restore --container into a container whose DATA_DIR is elsewhere: paths rewritten, it starts on them', async () => {
    const { w, b } = await backedUp(120);
    const target = await fx.created({ env: { DATA_DIR: '/srv/owui/data' }, dataPath: '/srv/owui/data', start: true });
    const r = await w.ok(['restore', 'latest', '--container', target.name, '--json', '--health-timeout', '30']);
    const j = r.json as RestoreJson;
    expect(j.healthy).toBe(true);
    expect(j.rewritten_paths).toBe(b.openwebui.table_rows.file);
    expect(j.rewritten_paths).toBeGreaterThan(0);
    // Read the live database (WAL mode) read-only: the restored rows point into the new data folder.
    const db = new Database(join(await volumeDir(s, target.volume), 'webui.db'), { readonly: true });
    try {
      const paths = (db.prepare('SELECT path FROM file').all() as { path: string }[]).map((x) => x.path);
      expect(paths.length).toBeGreaterThanOrEqual(b.openwebui.table_rows.file!);
      for (const p of paths) expect(p.startsWith('/srv/owui/data/uploads/'), p).toBe(true);
    } finally {
      db.close();
    }
  });
});

describe('disaster recovery onto a new container', () => {
  it('a running brand-new container on an empty volume gets the data and the secret key', async () => {
    const { w, b, key } = await backedUp(1200, { STANDIN_INTERVAL_MS: '2' });
    const snapChats = b.openwebui.table_rows.chat!;
    const fresh = await fx.standin(); // starts on an empty volume and makes its own fresh database
    await setSecretKey(s, fresh.id, 'the-new-machines-own-key\n');
    const own = (await stats(fresh.port))!.chats;
    expect(own).toBeLessThan(snapChats); // so "at least the snapshot's chats" below means restored data

    const r = await w.ok(['restore', 'latest', '--container', fresh.name, '--json', '--health-timeout', '30']);
    const j = r.json as RestoreJson;
    expect(j.healthy).toBe(true);
    expect(j.secret_key).toBe('restored');
    expect(j.safety_snapshot_id).toMatch(/^[0-9a-f]{64}$/);
    expect(await stateOf(s, fresh.id)).toBe('running');
    await waitFor(async () => (await stats(fresh.port)) !== undefined, 15_000, 'restored container answering');
    expect((await stats(fresh.port))!.chats).toBeGreaterThanOrEqual(snapChats);
    expect(await secretKeyOf(s, fresh.id)).toBe(key);
  });

  it('a stopped brand-new container: the restore succeeds and leaves it running on the restored data', async () => {
    const { w, b, key } = await backedUp(1200, { STANDIN_INTERVAL_MS: '2' });
    const fresh = await fx.standin();
    await setSecretKey(s, fresh.id, 'the-new-machines-own-key\n');
    // As a careful admin would: stop the new container before restoring into it.
    await s.client.api.getContainer(fresh.id).stop({ t: 5 });
    expect(await stateOf(s, fresh.id)).toBe('exited');

    const r = await w.run(['restore', 'latest', '--container', fresh.name, '--json', '--health-timeout', '10']);
    expect(r.code, `exit ${r.code}\n${r.stderr}`).toBe(0);
    const j = r.json as RestoreJson;
    expect(j.secret_key).toBe('restored');
    expect(await secretKeyOf(s, fresh.id)).toBe(key);
    expect(await stateOf(s, fresh.id)).toBe('running');
    await waitFor(async () => (await stats(fresh.port)) !== undefined, 15_000, 'restored container answering');
    expect((await stats(fresh.port))!.chats).toBeGreaterThanOrEqual(b.openwebui.table_rows.chat!);
  });
});

describe('partial restore with --only', () => {
  it('--only uploads into a running container: uploads come back, webui.db and the key are not touched', async () => {
    const { w, a, b } = await backedUp(120);
    const live = await volumeDir(s, a.volume);
    const snapUploads = join(w.dir, 'snap');
    await w.ok(['restore', 'latest', '--target', snapUploads, '--include', '/data/uploads']);
    const expected = filesIn(join(snapUploads, 'data', 'uploads'));
    expect(expected.size).toBe(b.openwebui.table_rows.file);
    // Lose the uploads, let the database move on well past the snapshot.
    for (const name of expected.keys()) rmSync(join(live, 'uploads', name));
    await setSecretKey(s, a.id, 'rotated-key\n');
    const before = await chatsAbove(a.port, b.openwebui.table_rows.chat! + 100);

    const r = await w.ok(['restore', 'latest', '--container', a.name, '--only', 'uploads', '--json', '--health-timeout', '30']);
    const j = r.json as RestoreJson;
    expect(j.restored).toEqual(['uploads']);
    expect(j.secret_key).toBe('not selected');
    const back = filesIn(join(live, 'uploads'));
    for (const [name, bytes] of expected) expect(back.get(name)?.equals(bytes), name).toBe(true);
    // The database was not rolled back to the snapshot: it still holds every chat it had before.
    await waitFor(async () => (await stats(a.port)) !== undefined, 15_000, 'container answering');
    expect((await stats(a.port))!.chats).toBeGreaterThanOrEqual(before);
    expect(await secretKeyOf(s, a.id)).toBe('rotated-key\n');
  });

  it('--only uploads into a plain folder: uploads restored, webui.db byte for byte the same', async () => {
    const { w, b } = await backedUp(120);
    const t = join(w.dir, 'plain');
    await w.ok(['restore', 'latest', '--target', t]);
    const dir = join(t, 'data');
    // Make the folder's database differ from the snapshot's, so a restored db would show.
    const db = new Database(join(dir, 'webui.db'));
    db.prepare("INSERT INTO chat (id, user_id, title, chat, created_at, updated_at) VALUES ('x', 'u-admin', 'after the backup', '{}', 0, 0)").run();
    db.close();
    const shaBefore = await sha256File(join(dir, 'webui.db'));
    const uploads = filesIn(join(dir, 'uploads'));
    expect(uploads.size).toBeGreaterThan(0);
    await rm(join(dir, 'uploads'), { recursive: true });

    const r = await w.ok(['restore', 'latest', '--source', dir, '--only', 'uploads', '--json']);
    expect((r.json as RestoreJson).restored).toEqual(['uploads']);
    expect(await sha256File(join(dir, 'webui.db'))).toBe(shaBefore);
    const facts = webuiDbFacts(join(dir, 'webui.db'));
    expect(facts.chats).toBe(b.openwebui.table_rows.chat! + 1);
    const back = filesIn(join(dir, 'uploads'));
    expect([...back.keys()].sort()).toEqual([...uploads.keys()].sort());
    for (const [name, bytes] of uploads) expect(back.get(name)?.equals(bytes), name).toBe(true);
    for (const side of ['webui.db-wal', 'webui.db-shm']) expect(existsSync(join(dir, side))).toBe(false);
  });
});
