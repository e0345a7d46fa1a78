import type { Command } from 'commander';
import { OwbError } from '../../errors.js';
import { runCheck } from '../../jobs/check.js';
import type { CliContext } from '../context.js';

/** `owb check [--read-data]`: verify the repository. */
export function registerCheck(program: Command, ctx: () => CliContext): void {
  program
    .command('check')
    .description('verify the repository structure; --read-data also reads and verifies every byte')
    .option('--read-data', 'download every pack and verify every blob')
    .action(async (flags: { readData?: boolean }) => {
      const c = ctx();
      const res = await c.withRepo('shared', (repo) => runCheck(repo, { readData: !!flags.readData }));
      if (c.out.json) {
        c.out.printJson({ ok: res.errors.length === 0, errors: res.errors, warnings: res.warnings, snapshots: res.snapshots, packs: res.packs, blobs: res.blobs, packs_read: res.packsRead });
      } else {
        for (const w of res.warnings) c.out.warn(w);
        for (const e of res.errors) process.stderr.write(`error: ${e}\n`);
        c.out.info(`checked ${res.snapshots} snapshots, ${res.packs} packs, ${res.blobs} blobs${flags.readData ? `, read ${res.packsRead} packs` : ''}`);
        if (res.errors.length === 0) c.out.info('no errors found');
      }
      if (res.errors.length > 0) throw new OwbError(`check found ${res.errors.length} error(s): the repository is damaged`);
    });
}
