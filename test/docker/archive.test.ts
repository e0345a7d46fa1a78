import { describe, expect, it } from 'vitest';
import {
  ImageNotFoundError,
  alembicHeads,
  parseRevisionFile,
  readContainerFile,
  readContainerPath,
  readImageMigrations,
  readImagePath,
  writeContainerFile,
} from '../../src/docker/index.js';
import { useStandinContainer } from '../support/standin-suite.js';
import { dockerCli } from './standin.js';

const KEY = '/app/backend/.webui_secret_key';
const { s, c } = useStandinContainer();

/** Reads a file inside the running container with the docker CLI and python3 (no cat in the image). */
function catInContainer(path: string): string {
  return dockerCli(s, ['exec', c.id, 'python3', '-c', `import sys; sys.stdout.write(open(${JSON.stringify(path)}).read())`]);
}

function modeInContainer(path: string): number {
  const out = dockerCli(s, ['exec', c.id, 'python3', '-c', `import os; print(os.stat(${JSON.stringify(path)}).st_mode & 0o7777)`]);
  return Number(out.trim());
}

describe('container files', () => {
  it('reads the secret key (outside the volume) equal to the file in the container and in the image', async () => {
    const key = await readContainerFile(s.client, c.id, KEY);
    expect(key).toBeDefined();
    // Made as Open WebUI's start.sh makes it: 12 random bytes, base64, a newline.
    expect(key!.toString()).toMatch(/^[A-Za-z0-9+/]{16}\n$/);
    expect(key!.toString()).toBe(catInContainer(KEY));
    const fromImage = await readImagePath(s.client, s.env.STANDIN_IMAGE_LATEST!, KEY);
    expect(fromImage).toEqual([{ path: '.webui_secret_key', mode: 0o600, data: key }]);
    // A fresh key per build: the old image has another one.
    const oldKey = await readImagePath(s.client, s.env.STANDIN_IMAGE_OLD!, KEY);
    expect(oldKey![0]!.data.equals(key!)).toBe(false);
  });

  it('returns undefined for a missing file and refuses a directory or an oversized file', async () => {
    expect(await readContainerFile(s.client, c.id, '/app/backend/no-such-file')).toBeUndefined();
    await expect(readContainerFile(s.client, c.id, '/app/backend/open_webui')).rejects.toThrow(/not a regular file/);
    await expect(readContainerFile(s.client, c.id, '/app/standin.py', { maxBytes: 100 })).rejects.toThrow(/larger than 100/);
  });

  it('writes a file back with mode 0600 and root owner, replacing the old one, also into a stopped container', async () => {
    const original = (await readContainerFile(s.client, c.id, KEY))!;
    const replacement = Buffer.from('restored-key-value\n');
    await writeContainerFile(s.client, c.id, KEY, replacement);
    expect(catInContainer(KEY)).toBe('restored-key-value\n');
    expect(modeInContainer(KEY)).toBe(0o600);
    const owner = dockerCli(s, ['exec', c.id, 'python3', '-c', `import os; st=os.stat(${JSON.stringify(KEY)}); print(st.st_uid, st.st_gid)`]);
    expect(owner.trim()).toBe('0 0');

    await s.client.api.getContainer(c.id).stop({ t: 5 });
    try {
      await writeContainerFile(s.client, c.id, KEY, original, { mode: 0o640 });
      expect((await readContainerFile(s.client, c.id, KEY))!.equals(original)).toBe(true);
    } finally {
      await s.client.api.getContainer(c.id).start();
    }
    expect(modeInContainer(KEY)).toBe(0o640);
  });

  it('reads a whole directory with paths relative to its parent', async () => {
    const files = await readContainerPath(s.client, c.id, '/app/backend/open_webui/migrations');
    const names = files!.map((f) => f.path).sort();
    expect(names).toContain('migrations/versions/af906e964978_add_feedback_table.py');
    expect(names.every((n) => n.startsWith('migrations/'))).toBe(true);
  });
});

describe('image migrations', () => {
  it('reads every revision and the head from the latest image', async () => {
    const m = await readImageMigrations(s.client, s.env.STANDIN_IMAGE_LATEST!);
    expect(m).toBeDefined();
    expect(m!.heads).toEqual([s.env.STANDIN_HEAD_LATEST]);
    expect(m!.revisions.map((r) => r.revision).sort()).toEqual(s.env.STANDIN_REVISIONS_LATEST!.split(',').sort());
    const init = m!.revisions.find((r) => r.revision === '7e5b5dc7342b');
    expect(init).toEqual({ revision: '7e5b5dc7342b', downRevisions: [], file: '7e5b5dc7342b_init.py' });
    expect(m!.revisions.find((r) => r.revision === 'ca81bd47c050')!.downRevisions).toEqual(['7e5b5dc7342b']);
  });

  it('reads fewer revisions and an older head from the "old" image', async () => {
    const m = await readImageMigrations(s.client, s.env.STANDIN_IMAGE_OLD!);
    expect(m!.heads).toEqual([s.env.STANDIN_HEAD_OLD]);
    const revs = m!.revisions.map((r) => r.revision);
    expect(revs.sort()).toEqual(s.env.STANDIN_REVISIONS_OLD!.split(',').sort());
    // The newer head is unknown to the old image: the downgrade check's premise.
    expect(revs).not.toContain(s.env.STANDIN_HEAD_LATEST);
  });

  it('leaves no throwaway container behind, and says when an image has no migrations or does not exist', async () => {
    const base = dockerCli(s, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', 'owb-test/standin-base']).trim().split('\n')[0]!;
    expect(await readImageMigrations(s.client, base)).toBeUndefined();
    await expect(readImageMigrations(s.client, 'owb-test/no-such-image:1')).rejects.toBeInstanceOf(ImageNotFoundError);
    // Only this test's own throwaways (from the base image): other test files read other images at the same time.
    const leftovers = await s.client.api.listContainers({ all: true, filters: { label: ['owb.purpose=read-image'], ancestor: [base] } });
    expect(leftovers).toEqual([]);
  });
});

describe('parseRevisionFile', () => {
  it('handles typed and plain assignments, None, merges and multi-line tuples', () => {
    expect(parseRevisionFile('revision: str = "abc"\ndown_revision: Union[str, None] = None\n')).toEqual({
      revision: 'abc',
      downRevisions: [],
    });
    expect(parseRevisionFile("revision = 'b2'\ndown_revision = 'b1'  # parent\n")).toEqual({ revision: 'b2', downRevisions: ['b1'] });
    expect(parseRevisionFile('revision = "m"\ndown_revision = ("x", "y")\n')!.downRevisions).toEqual(['x', 'y']);
    expect(parseRevisionFile('revision = "m"\ndown_revision = (\n    "x",\n    "y",\n)\nbranch_labels = ("z",)\n')!.downRevisions).toEqual([
      'x',
      'y',
    ]);
    // Docstrings mention "Revision ID:" and "Revises:"; only real assignments count.
    expect(parseRevisionFile('"""Revision ID: nope\nRevises: none"""\n')).toBeUndefined();
  });

  it('finds heads, including two after a branch', () => {
    const r = (revision: string, ...downRevisions: string[]) => ({ revision, downRevisions, file: `${revision}.py` });
    expect(alembicHeads([r('a'), r('b', 'a'), r('c', 'b')])).toEqual(['c']);
    expect(alembicHeads([r('a'), r('b', 'a'), r('c', 'a')])).toEqual(['b', 'c']);
    expect(alembicHeads([r('a'), r('b', 'a'), r('c', 'a'), r('m', 'b', 'c')])).toEqual(['m']);
  });
});
