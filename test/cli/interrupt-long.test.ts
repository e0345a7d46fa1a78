/**
 * SIGINT reaches every long command: it stops at its next safe point with exit 130 (the contract), and the
 * repository stays intact. Before, check, prune, forget --prune and copy never looked at the signal: they printed
 * "stopping safely" and then went on to exit 0; a drill reported the interruption as a failed restore (exit 1).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, collect, makeTemp, runOk, startCli, writePassword, writeRandomFile } from '../support/cli.js';

afterAll(cleanupTemp);

type Cli = { repo: string; passwordFile: string };

/** Runs `args` held at `point`, sends SIGINT once it is there, and returns the result. */
async function interruptedAt(point: string, args: string[], cli: Cli) {
  const child = await startCli(args, { ...cli, env: { OWB_FAULT_HOLD_AT: `${point}:3000` } });
  const done = collect(child, 120_000);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes(`owb-test: holding at ${point}`)) resolve();
    });
    child.on('exit', () => reject(new Error(`ended before ${point}:\n${err}`)));
  });
  child.kill('SIGINT');
  return done;
}

describe('SIGINT during long commands', () => {
  let dir: string;
  let cli: Cli;
  let other: Cli;

  beforeAll(async () => {
    dir = await makeTemp('owb-int-');
    const src = join(dir, 'src');
    await mkdir(src);
    for (let i = 0; i < 4; i++) await writeRandomFile(join(src, `f${i}.bin`), 2 * 1024 * 1024, `int${i}`);
    cli = { repo: join(dir, 'repo'), passwordFile: await writePassword(dir, 'pw') };
    other = { repo: join(dir, 'other'), passwordFile: cli.passwordFile };
    await runOk(['init'], cli);
    await runOk(['init'], other);
    await runOk(['backup', src], cli);
    await writeFile(join(src, 'f0.bin'), 'changed');
    await runOk(['backup', src], cli);
  });

  it.each<[string, string, string[], 'repo' | 'other']>([
    ['check --read-data', 'check.walk', ['check', '--read-data'], 'repo'],
    ['restore', 'restore.files', ['restore', 'latest', '--target', 'TARGET'], 'repo'],
    ['drill', 'restore.files', ['drill', 'latest'], 'repo'],
    ['copy', 'copy.snapshots', ['copy', '--all', '--from', 'FROM'], 'other'],
    ['forget --prune', 'prune.rewrite', ['forget', '--keep-last', '1', '--prune'], 'repo'],
  ])('%s exits 130 and leaves the repository intact', async (_name, point, args, into) => {
    const target = join(dir, `t-${point}`);
    const argv = args.map((a) => (a === 'TARGET' ? target : a === 'FROM' ? cli.repo : a));
    const r = await interruptedAt(point, argv, into === 'other' ? other : cli);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT received, stopping safely/);
    await runOk(['check', '--read-data'], cli);
    await runOk(['check', '--read-data'], other);
  });
});
