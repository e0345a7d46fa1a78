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
    .option('--read-data-subset <n%|k/n>', 'read only some packs: a random n%, or group k of n (n runs cover everything)')
    .action(async (flags: { readData?: boolean; readDataSubset?: string }) => {
      const c = ctx();
      let lastResult: Awaited<ReturnType<typeof runCheck>> | undefined;
      const res = await c.recorded(
        'check',
        (log) =>
          c.withRepo('shared', async (repo) => {
            const done = log.step(flags.readData ? 'check --read-data' : 'check');
            const r = await runCheck(repo, { readData: !!flags.readData, signal: c.abort.signal, ...(flags.readDataSubset ? { readDataSubset: flags.readDataSubset } : {}) });
            lastResult = r;
            done(r.errors.length === 0 ? 'no errors' : { ok: false, detail: `${r.errors.length} error(s): ${r.errors[0]}` });
            if (r.errors.length > 0) throw new OwbError(`check found ${r.errors.length} error(s): ${r.errors[0]}`);
            return r;
          }),
        (r) => ({ summary: `${r.snapshots} snapshots, ${r.packs} packs checked${flags.readData ? ', all data read' : ''}: no errors`, values: { packs: r.packs, blobs: r.blobs } }),
      ).catch((err: unknown) => {
        if (err instanceof OwbError && lastResult) return lastResult;
        throw err;
      });
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
