import { join } from 'node:path';
import { displayName, hasEscapedBytes, nameFromBytes, nameToBytes } from './names.js';

/** A path on disk: a string while every component is valid UTF-8, the raw bytes once one is not. */
export type FsPath = string | Buffer;

/** The path of `name` (a tree name, escaped per repo/names.ts) inside `dir`. */
export function childPath(dir: FsPath, name: string): FsPath {
  if (typeof dir === 'string' && !hasEscapedBytes(name)) return join(dir, name);
  const d = typeof dir === 'string' ? Buffer.from(dir, 'utf8') : dir;
  return Buffer.concat([d, d.at(-1) === 0x2f ? Buffer.alloc(0) : Buffer.from('/'), nameToBytes(name)]);
}

/** A path for messages and progress: bytes that are not UTF-8 shown as \xNN. */
export function shown(p: FsPath): string {
  return typeof p === 'string' ? p : displayName(nameFromBytes(p));
}
