import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { Repository, type InitOptions } from '../../repo/repository.js';
import type { CliContext } from '../context.js';

interface InitFlags {
  from?: string;
  fromPasswordFile?: string;
  copyChunkerParams?: boolean;
}

/** `owb init`: create a repository. */
export function registerInit(program: Command, ctx: () => CliContext): void {
  program
    .command('init')
    .description('create a new, empty repository (refuses if one exists)')
    .option('--from <repo>', 'another repository (config name or URL) to take parameters from')
    .option('--from-password-file <file>', 'password file of --from (default: its config password_file)')
    .option('--copy-chunker-params', 'use the chunker parameters and blob-id key of --from, so copies between them deduplicate')
    .action(async (flags: InitFlags) => {
      const c = ctx();
      if (flags.copyChunkerParams && !flags.from) throw new UsageError('--copy-chunker-params needs --from');
      let opts: InitOptions = {};
      if (flags.from && flags.copyChunkerParams) {
        const src = await c.resolveRepo(flags.from);
        opts = await c.withRepoAt(src, 'none', async (repo) => ({ chunker: repo.chunkerParams, contentKeysFrom: repo.key }), flags.fromPasswordFile);
      }
      const target = await c.repoTarget();
      const backend = await c.backend();
      try {
        const repo = await Repository.init(backend, await c.password(target, true), opts);
        if (c.out.json) c.out.printJson({ id: repo.config.id, location: backend.location, version: repo.config.version });
        else c.out.info(`created owb repository ${repo.config.id.slice(0, 10)} at ${backend.location}\n\nKeep the password safe: without it the data cannot be read, by you or anyone.`);
      } finally {
        await backend.close();
      }
    });
}
