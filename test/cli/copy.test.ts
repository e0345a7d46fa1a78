import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, describeTree, diffTrees, makeTemp, runCli, runOk, treeBytes, writePassword, writeRandomFile } from '../support/cli.js';

interface BackupJson {
  snapshot_id: string;
  replicas: { target: string; ok: boolean; snapshot_id?: string; error?: string }[];
}
interface CopyJson {
  copied: { from: string; to: string }[];
  skipped: string[];
  bytes_copied: number;
}
interface SnapJson {
  id: string;
  tree: string;
}

/** Named repositories, `copy_to` replication and `owb copy`, with real local repositories. */
describe('copy and copy_to', () => {
  let dir: string;
  let src: string;
  let config: string;
  const opts = (): { env: Record<string, string> } => ({ env: { OWB_CONFIG: config } });

  beforeAll(async () => {
    dir = await makeTemp('owb-copy-');
    src = join(dir, 'src');
    await mkdir(join(src, 'uploads'), { recursive: true });
    for (let i = 0; i < 6; i++) await writeRandomFile(join(src, 'uploads', `f${i}.bin`), 700_000, `f${i}`);
    await writeFile(join(src, 'notes.txt'), 'hello '.repeat(10_000));
    const pwA = await writePassword(dir, 'password-of-a', 'pw-a');
    const pwB = await writePassword(dir, 'password-of-b', 'pw-b');
    const pwC = await writePassword(dir, 'password-of-c', 'pw-c');
    config = join(dir, 'owb.yaml');
    await writeFile(
      config,
      [
        'default_repository: a',
        'repositories:',
        `  a: { url: ${join(dir, 'repo-a')}, password_file: ${pwA}, copy_to: [nas] }`,
        `  nas: { url: ${join(dir, 'repo-b')}, password_file: ${pwB} }`,
        `  other: { url: ${join(dir, 'repo-c')}, password_file: ${pwC} }`,
        '',
      ].join('\n'),
    );
    await runOk(['init'], opts());
    await runOk(['--repo', 'nas', 'init', '--from', 'a', '--copy-chunker-params'], opts());
    await runOk(['--repo', 'other', 'init'], opts());
  });

  afterAll(cleanupTemp);

  it('replicates every backup to copy_to, uploading only what the replica lacks', async () => {
    const first = (await runOk(['backup', src, '--json'], opts())).json as BackupJson;
    expect(first.replicas).toEqual([{ target: 'nas', ok: true, snapshot_id: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    const nasSnaps = (await runOk(['--repo', 'nas', 'snapshots', '--json'], opts())).json as SnapJson[];
    const aSnaps = (await runOk(['snapshots', '--json'], opts())).json as SnapJson[];
    expect(nasSnaps).toHaveLength(1);
    // Shared content keys: identical tree ids, so the two repositories deduplicate alike.
    expect(nasSnaps[0]!.tree).toBe(aSnaps[0]!.tree);

    const before = await treeBytes(join(dir, 'repo-b'));
    await writeRandomFile(join(src, 'uploads', 'new.bin'), 300_000, 'new');
    await runOk(['backup', src, '--json'], opts());
    // The second copy carried about the new file only: the replica grew by about 300 kB, not 4 MB.
    const growth = (await treeBytes(join(dir, 'repo-b'))) - before;
    expect(growth).toBeGreaterThan(300_000);
    expect(growth).toBeLessThan(450_000);
    const again = (await runOk(['copy', '--from', 'a', '--to', 'nas', '--all', '--json'], opts())).json as CopyJson;
    expect(again.copied).toEqual([]);
    expect(again.skipped).toHaveLength(2);

    const out = join(dir, 'restore-nas');
    await runOk(['--repo', 'nas', 'restore', 'latest', '--target', out], opts());
    expect(diffTrees(await describeTree(src), await describeTree(join(out, src)))).toEqual([]);
    await runOk(['--repo', 'nas', 'check', '--read-data'], opts());
  });

  it('copies into a repository with different keys by re-identifying blobs', async () => {
    const res = (await runOk(['copy', '--from', 'a', '--to', 'other', '--all', '--json'], opts())).json as CopyJson;
    expect(res.copied.length).toBeGreaterThanOrEqual(2);
    expect(res.bytes_copied).toBeGreaterThan(4_000_000);
    const aSnaps = (await runOk(['snapshots', '--json'], opts())).json as SnapJson[];
    const cSnaps = (await runOk(['--repo', 'other', 'snapshots', '--json'], opts())).json as SnapJson[];
    expect(cSnaps.map((s) => s.tree)).not.toContain(aSnaps[0]!.tree);
    const out = join(dir, 'restore-other');
    await runOk(['--repo', 'other', 'restore', 'latest', '--target', out], opts());
    expect(diffTrees(await describeTree(src), await describeTree(join(out, src)))).toEqual([]);
    await runOk(['--repo', 'other', 'check', '--read-data'], opts());
    // Running again copies nothing.
    const none = (await runOk(['copy', '--from', 'a', '--to', 'other', '--all', '--json'], opts())).json as CopyJson;
    expect(none.copied).toEqual([]);
    expect(none.bytes_copied).toBe(0);
  });

  it('reports a failing replica with exit 1 while keeping the snapshot', async () => {
    await writePassword(dir, 'not-the-password', 'pw-b');
    const r = await runCli(['backup', src, '--json'], opts());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/copy to nas failed/);
    const res = r.json as BackupJson;
    expect(res.replicas[0]).toMatchObject({ target: 'nas', ok: false });
    const aSnaps = (await runOk(['snapshots', '--json'], opts())).json as SnapJson[];
    expect(aSnaps.map((s) => s.id)).toContain(res.snapshot_id);
    await writePassword(dir, 'password-of-b', 'pw-b');
  });

  it('rejects a copy_to naming an unknown repository, naming the key', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, `repositories:\n  a: { url: /tmp/x, copy_to: [nowhere] }\n`);
    const r = await runCli(['--repo', 'a', 'snapshots'], { env: { OWB_CONFIG: bad } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/repositories\.a\.copy_to\.0: no repository named "nowhere"/);
  });
});
