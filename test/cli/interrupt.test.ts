import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, collect, runCli, runOk, startCli, writeRandomFile, type CliOptions } from '../support/cli.js';
import { initRepoWithSource } from '../support/repo-setup.js';

const MiB = 1024 * 1024;

/** Waits until `dir` holds at least one entry (the backup's lock file), so the signal lands mid-run. */
async function waitForEntry(dir: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await readdir(dir)).length > 0) return;
    await sleep(10);
  }
  throw new Error(`nothing appeared in ${dir} within ${timeoutMs} ms`);
}

describe('an interrupted backup', () => {
  let src: string;
  let cli: CliOptions;

  beforeAll(async () => {
    ({ src, cli } = await initRepoWithSource({
      prefix: 'owb-interrupt-',
      password: 'interrupt',
      fill: async (dir) => {
        // Several files, so the interrupt can land between files as well as inside one.
        for (let i = 0; i < 6; i++) await writeRandomFile(join(dir, `part-${i}.bin`), 50 * MiB, `interrupt-${i}`);
      },
    }));
  });
  afterAll(cleanupTemp);

  it('exits 130 on SIGINT, leaves no lock, and the repository checks clean; the next backup completes', async () => {
    const child = await startCli(['backup', src], cli);
    const done = collect(child, 60_000);
    await waitForEntry(join(cli.repo!, 'locks'), 30_000);
    await sleep(300);
    expect(child.exitCode, 'the backup finished before it could be interrupted').toBeNull();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT/);
    expect(await readdir(join(cli.repo!, 'locks'))).toEqual([]);
    expect((await runOk(['--json', 'snapshots'], cli)).json).toEqual([]);
    // Saves in flight were either completed or cleaned up: no half-written temp files.
    const leftovers = (await readdir(cli.repo!, { recursive: true })).filter((p) => basename(p).startsWith('.tmp-'));
    expect(leftovers).toEqual([]);

    const check = await runCli(['check'], cli);
    expect(check.code, check.stderr).toBe(0);

    const again = await runOk(['--json', 'backup', src], cli);
    expect(again.json).toMatchObject({ files_new: 6 });
    expect((await runCli(['check', '--read-data'], cli)).code).toBe(0);
    expect((await runOk(['--json', 'snapshots'], cli)).json).toHaveLength(1);
  });
});
