// The stand-in image itself: what other tests rely on it to look like (DESIGN.md §4).
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirOf, findContainer } from '../../src/docker/index.js';
import { dockerCli, runStandin, standin, stats, waitFor, type Standin, type StandinContainer } from './standin.js';

let s: Standin;
const made: StandinContainer[] = [];

beforeAll(async () => {
  s = await standin();
});

afterAll(async () => {
  // Newest first: a container sharing another's volume must go before the volume's owner removes it.
  for (const c of made.reverse()) await c.remove();
});

function sql(c: StandinContainer, query: string): string {
  return dockerCli(s, ['exec', c.id, 'sqlite3', '/app/backend/data/webui.db', query]).trim();
}

describe('stand-in image', () => {
  it('lays out an Open WebUI data directory and keeps writing', async () => {
    const c = await runStandin(s);
    made.push(c);
    await waitFor(async () => ((await stats(c.port))?.files ?? 0) >= 1, 10_000, 'a first upload');
    expect(sql(c, 'PRAGMA journal_mode')).toBe('wal');
    expect(sql(c, 'SELECT version_num FROM alembic_version')).toBe(s.env.STANDIN_HEAD_LATEST);
    expect(sql(c, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").split('\n')).toEqual(
      expect.arrayContaining(['alembic_version', 'chat', 'file', 'user']),
    );
    const path = sql(c, 'SELECT path FROM file LIMIT 1');
    expect(path).toMatch(/^\/app\/backend\/data\/uploads\/[0-9a-f-]{36}_note-\d+\.txt$/);

    const dir = dataDirOf(await findContainer(s.client, c.id))!.hostPath;
    expect(existsSync(join(dir, path.replace('/app/backend/data/', '')))).toBe(true);
    expect(existsSync(join(dir, 'webui.db-wal'))).toBe(true);
    expect(existsSync(join(dir, 'audit.log'))).toBe(true);
    const vec = join(dir, 'vector_db');
    const seg = readdirSync(vec).find((n) => /^[0-9a-f-]{36}$/.test(n))!;
    expect(readdirSync(join(vec, seg)).sort()).toEqual(
      ['data_level0.bin', 'header.bin', 'length.bin', 'link_lists.bin'].sort(),
    );
    expect(existsSync(join(vec, 'chroma.sqlite3'))).toBe(true);
    const link = join(dir, 'cache', 'embedding', 'models', 'standin-model', 'model.bin');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('blobs/0f1e2d');

    const a = (await stats(c.port))!.chats;
    await waitFor(async () => (await stats(c.port))!.chats > a + 10, 5_000, 'more chats');
  });

  it('exits cleanly on SIGTERM: exit code 0 and the WAL checkpointed away', async () => {
    const c = await runStandin(s);
    made.push(c);
    await s.client.api.getContainer(c.id).stop({ t: 10 });
    const info = await s.client.api.getContainer(c.id).inspect();
    expect(info.State.ExitCode).toBe(0);
    const dir = dataDirOf(await findContainer(s.client, c.id))!.hostPath;
    expect(existsSync(join(dir, 'webui.db'))).toBe(true);
    expect(existsSync(join(dir, 'webui.db-wal'))).toBe(false);
    expect(dockerCli(s, ['logs', c.id])).toContain('stopped cleanly');
  });

  it('the old tag has an older version and head, and leaves a newer database revision alone', async () => {
    const newer = await runStandin(s);
    made.push(newer);
    await s.client.api.getContainer(newer.id).stop({ t: 10 });
    // The old image on the newer image's volume: starts without complaint, as Open WebUI does.
    const older = await runStandin(s, { image: s.env.STANDIN_IMAGE_OLD!, volume: newer.volume });
    made.push(older);
    const v = (await (await fetch(`http://127.0.0.1:${older.port}/api/version`)).json()) as { version: string };
    expect(v.version).toBe(s.env.STANDIN_VERSION_OLD);
    expect(await stats(older.port)).toMatchObject({ head: s.env.STANDIN_HEAD_OLD, revision: s.env.STANDIN_HEAD_LATEST });
  });
});
