/**
 * `unlock --remove-all` used to remove a running backup's lock without a word; a prune could then delete the
 * blobs the backup had deduplicated against, and the backup saved a snapshot referring to them (exit 0, check
 * failing afterwards). Now unlock keeps live local locks unless forced, and a backup re-verifies its lock and the
 * data it reused before it saves a snapshot.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTemp, collect, makeTemp, runCli, runOk, startCli, writePassword, writeRandomFile } from '../support/cli.js';

afterAll(cleanupTemp);

/** Starts a backup that waits at the moment before it saves its snapshot, and resolves once it is there. */
async function backupHeldBeforeCommit(args: string[], cli: { repo: string; passwordFile: string }, holdMs: number) {
  const child = await startCli(args, { ...cli, env: { OWB_FAULT_HOLD_AT: `backup.before-commit:${holdMs}` } });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('owb-test: holding at backup.before-commit')) resolve();
    });
    child.on('exit', () => reject(new Error(`backup ended before reaching the hold point:\n${stderr}`)));
  });
  return child;
}

describe('a running backup and unlock --remove-all', () => {
  it('unlock keeps the lock of a live local backup unless --force', async () => {
    const dir = await makeTemp('owb-locksafe-');
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a\n');
    const cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'pw') };
    await runOk(['init'], cli);
    const backup = await backupHeldBeforeCommit(['backup', src], cli, 8_000);
    const kept = await runCli(['unlock', '--remove-all'], cli);
    expect(kept.code).toBe(1);
    expect(kept.stderr).toMatch(new RegExp(`kept lock [0-9a-f]{8}: process ${backup.pid} is running on this host`));
    expect(await readdir(join(cli.repo, 'locks'))).toHaveLength(1);
    const done = await collect(backup);
    expect(done.code, done.stderr).toBe(0);
  });

  it('a backup whose lock was removed, and whose reused data was pruned meanwhile, saves nothing and exits 11', async () => {
    const dir = await makeTemp('owb-locksafe-');
    const src = join(dir, 'src');
    await mkdir(src);
    await writeRandomFile(join(src, 'big.bin'), 3 * 1024 * 1024, 'reused');
    const cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'pw') };
    await runOk(['init'], cli);
    const first = (await runOk(['backup', src, '--json'], cli)).json as { snapshot_id: string };
    await writeFile(join(src, 'new.txt'), 'new\n');
    // The second backup reuses big.bin's blobs from the first snapshot's packs.
    const backup = await backupHeldBeforeCommit(['backup', src], cli, 6_000);
    await runOk(['unlock', '--remove-all', '--force'], cli);
    await runOk(['forget', first.snapshot_id], cli);
    await runOk(['prune'], cli);
    const r = await collect(backup);
    expect(r.code, r.stderr).toBe(11);
    expect(r.stderr).toMatch(/lost the repository lock: its lock file was removed/);
    // No broken snapshot was saved: the repository holds none, and check passes.
    expect((await runOk(['snapshots', '--json'], cli)).json).toEqual([]);
    await runOk(['check', '--read-data'], cli);
  });
});
