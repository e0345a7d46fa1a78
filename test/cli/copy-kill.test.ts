/**
 * kill -9 of `owb copy` after every single write (lock, packs, index, snapshot, in either repository): the
 * destination holds each snapshot whole or not at all, both repositories check clean, and the next copy completes.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, describeTree, diffTrees, makeTemp, runCli, runOk, writePassword, writeRandomFile } from '../support/cli.js';

afterAll(cleanupTemp);

describe('copy killed at every write', () => {
  let dir: string;
  let src: string;
  let from: string;
  let emptyTo: string;
  let pw: string;

  beforeAll(async () => {
    dir = await makeTemp('owb-copy-kill-');
    pw = await writePassword(dir, 'pw');
    src = join(dir, 'data');
    await mkdir(src);
    from = join(dir, 'from');
    emptyTo = join(dir, 'to-empty');
    await runOk(['init'], { repo: from, passwordFile: pw });
    await runOk(['init'], { repo: emptyTo, passwordFile: pw });
    for (let i = 0; i < 3; i++) {
      await writeRandomFile(join(src, `f${i}.bin`), 1024 * 1024, `copy-kill-${i}`);
      await writeFile(join(src, `note${i}.txt`), `snapshot ${i}\n`);
      await runOk(['backup', src], { repo: from, passwordFile: pw });
    }
  });

  it('leaves whole snapshots or none, checkable repositories, and a copy that completes when run again', async () => {
    const sources = (await runOk(['snapshots', '--json'], { repo: from, passwordFile: pw })).json as { id: string }[];
    expect(sources).toHaveLength(3);
    const expected = await describeTree(src);
    let completed = false;
    let kills = 0;
    for (let k = 1; k <= 60 && !completed; k++) {
      const to = join(dir, `to-${k}`);
      await cp(emptyTo, to, { recursive: true });
      const r = await runCli(['copy', '--all', '--from', from], { repo: to, passwordFile: pw, env: { OWB_FAULT_KILL_AFTER_WRITES: String(k) } });
      if (r.code === 0) completed = true;
      else {
        expect(r.signal, `copy killed after ${k} writes: ${r.stderr}`).toBe('SIGKILL');
        kills++;
      }
      // Every snapshot listed in the destination is whole: check --read-data passes and it restores.
      await runOk(['check', '--read-data'], { repo: to, passwordFile: pw });
      await runOk(['check'], { repo: from, passwordFile: pw });
      const copied = (await runOk(['snapshots', '--json'], { repo: to, passwordFile: pw })).json as { id: string }[];
      for (const s of copied) await runOk(['restore', s.id, '--target', join(dir, `r-${k}-${s.id.slice(0, 8)}`)], { repo: to, passwordFile: pw });
      // The next copy completes the job; the newest snapshot restores equal to the source data.
      await runOk(['copy', '--all', '--from', from], { repo: to, passwordFile: pw });
      expect((await runOk(['snapshots', '--json'], { repo: to, passwordFile: pw })).json).toHaveLength(3);
      const out = join(dir, `latest-${k}`);
      await runOk(['restore', 'latest', '--target', out], { repo: to, passwordFile: pw });
      expect(diffTrees(expected, await describeTree(join(out, src)))).toEqual([]);
      await rm(to, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    }
    expect(completed).toBe(true);
    expect(kills).toBeGreaterThanOrEqual(10);
  }, 900_000);
});
