/**
 * `owb drill` restores a snapshot into a scratch folder and proves it usable. It must pass on a good
 * backup of a real stand-in, and fail — naming what is wrong — when an upload the database references was
 * missing at backup time, or when a data pack of the repository is damaged.
 */
import { statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flipByte, listPacks } from '../support/cli.js';
import { backupJson, volumeDir } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

const { s, worldWithStandin } = useStandin();

interface DrillJson {
  snapshot_id: string;
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

describe('owb drill', () => {
  it('passes on a good snapshot, fails on a missing upload, fails on a damaged pack', async () => {
    const { w, c } = await worldWithStandin({ chats: 120 });
    const first = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    // The first backup's data pack is its largest (the other holds the small tree blobs).
    const firstDataPack = (await listPacks(w.repo)).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;

    // 1. A good snapshot: every check passes.
    const good = await w.run(['drill', '--json']);
    expect(good.code, good.stderr).toBe(0);
    const g = good.json as DrillJson;
    expect(g.ok).toBe(true);
    expect(g.snapshot_id).toBe(first.snapshot_id);
    expect(g.checks.map((x) => x.name).sort()).toEqual(['database', 'restore', 'secret key', 'uploads']);
    for (const ch of g.checks) expect(ch.ok, `${ch.name}: ${ch.detail}`).toBe(true);

    // 2. An upload vanishes from the live volume; the next backup records it and its drill fails on it.
    const uploads = join(await volumeDir(s, c.volume), 'uploads');
    const victim = (await readdir(uploads)).sort()[0]!;
    await rm(join(uploads, victim));
    const second = backupJson(await w.ok(['backup', '--container', c.name, '--json']));
    expect(second.openwebui.uploads.missing).toContain(`/app/backend/data/uploads/${victim}`);
    const bad = await w.run(['drill', 'latest', '--json']);
    expect(bad.code).toBe(1);
    const b = bad.json as DrillJson;
    expect(b.ok).toBe(false);
    const up = b.checks.find((x) => x.name === 'uploads')!;
    expect(up.ok).toBe(false);
    expect(up.detail).toContain(victim);
    expect(b.checks.find((x) => x.name === 'restore')!.ok).toBe(true);
    expect(bad.stderr).toMatch(/uploads/);

    // 3. One flipped byte in a data pack: the restore check of the snapshot using it fails.
    await flipByte(firstDataPack, 200);
    const broken = await w.run(['drill', first.snapshot_id, '--json']);
    expect(broken.code).toBe(1);
    const k = broken.json as DrillJson;
    expect(k.ok).toBe(false);
    const restore = k.checks.find((x) => x.name === 'restore')!;
    expect(restore.ok).toBe(false);
    expect(restore.detail).toMatch(/damaged|does not match|authenticat|restore incomplete/i);
  });
});
