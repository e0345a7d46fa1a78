import type { Command } from 'commander';
import { runKeyList, runKeyPasswd, runKeyRemove } from '../../jobs/keys.js';
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
      const { keys, current } = await c.withRepo('none', runKeyList);
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
      const id = await c.withRepo('shared', async (repo) => repo.addKey(await c.newPassword(flags.newPasswordFile)));
      if (c.out.json) c.out.printJson({ id });
      else c.out.info(`added key ${id.slice(0, 8)}`);
    });
  key
    .command('remove')
    .description('remove a key (not the one in use)')
    .argument('<id>', 'key id or unique prefix')
    .action(async (ref: string) => {
      const c = ctx();
      const id = await c.withRepo('exclusive', (repo) => runKeyRemove(repo, ref));
      if (c.out.json) c.out.printJson({ removed: id });
      else c.out.info(`removed key ${id.slice(0, 8)}`);
    });
  key
    .command('passwd')
    .description('change the password: adds a key with the new one, then removes the current key')
    .option('--new-password-file <file>', 'file holding the new password')
    .action(async (flags: { newPasswordFile?: string }) => {
      const c = ctx();
      const id = await c.withRepo('exclusive', async (repo) => runKeyPasswd(repo, await c.newPassword(flags.newPasswordFile)));
      if (c.out.json) c.out.printJson({ id });
      else c.out.info(`password changed (new key ${id.slice(0, 8)})`);
    });
}
