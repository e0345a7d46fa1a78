// owb against the real Open WebUI 0.12.4 container: backups taken while the API keeps writing (pause and
// stop) hold every write acknowledged before the container went down, and a snapshot brings a deployment
// back on a brand-new container with an empty volume (data, vectors and the secret key).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, runCli, runOk, type CliOptions } from '../support/cli.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { initRepo } from '../support/repo-setup.js';
import {
  ChatWriter,
  missingWrites,
  OpenWebuiApiError,
  OpenWebuiClient,
  OpenWebuiLauncher,
  realOpenWebui,
  type ContainerOpenWebui,
  type RealService,
} from '../support/openwebui-real/index.js';
import { chromaQuery, DOCS, lastRunRecord, openWebuiScore, PENGUIN_QUERY, picture, seed, TOWER_QUERY, type Seeded } from '../support/openwebui-real/e2e.js';

const VERSION = '0.12.4';
const LONG = 15 * 60_000;

let svc: RealService;
let fake: FakeOpenAI;
let launcher: OpenWebuiLauncher;
let inst: ContainerOpenWebui;
let seeded: Seeded;
let work: string;
let cli: CliOptions & { repo: string };
const manifestVersion: Partial<Record<'pause' | 'stop', string | undefined>> = {};

/** Polls `cond` (no fixed sleeps as synchronisation); fails with `what` after `timeoutMs`. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  svc = await realOpenWebui();
  fake = await startFakeOpenAI();
  launcher = new OpenWebuiLauncher(svc, fake);
  work = await makeTemp('owb-e2e-ctr-');
  // cwd is the CLI's HOME and XDG_STATE_HOME root, so the run records land in work/state/owb/logs.
  cli = { ...(await initRepo(work, 'e2e-container-pw')), cwd: work, env: { DOCKER_HOST: svc.dockerHost }, timeoutMs: LONG };
  inst = await launcher.container(VERSION);
  seeded = await seed(new OpenWebuiClient(inst.baseUrl));
}, 45 * 60_000);

afterAll(async () => {
  await launcher?.disposeAll();
  await fake?.close();
  await cleanupTemp();
}, 5 * 60_000);

describe(`owb backup --container on the real Open WebUI ${VERSION} while the API writes`, () => {
  for (const mode of ['pause', 'stop'] as const) {
    it(`--quiesce ${mode}: every write acknowledged before the container went down is in the snapshot; Chroma answers as live`, async () => {
      const anon = new OpenWebuiClient(inst.baseUrl);
      const writer = new ChatWriter(anon.as(seeded.bob), { mode: 'chat', prefix: `w-${mode}`, intervalMs: 10 });
      await writer.start();
      try {
        await until(() => writer.acked.length >= 5, 'the writer to get going');
        const startedAt = Date.now();
        const extra = mode === 'stop' ? ['--stop-timeout', '30'] : [];
        const r = await runOk(['--json', 'backup', '--container', inst.containerName, '--quiesce', mode, ...extra], cli);
        const out = r.json as { snapshot_id: string; downtime_s: number };
        // Keep writing until the server acknowledges again: the container is back and took writes after the backup.
        const n = writer.acked.length;
        await until(() => writer.acked.length > n + 2, 'writes acknowledged after the backup');
        await writer.stop();

        // owb records the instant the container was down (stopped or paused) in its run record; the event is
        // logged once the quiesce completed, so every write acknowledged before it was committed before it.
        const rec = await lastRunRecord(work, 'backup');
        expect(rec.ok).toBe(true);
        const down = rec.events.find((e) => e.kind === 'container_down');
        const up = rec.events.find((e) => e.kind === 'container_up');
        expect(down, 'run record has a container_down event').toBeDefined();
        expect(up).toBeDefined();
        const downAt = Date.parse(down!.time);
        expect(downAt).toBeGreaterThanOrEqual(startedAt);
        const mustHave = writer.ackedBefore(downAt);
        // The writer ran for the whole live phase of the capture, so the cut-off holds writes from during the backup.
        expect(mustHave.filter((w) => w.ackedAt >= startedAt).length).toBeGreaterThan(0);
        expect(out.downtime_s).toBeGreaterThan(0);

        const snaps = (await runOk(['--json', 'snapshots'], cli)).json as { id: string; openwebui?: { quiesce: { mode: string }; version?: string } }[];
        const snap = snaps.find((s) => s.id === out.snapshot_id);
        expect(snap?.openwebui?.quiesce.mode).toBe(mode);
        manifestVersion[mode] = snap?.openwebui?.version;
        // With pause the application keeps answering, so owb reads /api/version; see the stop case below.
        if (mode === 'pause') expect(snap?.openwebui?.version).toBe(VERSION);

        const target = join(await makeTemp(`owb-e2e-${mode}-`), 'restored');
        await runOk(['restore', out.snapshot_id, '--target', target], cli);
        const dbPath = join(target, 'data', 'webui.db');
        expect(missingWrites(dbPath, mustHave)).toEqual([]);
        const db = new Database(dbPath, { readonly: true, fileMustExist: true });
        try {
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          // The seeded chats are there too, and nothing acknowledged after the backup finished can be.
          const ids = new Set((db.prepare('SELECT id FROM chat').all() as { id: string }[]).map((x) => x.id));
          for (const id of seeded.chatIds) expect(ids.has(id)).toBe(true);
          const late = writer.acked.filter((w) => w.sentAt > Date.parse(up!.time));
          expect(late.length).toBeGreaterThan(0);
          for (const w of late) expect(ids.has(w.chatId)).toBe(false);
        } finally {
          db.close();
        }

        // The restored Chroma store opens in chromadb and ranks like the live instance for the same embedding.
        const python = join(svc.release(VERSION).venv, 'bin', 'python');
        for (const q of [TOWER_QUERY, PENGUIN_QUERY]) {
          const restored = await chromaQuery(python, join(target, 'data', 'vector_db'), seeded.knowledgeId, q, 2);
          const live = await anon.as(seeded.admin).queryCollections([seeded.knowledgeId], q, 2);
          expect(restored.collections).toEqual(expect.arrayContaining([seeded.knowledgeId, 'knowledge-bases', ...seeded.docFileIds.map((f) => `file-${f}`)]));
          expect(restored.documents).toEqual(live.documents[0]);
          const liveScores = live.distances[0]!;
          restored.distances.forEach((d, i) => expect(openWebuiScore(d)).toBeCloseTo(liveScores[i]!, 5));
        }
      } finally {
        await writer.stop();
      }
    }, LONG);
  }

  // owb reads /api/version before the window: after a stop the real application takes 16-60 s to answer again,
  // and a stop-mode snapshot used to record no version at all.
  it('--quiesce stop: the manifest records the Open WebUI version', () => {
    expect(manifestVersion.stop).toBe(VERSION);
  });
});

describe(`disaster restore of the real Open WebUI ${VERSION} into a brand-new container`, () => {
  it('brings back users, chats, files, the knowledge base and the secret key; old login tokens still work; drill passes', async () => {
    const anon = new OpenWebuiClient(inst.baseUrl);
    const before = await picture(anon, seeded);
    expect(before.towerTop[0]).toContain('Eiffel');
    expect(before.penguinTop[0]).toContain('penguins');
    expect(before.knowledge.files).toHaveLength(2);
    const oldKey = await inst.readSecretKey();
    expect(oldKey).toBeTruthy();
    const r = await runOk(['--json', 'backup', '--container', inst.containerName, '--stop-timeout', '30'], cli);
    const id = (r.json as { snapshot_id: string }).snapshot_id;

    // The host is gone: the old container is stopped; a new one from the same image gets a new empty volume
    // and its own writable layer (so its own, new secret key).
    await inst.stop();
    const fresh = await launcher.container(VERSION);
    expect(fresh.volume).not.toBe(inst.volume);
    expect(await fresh.readSecretKey()).not.toBe(oldKey);
    const freshApi = new OpenWebuiClient(fresh.baseUrl);
    // The tokens issued before the backup mean nothing to the empty instance (so the check after the restore can fail).
    await expect(freshApi.as(seeded.admin).json('GET', '/api/v1/auths/')).rejects.toBeInstanceOf(OpenWebuiApiError);

    const res = await runCli(['restore', id, '--container', fresh.containerName, '--health-timeout', '300'], cli);
    expect(res.code, res.stderr).toBe(0);
    expect(await freshApi.healthy()).toBe(true);
    expect((await freshApi.version()).version).toBe(VERSION);
    expect(await fresh.readSecretKey()).toBe(oldKey);

    // A token issued before the backup still works: the secret key came back with the data.
    const me = await freshApi.as(seeded.admin).json<{ id: string; email: string }>('GET', '/api/v1/auths/');
    expect(me.id).toBe(seeded.admin.id);
    const after = await picture(freshApi, seeded);
    expect(after).toEqual(before);
    expect((await freshApi.as(seeded.bob).fileContent(seeded.blob.id)).equals(seeded.blob.bytes)).toBe(true);
    const texts = Object.values(DOCS);
    for (const [i, f] of seeded.docFileIds.entries()) expect((await freshApi.as(seeded.admin).fileContent(f)).toString('utf8')).toBe(texts[i]);
    // And the users' passwords: a fresh sign-in works.
    expect((await freshApi.signin(seeded.admin.email, seeded.adminPassword)).id).toBe(seeded.admin.id);

    const drill = await runCli(['drill', id], cli);
    expect(drill.code, `${drill.stdout}\n${drill.stderr}`).toBe(0);
  }, 30 * 60_000);
});
