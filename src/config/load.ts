import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../errors.js';
import { ConfigSchema, type OwbConfig } from './schema.js';

/** Candidate config files, first found wins: ./owb.yaml, $XDG_CONFIG_HOME/owb/config.yaml, /etc/owb/config.yaml. */
export function defaultConfigPaths(env: NodeJS.ProcessEnv): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return ['owb.yaml', join(xdg, 'owb', 'config.yaml'), '/etc/owb/config.yaml'];
}

/**
 * Loads and validates the config. An explicit path (flag or OWB_CONFIG) must exist; default locations may
 * be absent, in which case an empty config is returned. Errors name the bad key.
 */
export async function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<OwbConfig> {
  const path = explicit ?? env.OWB_CONFIG;
  const candidates = path ? [path] : defaultConfigPaths(env);
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !path) continue;
      throw new UsageError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseConfig(text, file);
  }
  return ConfigSchema.parse({});
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
