import type { Command } from 'commander';
import { DamagedRepoError } from '../../errors.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';

/** `owb snapshots`: list snapshots. */
export function registerSnapshots(program: Command, ctx: () => CliContext): void {
  program
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--host <name>', 'only snapshots of this host')
    .option('--tag <tag>', 'only snapshots with this tag')
    .action(async (flags: { host?: string; tag?: string }) => {
      const c = ctx();
      const { snapshots: all, damaged } = await c.withRepo('none', (repo) => loadSnapshots(repo));
      // Damage is never hidden: listed, warned about, and the exit code says so.
      const damageError = damaged.length > 0 ? new DamagedRepoError(`${damaged.length} snapshot(s) cannot be read (damaged): run owb check`) : undefined;
      for (const d of damaged) c.out.warn(`snapshot ${d.id.slice(0, 8)} cannot be read (damaged): ${d.error}`);
      const snaps = all.filter((s) => (!flags.host || s.hostname === flags.host) && (!flags.tag || s.tags.includes(flags.tag)));
      if (c.out.json) {
        const rows: unknown[] = snaps.map((s) => ({
          id: s.id,
          short_id: s.id.slice(0, 8),
          time: s.time,
          hostname: s.hostname,
          paths: s.paths,
          tags: s.tags,
          ...(s.parent ? { parent: s.parent } : {}),
          tree: s.tree,
          ...(s.summary ? { summary: s.summary } : {}),
          ...(s.openwebui !== undefined ? { openwebui: s.openwebui } : {}),
        }));
        c.out.printJson([...rows, ...damaged.map((d) => ({ id: d.id, short_id: d.id.slice(0, 8), damaged: true, error: d.error }))]);
        if (damageError) throw damageError;
        return;
      }
      if (snaps.length === 0) {
        c.out.info('no snapshots');
        if (damageError) throw damageError;
        return;
      }
      // Open WebUI snapshots also show what a restore decision needs: version, schema revision, downtime.
      const owui = snaps.some((s) => s.openwebui !== undefined);
      const rows = [['ID', 'Time', 'Host', 'Tags', ...(owui ? ['Open WebUI', 'Schema', 'Downtime', 'Unavailable'] : []), 'Paths']];
      for (const s of snaps) {
        const m = s.openwebui as { version?: string; alembic_revision?: string; quiesce?: { mode?: string; downtime_s?: number; unavailable_s?: number | null } } | undefined;
        const extra = owui
          ? [m?.version ?? (m ? '?' : ''), m?.alembic_revision ?? (m ? '?' : ''), m?.quiesce ? `${(m.quiesce.downtime_s ?? 0).toFixed(2)} s ${m.quiesce.mode ?? ''}`.trim() : '', unavailableCell(m?.quiesce)]
          : [];
        rows.push([s.id.slice(0, 8), s.time.replace('T', ' ').slice(0, 19), s.hostname, s.tags.join(','), ...extra, s.paths.join(', ')]);
      }
      c.out.info(table(rows));
      c.out.info(`${snaps.length} snapshot${snaps.length === 1 ? '' : 's'}${damaged.length > 0 ? `, ${damaged.length} damaged` : ''}`);
      if (damageError) throw damageError;
    });
}

/** Until /health answered again after the window; `?` when it did not in time, blank when never recorded. */
function unavailableCell(q: { unavailable_s?: number | null } | undefined): string {
  if (!q || q.unavailable_s === undefined) return '';
  return q.unavailable_s === null ? '?' : `${q.unavailable_s.toFixed(2)} s`;
}
