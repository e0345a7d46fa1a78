/**
 * The secret key of a plain (pip) install through the real CLI: key files end in a newline or not
 * (`start.sh` writes 16 chars and a newline, `open-webui serve` 32 chars without), and a deployment that also
 * sets WEBUI_SECRET_KEY to the same key must not be warned about a difference that is only that newline.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { owbWorld, type RestoreJson } from '../support/openwebui.js';
import { useStandin } from '../support/standin-suite.js';

// Only for the world's DOCKER_HOST; no container is used here.
const { s } = useStandin();

describe('secret key of a plain folder', () => {
  it('restore with WEBUI_SECRET_KEY equal to the key file but for its newline: no warning; a different key: warned', async () => {
    const w = await owbWorld(s);
    const dir = join(w.dir, 'owui', 'data');
    await mkdir(join(dir, 'uploads'), { recursive: true });
    await writeFile(join(dir, 'uploads', 'f1_a.txt'), 'an upload\n');
    const key = 'aB3dE5fG7hJ9kL1m'; // as start.sh makes it: 16 chars, then a newline
    await writeFile(join(w.dir, 'owui', '.webui_secret_key'), `${key}\n`);
    await w.ok(['backup', '--source', dir]);

    const same = await w.ok(['restore', 'latest', '--source', dir, '--json', '--no-safety-snapshot'], { WEBUI_SECRET_KEY: key });
    expect((same.json as RestoreJson).secret_key).toBe('restored');
    expect(same.stderr).not.toMatch(/WEBUI_SECRET_KEY/);

    const other = await w.ok(['restore', 'latest', '--source', dir, '--json', '--no-safety-snapshot'], { WEBUI_SECRET_KEY: 'another-key' });
    expect(other.stderr).toMatch(/sets WEBUI_SECRET_KEY in its environment/);
    expect(other.stderr).not.toContain(key);
  });
});
