// owb against the real Open WebUI 0.12.4 as a pip install (`open-webui serve`, no Docker): a backup of
// the live data folder while the API writes, restored into a fresh data folder, serves the same data from a
// new process that uses the restored secret key.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, runCli, runOk, type CliOptions } from '../support/cli.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { initRepo } from '../support/repo-setup.js';
import { ChatWriter, missingWrites, OpenWebuiClient, OpenWebuiLauncher, realOpenWebui, type RealService } from '../support/openwebui-real/index.js';
import { picture, seed } from '../support/openwebui-real/e2e.js';

const VERSION = '0.12.4';
const LONG = 20 * 60_000;

let svc: RealService;
let fake: FakeOpenAI;
let launcher: OpenWebuiLauncher;
let cli: CliOptions & { repo: string };

beforeAll(async () => {
  svc = await realOpenWebui();
  fake = await startFakeOpenAI();
  launcher = new OpenWebuiLauncher(svc, fake);
  const work = await makeTemp('owb-e2e-proc-');
  cli = { ...(await initRepo(work, 'e2e-process-pw')), cwd: work, timeoutMs: LONG };
}, 45 * 60_000);

afterAll(async () => {
  await launcher?.disposeAll();
  await fake?.close();
  await cleanupTemp();
}, 5 * 60_000);

describe(`owb --source on the real Open WebUI ${VERSION} (pip install, plain process)`, () => {
  it('backs up a running instance under writes; a new process on the restored folder and key serves the same data', async () => {
    const inst = await launcher.process(VERSION);
    const api = new OpenWebuiClient(inst.baseUrl);
    const seeded = await seed(api);
    const key = await inst.readSecretKey();
    expect(key).toBeTruthy();

    const writer = new ChatWriter(api.as(seeded.bob), { mode: 'message', prefix: 'w-proc', intervalMs: 10 });
    await writer.start();
    let id: string;
    let startedAt: number;
    try {
      const deadline = Date.now() + 60_000;
      while (writer.acked.length < 5 && Date.now() < deadline) await sleep(50);
      expect(writer.acked.length).toBeGreaterThanOrEqual(5);
      startedAt = Date.now();
      // A pip install keeps .webui_secret_key in the working directory of `open-webui serve`, not next to the data folder.
      const r = await runOk(['--json', 'backup', '--source', inst.dataDir, '--secret-key-file', inst.secretKeyPath], cli);
      id = (r.json as { snapshot_id: string }).snapshot_id;
      const n = writer.acked.length;
      while (writer.acked.length <= n && Date.now() < deadline + 60_000) await sleep(50);
    } finally {
      await writer.stop();
    }
    expect(writer.failed).toEqual([]);
    const snaps = (await runOk(['--json', 'snapshots'], cli)).json as { id: string; openwebui?: { secret_key: { captured: boolean }; version?: string } }[];
    expect(snaps.find((s) => s.id === id)?.openwebui?.secret_key.captured).toBe(true);
    // No quiesce instant exists for a plain folder: a write acknowledged before the backup started is the
    // lower bound of what the snapshot must hold.
    const mustHave = writer.ackedBefore(startedAt);
    expect(mustHave.length).toBeGreaterThanOrEqual(5);
    const before = await picture(api, seeded);
    await inst.stop();

    // A fresh folder: data/ for Open WebUI, and the key where owb puts it by default (next to data/).
    const root = await makeTemp('owb-e2e-proc-restore-');
    const dataDir = join(root, 'data');
    await mkdir(dataDir);
    const res = await runCli(['--json', 'restore', id, '--source', dataDir], cli);
    expect(res.code, res.stderr).toBe(0);
    const out = res.json as { rewritten_paths: number; secret_key: string };
    // The data folder moved, so every upload's file.path was rewritten to the new folder.
    expect(out.rewritten_paths).toBe(3);
    expect(out.secret_key).toBe('restored');
    const keyFile = join(root, '.webui_secret_key');
    expect(existsSync(keyFile)).toBe(true);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key!.trim());

    const db = new Database(join(dataDir, 'webui.db'), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const paths = (db.prepare('SELECT path FROM file').all() as { path: string }[]).map((x) => x.path);
      for (const p of paths) expect(p.startsWith(`${dataDir}/uploads/`)).toBe(true);
    } finally {
      db.close();
    }
    expect(missingWrites(join(dataDir, 'webui.db'), mustHave)).toEqual([]);

    // A new process on the restored folder, with the restored key (the launcher's own folders hold nothing).
    const next = await launcher.process(VERSION, { env: { DATA_DIR: dataDir, WEBUI_SECRET_KEY: readFileSync(keyFile, 'utf8').trim() } });
    const nextApi = new OpenWebuiClient(next.baseUrl);
    // Tokens issued before the backup still work, and the API serves the same data.
    expect((await picture(nextApi, seeded))).toEqual(before);
    expect((await nextApi.as(seeded.bob).fileContent(seeded.blob.id)).equals(seeded.blob.bytes)).toBe(true);
    expect((await nextApi.signin(seeded.bob.email, seeded.bobPassword)).id).toBe(seeded.bob.id);
    await next.stop();
  }, LONG);
});
