import type { Command } from 'commander';
import { Repository } from '../../repo/repository.js';
import type { CliContext } from '../context.js';

/** `owb init`: create a repository. */
export function registerInit(program: Command, ctx: () => CliContext): void {
  program
    .command('init')
    .description('create a new, empty repository (refuses if one exists)')
    .action(async () => {
      const c = ctx();
      const target = await c.repoTarget();
      const backend = await c.backend();
      try {
        const repo = await Repository.init(backend, await c.password(target, true));
        if (c.out.json) c.out.printJson({ id: repo.config.id, location: backend.location, version: repo.config.version });
        else c.out.info(`created owb repository ${repo.config.id.slice(0, 10)} at ${backend.location}\n\nKeep the password safe: without it the data cannot be read, by you or anyone.`);
      } finally {
        await backend.close();
      }
    });
}
