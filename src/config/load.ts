import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../errors.js';
import { ConfigSchema, type OwbConfig } from './schema.js';

/** Candidate config files, first found wins: ./owb.yaml, $XDG_CONFIG_HOME/owb/config.yaml, /etc/owb/config.yaml. */
export function defaultConfigPaths(env: NodeJS.ProcessEnv): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return ['owb.yaml', join(xdg, 'owb', 'config.yaml'), '/etc/owb/config.yaml'];
}

/**
 * The file loadConfig reads, as given: the explicit path (flag, else OWB_CONFIG) whether or not it exists,
 * else the first default candidate that is there. Undefined when no default candidate is.
 */
async function configFileToRead(explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const given = explicit ?? env.OWB_CONFIG;
  if (given) return given;
  for (const file of defaultConfigPaths(env)) {
    // Anything but "not there" (a folder, no permission) is the user's file, and reading it reports why it fails.
    const missing = await stat(file).then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
    if (!missing) return file;
  }
  return undefined;
}

/** The config file in use, as loadConfig picks it (absolute), or undefined when there is none. */
export async function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const file = await configFileToRead(explicit, env);
  if (file === undefined) return undefined;
  return (await stat(file).catch(() => undefined))?.isFile() ? resolve(file) : undefined;
}

/**
 * Loads and validates the config. An explicit path (flag or OWB_CONFIG) must exist; default locations may
 * be absent, in which case an empty config is returned. Errors name the bad key.
 */
export async function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<OwbConfig> {
  const file = await configFileToRead(explicit, env);
  if (file === undefined) return ConfigSchema.parse({});
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, file);
}

/** Parses YAML text into a validated config. */
export function parseConfig(text: string, file: string): OwbConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new UsageError(`config ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    // zod reports a bad record key as "Invalid key in record"; the schema's own words are nested inside.
    const nested = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
    throw new UsageError(`config ${file}: ${key}: ${nested ?? issue.message}`);
  }
  return result.data;
}
