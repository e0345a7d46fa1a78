import type { Command } from 'commander';
import { join } from 'node:path';
import { OwbError } from '../../errors.js';
import { runDrill, type DrillResult } from '../../jobs/drill.js';
import { stateDirOf } from '../../jobs/source.js';
import { resolveSnapshot } from '../../repo/snapshot.js';
import type { CliContext } from '../context.js';

/** `owb drill [snapshot]`: prove a backup restores and works. */
export function registerDrill(program: Command, ctx: () => CliContext): void {
  program
    .command('drill')
    .description('restore a snapshot into a scratch folder and prove it works (blobs, integrity_check, row counts, uploads, secret key)')
    .argument('[snapshot]', 'snapshot id (or a unique prefix) or "latest"', 'latest')
    .option('--scratch-dir <dir>', 'where to restore (default: in the state folder); removed afterwards')
    .action(async (ref: string, flags: { scratchDir?: string }) => {
      const c = ctx();
      const stateDir = stateDirOf(await c.config(), c.env);
      let last: DrillResult | undefined;
      const res = await c
        .recorded(
          'drill',
          (log) =>
            c.withRepo('shared', async (repo) => {
              const snap = await resolveSnapshot(repo, ref, { onWarning: (m) => c.out.warn(m) });
              c.out.progress(`drilling snapshot ${snap.id.slice(0, 8)}`, true);
              const done = log.step(`drill ${snap.id.slice(0, 8)}`);
              const r = await runDrill(repo, snap, { scratchRoot: flags.scratchDir ?? join(stateDir, 'drill'), stateDir, signal: c.abort.signal });
              last = r;
              done(r.ok ? 'ok' : { ok: false, detail: r.checks.filter((ch) => !ch.ok).map((ch) => `${ch.name}: ${ch.detail}`).join('; ') });
              if (!r.ok) throw new OwbError(`drill failed: ${r.checks.find((ch) => !ch.ok)!.name}`);
              return r;
            }),
          (r) => ({ summary: `snapshot ${r.snapshotId.slice(0, 8)} restores and works`, values: { snapshot_id: r.snapshotId } }),
        )
        .catch((err: unknown) => {
          // A failed drill still prints its report below, then exits non-zero.
          if (err instanceof OwbError && last) return last;
          throw err;
        });
      c.out.clearProgress();
      if (c.out.json) {
        c.out.printJson({ snapshot_id: res.snapshotId, ok: res.ok, checks: res.checks, duration_s: res.durationS });
      } else {
        c.out.info(`drill of snapshot ${res.snapshotId.slice(0, 8)}:`);
        for (const ch of res.checks) c.out.info(`  ${ch.ok ? 'PASS' : 'FAIL'}  ${ch.name}: ${ch.detail}`);
        c.out.info(res.ok ? 'the backup restores and works' : 'the drill FAILED: this backup would not restore cleanly');
      }
      if (!res.ok) throw new OwbError(`drill failed: ${res.checks.find((ch) => !ch.ok)!.name}`);
    });
}
