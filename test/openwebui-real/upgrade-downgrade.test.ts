// owb across real Open WebUI releases: a 0.10.2 snapshot restored into a 0.12.4 container is migrated by
// Open WebUI on start and serves all the data; a 0.12.4 snapshot is refused by a 0.10.2 container (its
// migration chain lacks the snapshot's alembic revision) and the target is left as it was; --force restores anyway.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageMigrations } from '../../src/docker/index.js';
import { cleanupTemp, makeTemp, runCli, runOk, type CliOptions } from '../support/cli.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { initRepo } from '../support/repo-setup.js';
import { OpenWebuiClient, OpenWebuiLauncher, realOpenWebui, type ContainerOpenWebui, type RealService } from '../support/openwebui-real/index.js';
import { picture, seed, type Seeded } from '../support/openwebui-real/e2e.js';

const OLD = '0.10.2';
const NEW = '0.12.4';
const LONG = 20 * 60_000;

let svc: RealService;
let fake: FakeOpenAI;
let launcher: OpenWebuiLauncher;
let cli: CliOptions & { repo: string };
let upgraded: ContainerOpenWebui | undefined;
let seeded: Seeded;

function revisionOf(dataDir: string): string {
  const db = new Database(join(dataDir, 'webui.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT version_num FROM alembic_version').get() as { version_num: string }).version_num;
  } finally {
    db.close();
  }
}

async function containerStartedAt(c: ContainerOpenWebui): Promise<string> {
  const docker = await launcher.dockerClient();
  return ((await docker.api.getContainer(c.containerId).inspect()) as { State: { StartedAt: string } }).State.StartedAt;
}

async function snapshotIds(): Promise<string[]> {
  return ((await runOk(['--json', 'snapshots'], cli)).json as { id: string }[]).map((s) => s.id).sort();
}

beforeAll(async () => {
  svc = await realOpenWebui();
  fake = await startFakeOpenAI();
  launcher = new OpenWebuiLauncher(svc, fake);
  const work = await makeTemp('owb-e2e-versions-');
  cli = { ...(await initRepo(work, 'e2e-versions-pw')), cwd: work, env: { DOCKER_HOST: svc.dockerHost }, timeoutMs: LONG };
}, 45 * 60_000);

afterAll(async () => {
  await launcher?.disposeAll();
  await fake?.close();
  await cleanupTemp();
}, 5 * 60_000);

describe('owb restore across real Open WebUI releases (containers)', () => {
  it(`upgrade: a ${OLD} snapshot restored into a ${NEW} container is migrated on start and serves all the data`, async () => {
    const old = await launcher.container(OLD);
    const oldApi = new OpenWebuiClient(old.baseUrl);
    seeded = await seed(oldApi);
    const before = await picture(oldApi, seeded);
    expect(revisionOf(old.dataDir)).toBe(svc.release(OLD).alembicHead);
    const r = await runOk(['--json', 'backup', '--container', old.containerName, '--stop-timeout', '30'], cli);
    const id = (r.json as { snapshot_id: string }).snapshot_id;
    await old.stop();

    upgraded = await launcher.container(NEW);
    const res = await runCli(['restore', id, '--container', upgraded.containerName, '--health-timeout', '300'], cli);
    expect(res.code, res.stderr).toBe(0);
    const api = new OpenWebuiClient(upgraded.baseUrl);
    expect((await api.version()).version).toBe(NEW);
    // Open WebUI ran its migrations on the restored database when it started.
    expect(revisionOf(upgraded.dataDir)).toBe(svc.release(NEW).alembicHead);
    // The old release's tokens still work (secret key restored) and every seeded item is served.
    const after = await picture(api, seeded);
    expect(after).toEqual(before);
    expect((await api.as(seeded.bob).fileContent(seeded.blob.id)).equals(seeded.blob.bytes)).toBe(true);
  }, LONG);

  it(`downgrade: a ${NEW} snapshot is refused by a ${OLD} container, which is left untouched; --force restores it`, async () => {
    expect(upgraded, 'the upgrade test ran').toBeDefined();
    const r = await runOk(['--json', 'backup', '--container', upgraded!.containerName, '--stop-timeout', '30'], cli);
    const id = (r.json as { snapshot_id: string }).snapshot_id;
    await upgraded!.stop();
    const snap = ((await runOk(['--json', 'snapshots'], cli)).json as { id: string; openwebui?: { alembic_revision?: string } }[]).find((s) => s.id === id);
    // What decides it is the real migration chain: the snapshot's revision is 0.12.4's head, absent from 0.10.2's files.
    const newHead = svc.release(NEW).alembicHead;
    expect(snap?.openwebui?.alembic_revision).toBe(newHead);
    const oldMigrations = await readImageMigrations(await launcher.dockerClient(), svc.release(OLD).imageId);
    expect(oldMigrations?.revisions.map((x) => x.revision)).not.toContain(newHead);

    const target = await launcher.container(OLD);
    const api = new OpenWebuiClient(target.baseUrl);
    const admin = await api.signup({ name: 'Target', email: 'target@example.com', password: 'target-pw-1' });
    const marker = await api.as(admin).createChat('Target marker', [{ role: 'user', content: 'still here' }]);
    const keyBefore = await target.readSecretKey();
    const startedBefore = await containerStartedAt(target);
    const snapsBefore = await snapshotIds();

    const refused = await runCli(['restore', id, '--container', target.containerName, '--health-timeout', '300'], cli);
    // README: a refused restore exits 1; the message names the unknown revision and the way out.
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to restore/);
    expect(refused.stderr).toContain(newHead);
    expect(refused.stderr).toMatch(/--force/);
    // Nothing changed: same container run (never stopped), same schema, data, key; no safety snapshot written.
    expect(await containerStartedAt(target)).toBe(startedBefore);
    expect(await api.healthy()).toBe(true);
    expect(revisionOf(target.dataDir)).toBe(svc.release(OLD).alembicHead);
    expect((await api.as(admin).getChat(marker.id)).title).toBe('Target marker');
    expect(await target.readSecretKey()).toBe(keyBefore);
    expect(await snapshotIds()).toEqual(snapsBefore);

    // --force overrides, as documented: the snapshot goes in (after a safety snapshot of the target) with a warning.
    const forced = await runCli(['--json', 'restore', id, '--container', target.containerName, '--health-timeout', '300', '--force'], cli);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/--force/);
    const out = forced.json as { safety_snapshot_id: string | null; secret_key: string };
    expect(out.safety_snapshot_id).toBeTruthy();
    expect(revisionOf(target.dataDir)).toBe(newHead);
    expect(await target.readSecretKey()).not.toBe(keyBefore);
    expect((await api.version()).version).toBe(OLD);
  }, LONG);
});
