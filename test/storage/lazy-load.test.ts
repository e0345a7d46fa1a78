import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeTemp, PRELOAD_NODE_OPTION, runCli, writePassword, writeRandomFile } from '../support/cli.js';

/**
 * Heavy SDKs load only for the backends that need them: the built CLI runs with a module resolve hook that
 * writes down every module it loads, and a local backup must not have touched the AWS SDK or ssh2.
 */
describe('network clients load lazily', () => {
  let dir: string;
  let register: string;

  beforeAll(async () => {
    dir = await makeTemp('owb-lazy-');
    await writeFile(
      join(dir, 'hook.mjs'),
      [
        "import { appendFileSync } from 'node:fs';",
        'export async function resolve(specifier, context, next) {',
        '  const r = await next(specifier, context);',
        "  appendFileSync(process.env.OWB_TEST_MODULE_LOG, r.url + '\\n');",
        '  return r;',
        '}',
      ].join('\n'),
    );
    register = join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hook.mjs')).href)});\n`);
  });

  afterAll(cleanupTemp);

  /** Runs owb and returns the URLs of the modules it loaded. */
  async function modulesOf(args: string[], env: Record<string, string>): Promise<{ code: number | null; modules: string[] }> {
    const log = join(dir, `modules-${Math.random().toString(36).slice(2)}.log`);
    await writeFile(log, '');
    const r = await runCli(args, {
      env: { ...env, NODE_OPTIONS: `${PRELOAD_NODE_OPTION} --import=${pathToFileURL(register).href}`, OWB_TEST_MODULE_LOG: log },
    });
    return { code: r.code, modules: (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '') };
  }

  it('a local init, backup and restore load neither the AWS SDK nor ssh2', async () => {
    const src = join(dir, 'src');
    await mkdir(src);
    await writeRandomFile(join(src, 'a.bin'), 100_000, 'lazy');
    const env = { OWB_REPOSITORY: join(dir, 'repo'), OWB_PASSWORD_FILE: await writePassword(dir, 'lazy') };
    for (const args of [['init'], ['backup', src], ['restore', 'latest', '--target', join(dir, 'out')]]) {
      const { code, modules } = await modulesOf(args, env);
      expect(code).toBe(0);
      expect(modules.some((m) => m.endsWith('/storage/local.js'))).toBe(true);
      expect(modules.filter((m) => /@aws-sdk|ssh2/.test(m))).toEqual([]);
    }
  });

  it('an s3: or sftp: repository does load its client (so the check above can see one)', async () => {
    const password = await writePassword(dir, 'lazy', 'pw2');
    const s3 = await modulesOf(['snapshots'], {
      OWB_REPOSITORY: 's3:http://127.0.0.1:9/bucket',
      OWB_PASSWORD_FILE: password,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-secret',
    });
    expect(s3.code).toBe(1);
    expect(s3.modules.some((m) => m.includes('@aws-sdk/client-s3'))).toBe(true);
    const sftp = await modulesOf(['snapshots'], { OWB_REPOSITORY: 'sftp://u@127.0.0.1:9//srv/repo', OWB_PASSWORD_FILE: password, OWB_SFTP_PASSWORD: 'x' });
    expect(sftp.code).toBe(1);
    expect(sftp.modules.some((m) => m.includes('ssh2'))).toBe(true);
  });
});
