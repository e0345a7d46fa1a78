/**
 * The alembic revisions an image knows, read from its migration files. A database whose revision is not
 * among them was written by a newer release, which this image would open without complaint and break.
 */
import { posix } from 'node:path';
import { readImagePath } from './archive.js';
import type { DockerClient } from './client.js';

/** Where Open WebUI keeps its alembic migrations in the image. */
export const OPENWEBUI_MIGRATIONS_DIR = '/app/backend/open_webui/migrations/versions';

/** One migration file. */
export interface AlembicRevision {
  readonly revision: string;
  /** Parents: empty for the first revision, two or more for a merge. */
  readonly downRevisions: readonly string[];
  /** File name, for messages. */
  readonly file: string;
}

/** All revisions of an image and its head(s). */
export interface ImageMigrations {
  readonly revisions: readonly AlembicRevision[];
  /** Revisions no other revision builds on; normally exactly one. */
  readonly heads: readonly string[];
}

const REVISION = /^revision\s*(?::[^=\n]*)?=\s*(["'])([^"'\n]+)\1/m;
const DOWN = /^down_revision\s*(?::[^=\n]*)?=\s*(.*)$/m;

/**
 * Parses `revision = "…"` and `down_revision = …` (None, a string, or a tuple/list, with or without a type
 * annotation) from a migration file. Undefined when the file declares no revision.
 */
export function parseRevisionFile(text: string): { revision: string; downRevisions: string[] } | undefined {
  const rev = REVISION.exec(text);
  if (rev === null) return undefined;
  const down = DOWN.exec(text);
  let value = down?.[1] ?? 'None';
  const open = value.trimStart()[0];
  if (down !== null && (open === '(' || open === '[')) {
    // A multi-line tuple: take everything up to its closing bracket.
    const start = down.index + down[0].length - down[1]!.length;
    const close = text.indexOf(open === '(' ? ')' : ']', start);
    value = text.slice(start, close === -1 ? undefined : close + 1);
  }
  value = value.replace(/#.*$/gm, '');
  const downRevisions = [...value.matchAll(/(["'])([^"'\n]+)\1/g)].map((m) => m[2]!);
  return { revision: rev[2]!, downRevisions };
}

/** Revisions that no other revision names as a parent. */
export function alembicHeads(revisions: readonly AlembicRevision[]): string[] {
  const parents = new Set(revisions.flatMap((r) => r.downRevisions));
  return revisions
    .map((r) => r.revision)
    .filter((r) => !parents.has(r))
    .sort();
}

/**
 * Reads the migrations of an image (without running it). Undefined when the image has no such directory,
 * which is the case for images that are not Open WebUI.
 */
export async function readImageMigrations(
  client: DockerClient,
  image: string,
  dir: string = OPENWEBUI_MIGRATIONS_DIR,
): Promise<ImageMigrations | undefined> {
  const files = await readImagePath(client, image, dir);
  if (files === undefined) return undefined;
  const revisions: AlembicRevision[] = [];
  for (const f of files) {
    // Only the directory's own files: not __pycache__ or nested helpers.
    const parts = f.path.split('/');
    if (parts.length !== 2 || !f.path.endsWith('.py')) continue;
    const parsed = parseRevisionFile(f.data.toString('utf8'));
    if (parsed) revisions.push({ ...parsed, file: posix.basename(f.path) });
  }
  revisions.sort((a, b) => a.file.localeCompare(b.file));
  return { revisions, heads: alembicHeads(revisions) };
}
