import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { addKey, listKeys } from '../../repo/keys.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';

/** `owb key add|list|remove|passwd`: manage the passwords that open the repository. */
export function registerKey(program: Command, ctx: () => CliContext): void {
  const key = program.command('key').description('manage repository passwords (keys)');
  key
    .command('list')
    .description('list keys; * marks the one that opened the repository')
    .action(async () => {
      const c = ctx();
      const { keys, current } = await c.withRepo('none', async (repo) => ({ keys: await listKeys(repo.backend), current: repo.keyId }));
      if (c.out.json) {
        c.out.printJson(keys.map((k) => ({ ...k, current: k.id === current })));
        return;
      }
      c.out.info(table([['', 'ID', 'Created', 'Host', 'User'], ...keys.map((k) => [k.id === current ? '*' : '', k.id.slice(0, 8), k.created, k.hostname, k.username])]));
    });
  key
    .command('add')
    .description('add a password (the new one comes from --new-password-file, OWB_NEW_PASSWORD(_FILE) or a prompt)')
    .option('--new-password-file <file>', 'file holding the new password')
    .action(async (flags: { newPasswordFile?: string }) => {
      const c = ctx();
      const id = await c.withRepo('shared', async (repo) => addKey(repo.backend, repo.key, await c.newPassword(flags.newPasswordFile)));
      if (c.out.json) c.out.printJson({ id });
      else c.out.info(`added key ${id.slice(0, 8)}`);
    });
  key
    .command('remove')
    .description('remove a key (not the one in use)')
    .argument('<id>', 'key id or unique prefix')
    .action(async (ref: string) => {
      const c = ctx();
      const id = await c.withRepo('exclusive', async (repo) => {
        const hits = (await listKeys(repo.backend)).filter((k) => k.id.startsWith(ref));
        if (hits.length !== 1) throw new UsageError(hits.length === 0 ? `no key ${ref}` : `key id ${ref} is ambiguous`);
        const target = hits[0]!.id;
        if (target === repo.keyId) throw new UsageError('refusing to remove the key that opened the repository; use another password to remove it');
        await repo.backend.remove({ type: 'keys', name: target });
        return target;
      });
      if (c.out.json) c.out.printJson({ removed: id });
      else c.out.info(`removed key ${id.slice(0, 8)}`);
    });
  key
    .command('passwd')
    .description('change the password: adds a key with the new one, then removes the current key')
    .option('--new-password-file <file>', 'file holding the new password')
    .action(async (flags: { newPasswordFile?: string }) => {
      const c = ctx();
      const id = await c.withRepo('exclusive', async (repo) => {
        const added = await addKey(repo.backend, repo.key, await c.newPassword(flags.newPasswordFile));
        // The new key is durable before the old one goes, so a crash never leaves no key at all.
        await repo.backend.remove({ type: 'keys', name: repo.keyId });
        return added;
      });
      if (c.out.json) c.out.printJson({ id });
      else c.out.info(`password changed (new key ${id.slice(0, 8)})`);
    });
}
