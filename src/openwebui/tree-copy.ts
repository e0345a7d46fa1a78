import type { BigIntStats } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readlink, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';

/** What a pass copied: relative path → size:mtime at the time it was copied. */
export type CopyState = Map<string, string>;

/**
 * Copies a directory tree file by file. Given the state of an earlier pass, only files whose size or
 * mtime changed (or that are new) are copied again, and files gone from the source are removed: the
 * second, quiesced pass of a two-phase copy, which costs almost nothing when little changed.
 * `skip` leaves out relative paths (the SQLite files, copied through the backup API instead).
 */
export async function copyTreePass(src: string, dst: string, previous: CopyState | undefined, skip: (rel: string) => boolean): Promise<{ state: CopyState; copied: number }> {
  const state: CopyState = new Map();
  let copied = 0;
  const walk = async (rel: string): Promise<void> => {
    const from = join(src, rel);
    const to = join(dst, rel);
    await mkdir(to, { recursive: true, mode: 0o700 });
    const present = new Set<string>();
    for (const name of await readdir(from)) {
      const childRel = rel ? join(rel, name) : name;
      present.add(name);
      if (skip(childRel)) continue;
      let st: BigIntStats;
      try {
        st = await lstat(join(from, name), { bigint: true });
      } catch {
        continue; // deleted while we copied; the quiesced pass settles it
      }
      if (st.isDirectory()) {
        await walk(childRel);
      } else if (st.isSymbolicLink()) {
        await rm(join(to, name), { force: true });
        await symlink(await readlink(join(from, name)), join(to, name));
      } else if (st.isFile()) {
        const sig = `${st.size}:${st.mtimeNs}`;
        state.set(childRel, sig);
        if (previous?.get(childRel) !== sig) {
          await copyFile(join(from, name), join(to, name));
          await copyMeta(st, join(to, name));
          copied++;
        }
      }
    }
    await copyMeta(await lstat(from, { bigint: true }), to);
    if (previous) {
      for (const name of await readdir(to)) {
        const childRel = rel ? join(rel, name) : name;
        // Skipped names (the SQLite copies made through the backup API) are not this pass's to remove.
        if (!present.has(name) && !skip(childRel)) await rm(join(to, name), { recursive: true, force: true });
      }
    }
  };
  await walk('');
  return { state, copied };
}

/** Gives a staged copy the mode and mtime of its original, so the snapshot records the original's. */
export async function copyMeta(st: BigIntStats, to: string): Promise<void> {
  await chmod(to, Number(st.mode & 0o7777n));
  const t = Number(st.mtimeNs) / 1e9;
  await utimes(to, t, t);
}
