/** Disk checks: the log folder is writable, and there is room to stage a consistent copy. */
import { randomBytes } from 'node:crypto';
import { lstat, readdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { messageOf, type DoctorItem } from './types.js';

/** Staging needs the database and vector store plus this much headroom. */
export const STAGING_HEADROOM = 1.2;

/** 1536 → "1.5 KiB". */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Judges free staging space against the database and vector store it must hold. */
export function stagingItem(dir: string, freeBytes: number, dataBytes: number): DoctorItem {
  const need = Math.ceil(dataBytes * STAGING_HEADROOM);
  const detail = `${formatSize(freeBytes)} free at ${dir}; a backup stages about ${formatSize(need)} (webui.db + vector_db + ${Math.round((STAGING_HEADROOM - 1) * 100)}%)`;
  if (freeBytes < need) return { name: 'staging space', status: 'FAIL', detail, fix: 'free space there, or set source.staging_dir to a folder on a larger disk' };
  return { name: 'staging space', status: 'PASS', detail };
}

/** The folder itself, or its nearest existing ancestor when it does not exist yet. */
async function nearestExisting(dir: string): Promise<string> {
  let p = resolve(dir);
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(p) === p) throw err;
      p = dirname(p);
    }
  }
}

/** Creates and removes a temp file in the folder (or where owb would create it). */
export async function writableItem(name: string, dir: string, setting: string): Promise<DoctorItem> {
  const fix = `create it and give the user that runs owb write access, or set ${setting}`;
  try {
    const at = await nearestExisting(dir);
    if (!(await stat(at)).isDirectory()) return { name, status: 'FAIL', detail: `${at} is not a folder`, fix };
    const probe = join(at, `.owb-doctor-${randomBytes(6).toString('hex')}`);
    await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
    await unlink(probe);
    return { name, status: 'PASS', detail: at === resolve(dir) ? `${dir} is writable` : `${dir} does not exist yet; owb will create it (${at} is writable)` };
  } catch (err) {
    return { name, status: 'FAIL', detail: `${dir}: cannot write (${messageOf(err)})`, fix };
  }
}

/** Bytes a backup stages: webui.db plus the whole vector_db folder (apparent sizes). */
async function stagedBytes(dataDir: string): Promise<number> {
  let total = (await lstat(join(dataDir, 'webui.db')).catch(() => undefined))?.size ?? 0;
  const vec = join(dataDir, 'vector_db');
  for (const e of await readdir(vec, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await lstat(join(e.parentPath, e.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Judges the staging folder's free space against what the data folder would stage (WARN without a readable data folder). */
export async function stagingSpace(stagingDir: string, dataDir: string | undefined): Promise<DoctorItem> {
  if (!dataDir) return { name: 'staging space', status: 'WARN', detail: 'not checked: no readable data folder', fix: 'fix the data folder first' };
  try {
    const at = await nearestExisting(stagingDir);
    const fs = await statfs(at);
    return stagingItem(stagingDir, fs.bavail * fs.bsize, await stagedBytes(dataDir));
  } catch (err) {
    return { name: 'staging space', status: 'FAIL', detail: `${stagingDir}: ${messageOf(err)}`, fix: 'set source.staging_dir to a folder owb can use' };
  }
}
