import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

/**
 * Reads a setting that may be given directly (NAME) or as a file (NAME_FILE, as Docker secrets are).
 * Trailing newlines in files are dropped, as every secrets file has one.
 */
export async function secretFromEnv(env: NodeJS.ProcessEnv, name: string): Promise<string | undefined> {
  const file = env[`${name}_FILE`];
  if (file) return readSecretFile(file, `${name}_FILE`);
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Reads a password file as the bytes it holds, less one trailing newline (`\n` or `\r\n`), as editors and
 * `echo` leave one. Bytes, not text: a binary password must not be decoded (and flattened) as UTF-8.
 */
export async function readPasswordFile(path: string, setting: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${setting} (${path}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const end = bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? bytes.length - 2 : bytes.length - 1) : bytes.length;
  return bytes.subarray(0, end);
}

/** Reads a secret file; the error names the setting, never the content. */
export async function readSecretFile(path: string, setting: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(`cannot read ${setting} (${path}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
