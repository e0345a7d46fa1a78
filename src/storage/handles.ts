import { NotFoundError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';

/** Every object type that lives in a folder of its own (all but `config`). */
export const FOLDER_TYPES = ['keys', 'index', 'snapshots', 'locks', 'data'] as const;

/** Prefix of in-flight uploads; list() hides every dot-name, so readers only ever see complete objects. */
export const TMP_PREFIX = '.tmp-';

/** True for the types stored under a folder of their own; guards against casts from untyped input. */
export function isFolderType(type: string): boolean {
  return (FOLDER_TYPES as readonly string[]).includes(type);
}

/** A short, stable label for an object, used in error messages. */
export function handleLabel(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}

/**
 * Rejects handles that could escape the repository folder or collide with temp files. Names come from
 * hashes in practice, so anything odd here is a caller bug, not user input.
 */
export function checkHandle(h: Handle): void {
  if (h.type === 'config') {
    if (h.name !== '') throw new TypeError(`the config object must be addressed with name '', got '${h.name}'`);
    return;
  }
  if (!isFolderType(h.type)) throw new TypeError(`unknown object type '${String(h.type)}'`);
  const bad =
    h.name === '' ||
    h.name.startsWith('.') ||
    /[/\\\0]/.test(h.name) ||
    (h.type === 'data' && h.name.length < 2);
  if (bad) throw new TypeError(`invalid object name '${h.name}' for type ${h.type}`);
}

/** Validates offset/length for load(), so a bad range is a clear error instead of a strange read. */
export function checkRange(offset: number, length: number | undefined): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`invalid offset ${offset}`);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) throw new RangeError(`invalid length ${length}`);
}

/**
 * Where an object lives below the repository root, with `/` separators, the same on every backend:
 * `config`, `<type>/<name>`, or `data/<name[0..2]>/<name>` (256 folders keep data listings short). Validates `h`.
 */
export function objectPath(h: Handle): string {
  checkHandle(h);
  if (h.type === 'config') return 'config';
  if (h.type === 'data') return `data/${h.name.slice(0, 2)}/${h.name}`;
  return `${h.type}/${h.name}`;
}

/** A label for progress and retry messages, with long ids shortened: `save data/ab12cd34…`. */
export function operationLabel(op: string, h?: Handle | FileType): string {
  if (h === undefined) return op;
  if (typeof h === 'string') return `${op} ${h}`;
  const name = h.name.length > 16 ? `${h.name.slice(0, 8)}…` : h.name;
  return h.type === 'config' ? `${op} config` : `${op} ${h.type}/${name}`;
}

/** stat() that answers undefined for a missing object instead of throwing NotFoundError. */
export async function statIfExists(backend: Pick<Backend, 'stat'>, h: Handle): Promise<FileInfo | undefined> {
  try {
    return await backend.stat(h);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** exists() for backends whose cheapest existence check is a stat (all but the in-memory one). */
export async function existsByStat(backend: Pick<Backend, 'stat'>, h: Handle): Promise<boolean> {
  return (await statIfExists(backend, h)) !== undefined;
}
