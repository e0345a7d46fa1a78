import type { Command } from 'commander';
import { listSnapshotEntries } from '../../jobs/ls.js';
import { resolveSnapshot } from '../../repo/snapshot.js';
import { displayName } from '../../repo/names.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';

/** `owb ls <snapshot> [path]`: list a snapshot's files. */
export function registerLs(program: Command, ctx: () => CliContext): void {
  program
    .command('ls')
    .description('list the files in a snapshot')
    .argument('<snapshot>', 'snapshot id (or a unique prefix) or "latest"')
    .argument('[path]', 'only this path and what is below it', '/')
    .action(async (ref: string, under: string) => {
      const c = ctx();
      const entries = await c.withRepo('none', async (repo) => {
        const snap = await resolveSnapshot(repo, ref, { onWarning: (m) => c.out.warn(m) });
        return listSnapshotEntries(repo, snap, under);
      });
      if (c.out.json) {
        c.out.printJson(entries);
        return;
      }
      for (const e of entries) {
        const mode = e.mode.toString(8).padStart(4, '0');
        const kind = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-';
        const size = e.type === 'file' ? formatBytes(e.size ?? 0) : '';
        // Bytes that are not UTF-8 show as \xNN (the JSON keeps them as the format stores them).
        const name = e.type === 'symlink' ? `${displayName(e.path)} -> ${displayName(e.linktarget ?? '')}` : displayName(e.path);
        c.out.info(`${kind}${mode}  ${size.padStart(11)}  ${e.mtime.slice(0, 19).replace('T', ' ')}  ${name}`);
      }
    });
}
