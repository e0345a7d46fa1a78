import { lstat } from 'node:fs/promises';

/** True when something (even a dangling symlink) is at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
