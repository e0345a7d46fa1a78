import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../errors.js';
import { defaultConfigPaths, findConfigFile, loadConfig, parseConfig } from './load.js';

/** The UsageError that `fn` throws (fails the test when it throws nothing or something else). */
function usageErrorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseConfig', () => {
  it('accepts an empty file as the empty config', () => {
    for (const text of ['', '# only a comment\n']) {
      const cfg = parseConfig(text, 'c.yaml');
      expect(cfg.repositories).toEqual({});
      expect(cfg.default_repository).toBeUndefined();
    }
  });

  it('parses named repositories and the default', () => {
    const cfg = parseConfig(
      ['default_repository: nas', 'repositories:', '  nas:', '    url: /srv/backup', '    password_file: /run/secrets/pw', '  b2:', '    url: s3:https://s3.example/bucket'].join('\n'),
      'c.yaml',
    );
    // toMatchObject: later sections add defaulted keys (e.g. copy_to) that this test does not pin down.
    expect(cfg).toMatchObject({
      default_repository: 'nas',
      repositories: { nas: { url: '/srv/backup', password_file: '/run/secrets/pw' }, b2: { url: 's3:https://s3.example/bucket' } },
    });
  });

  it('names the file and the bad key for an unknown top-level key', () => {
    const err = usageErrorOf(() => parseConfig('repositorys: {}\n', '/etc/owb/config.yaml'));
    expect(err.message).toContain('/etc/owb/config.yaml');
    expect(err.message).toContain('repositorys');
    expect(err.exitCode).toBe(ExitCode.Usage);
  });

  it('names the nested key that is missing or wrong', () => {
    expect(usageErrorOf(() => parseConfig('repositories:\n  nas: {}\n', 'c.yaml')).message).toContain('repositories.nas.url');
    expect(usageErrorOf(() => parseConfig('repositories:\n  nas:\n    url: 42\n', 'c.yaml')).message).toContain('repositories.nas.url');
    expect(usageErrorOf(() => parseConfig('repositories:\n  nas:\n    url: ""\n', 'c.yaml')).message).toContain('repositories.nas.url');
    expect(usageErrorOf(() => parseConfig('repositories:\n  nas:\n    url: /x\n    pasword_file: y\n', 'c.yaml')).message).toMatch(
      /repositories\.nas.*pasword_file/,
    );
    expect(usageErrorOf(() => parseConfig('default_repository: 7\n', 'c.yaml')).message).toContain('default_repository');
  });

  it('names the repositories key for a bad repository name, and says what a name may hold', () => {
    const err = usageErrorOf(() => parseConfig('repositories:\n  "bad name":\n    url: /x\n', 'c.yaml'));
    expect(err.message).toContain('repositories');
    expect(err.message).toMatch(/letters, digits/);
  });

  it('reports YAML syntax errors in one line, naming the file', () => {
    const err = usageErrorOf(() => parseConfig('repositories: [unclosed\n  - x: {\n', 'broken.yaml'));
    expect(err.message).toContain('broken.yaml is not valid YAML');
    expect(err.message).not.toContain('\n');
  });

  it('refuses a top level that is not a mapping', () => {
    expect(usageErrorOf(() => parseConfig('- a\n- b\n', 'list.yaml')).message).toContain('list.yaml');
    expect(usageErrorOf(() => parseConfig('just a string\n', 'str.yaml')).message).toContain('(top level)');
  });
});

describe('loadConfig', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('looks in ./owb.yaml, then $XDG_CONFIG_HOME/owb/config.yaml, then /etc/owb/config.yaml', () => {
    expect(defaultConfigPaths({ XDG_CONFIG_HOME: '/xdg' })).toEqual(['owb.yaml', '/xdg/owb/config.yaml', '/etc/owb/config.yaml']);
    expect(defaultConfigPaths({ HOME: '/home/u' })[1]).toMatch(/\.config\/owb\/config\.yaml$/);
  });

  it('loads an explicit path, and OWB_CONFIG when no path is given', async () => {
    const file = join(dir, 'explicit.yaml');
    await writeFile(file, 'default_repository: /srv/one\n');
    expect((await loadConfig(file, {})).default_repository).toBe('/srv/one');
    expect((await loadConfig(undefined, { OWB_CONFIG: file })).default_repository).toBe('/srv/one');
  });

  it('prefers the flag over OWB_CONFIG', async () => {
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, 'default_repository: /from/flag\n');
    await writeFile(b, 'default_repository: /from/env\n');
    expect((await loadConfig(a, { OWB_CONFIG: b })).default_repository).toBe('/from/flag');
  });

  it('fails with a usage error when an explicit config does not exist', async () => {
    const missing = join(dir, 'missing.yaml');
    await expect(loadConfig(missing, {})).rejects.toThrow(UsageError);
    await expect(loadConfig(undefined, { OWB_CONFIG: missing })).rejects.toThrow(/cannot read config .*missing\.yaml: ENOENT/);
  });

  it('reads the XDG config when present, and names it in validation errors', async () => {
    const xdg = join(dir, 'xdg');
    await mkdir(join(xdg, 'owb'), { recursive: true });
    const file = join(xdg, 'owb', 'config.yaml');
    await writeFile(file, 'surprise: true\n');
    // ./owb.yaml comes first; this only holds while the working directory has none (the project root has none).
    await expect(loadConfig(undefined, { XDG_CONFIG_HOME: xdg })).rejects.toThrow(new RegExp(`${file}: .*surprise`));
    await writeFile(file, 'default_repository: /from/xdg\n');
    expect((await loadConfig(undefined, { XDG_CONFIG_HOME: xdg })).default_repository).toBe('/from/xdg');
  });
});

describe('findConfigFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-config-find-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('names the file loadConfig reads, absolute: the flag, then OWB_CONFIG, then the first default present', async () => {
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, 'default_repository: /a\n');
    await writeFile(b, 'default_repository: /b\n');
    expect(await findConfigFile(a, { OWB_CONFIG: b })).toBe(a);
    expect(await findConfigFile(undefined, { OWB_CONFIG: b })).toBe(b);
    const xdg = join(dir, 'xdg');
    await mkdir(join(xdg, 'owb'), { recursive: true });
    const file = join(xdg, 'owb', 'config.yaml');
    // As above: only while the working directory has no owb.yaml.
    expect(await findConfigFile(undefined, { XDG_CONFIG_HOME: xdg })).toBe((await stat('/etc/owb/config.yaml').catch(() => undefined)) ? '/etc/owb/config.yaml' : undefined);
    await writeFile(file, 'default_repository: /from/xdg\n');
    expect(await findConfigFile(undefined, { XDG_CONFIG_HOME: xdg })).toBe(file);
    expect((await loadConfig(undefined, { XDG_CONFIG_HOME: xdg })).default_repository).toBe('/from/xdg');
  });

  it('is undefined for a missing explicit file or a folder, where loadConfig fails', async () => {
    const missing = join(dir, 'missing.yaml');
    expect(await findConfigFile(missing, {})).toBeUndefined();
    expect(await findConfigFile(dir, {})).toBeUndefined();
    await expect(loadConfig(dir, {})).rejects.toThrow(/cannot read config .*: EISDIR/);
  });
});
