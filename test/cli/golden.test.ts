/**
 * Golden repositories: one per format version, written once by the owb of that version
 * (test/fixtures/golden/make-golden.mjs) and never regenerated. Every later owb must list, check and restore
 * them exactly, so a format change that breaks old repositories fails here.
 */
import { createHash } from 'node:crypto';
import { cp, lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nameFromBytes, nameToBytes } from '../../src/repo/names.js';
import { cleanupTemp, makeTemp, PROJECT_ROOT, runOk, writePassword } from '../support/cli.js';

interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime_ns: string;
  size?: number;
  sha256?: string;
  linktarget?: string;
}
interface Golden {
  format_version: number;
  password: string;
  snapshots: { id: string; root: string; entries: Entry[] }[];
}

const GOLDEN = join(PROJECT_ROOT, 'test', 'fixtures', 'golden');
const versions = (await readdir(GOLDEN)).filter((d) => /^v\d+$/.test(d)).sort();

afterAll(cleanupTemp);

describe.each(versions)('golden repository %s', (version) => {
  it('is listed, checked with --read-data and restored exactly, entry by entry', async () => {
    const golden = JSON.parse(await readFile(join(GOLDEN, version, 'expected.json'), 'utf8')) as Golden;
    const dir = await makeTemp('owb-golden-');
    // A copy: owb writes lock files, and the fixture must stay as it was committed.
    const repo = join(dir, 'repo');
    await cp(join(GOLDEN, version, 'repo'), repo, { recursive: true });
    const cli = { repo, passwordFile: await writePassword(dir, golden.password) };

    const listed = (await runOk(['snapshots', '--json'], cli)).json as { id: string; tags: string[] }[];
    expect(listed.map((s) => s.id)).toEqual(golden.snapshots.map((s) => s.id));
    await runOk(['check', '--read-data'], cli);

    for (const snap of golden.snapshots) {
      const target = join(dir, `restore-${snap.id.slice(0, 8)}`);
      await runOk(['restore', snap.id, '--target', target], cli);
      const base = join(target, snap.root);
      const actual: Entry[] = [];
      for (const e of snap.entries) {
        // Paths as bytes: names that are not UTF-8 are stored escaped (format 2).
        const p = Buffer.concat([Buffer.from(base), nameToBytes(e.path)]);
        const st = await lstat(p, { bigint: true });
        const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
        const got: Entry = { path: e.path, type, mode: Number(st.mode & 0o7777n), mtime_ns: st.mtimeNs.toString() };
        if (type === 'file') {
          got.size = Number(st.size);
          got.sha256 = createHash('sha256').update(await readFile(p)).digest('hex');
        }
        if (type === 'symlink') got.linktarget = nameFromBytes(await readlink(p, { encoding: 'buffer' }));
        actual.push(got);
      }
      // A symlink's own mode is not settable on Linux (chmod follows links); its recorded mode is not compared.
      // Times are restored exact to the microsecond, the finest that Node's utimes passes on (docs: §19).
      const micros = (ns: string): string => (BigInt(ns) / 1000n - (BigInt(ns) < 0n && BigInt(ns) % 1000n !== 0n ? 1n : 0n)).toString();
      const comparable = (list: Entry[]): Entry[] => list.map((e) => ({ ...e, mode: e.type === 'symlink' ? 0 : e.mode, mtime_ns: micros(e.mtime_ns) }));
      expect(comparable(actual)).toEqual(comparable(snap.entries));
      // Nothing restored that the snapshot does not hold.
      const names = async (d: string, rel = ''): Promise<string[]> => {
        const out: string[] = [];
        for (const raw of await readdir(d, { encoding: 'buffer' })) {
          const n = nameFromBytes(raw);
          out.push(`${rel}/${n}`);
          if ((await lstat(Buffer.concat([Buffer.from(`${d}/`), raw]))).isDirectory()) out.push(...(await names(join(d, n), `${rel}/${n}`)));
        }
        return out;
      };
      expect((await names(base)).sort()).toEqual(snap.entries.map((e) => e.path).sort());
    }
  });
});
