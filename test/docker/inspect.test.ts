import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ContainerNotFoundError,
  DockerUnreachableError,
  connectDocker,
  dataDirOf,
  findContainer,
  parseDockerHost,
} from '../../src/docker/index.js';
import { useStandinContainer } from '../support/standin-suite.js';
import { runStandin, waitFor } from './standin.js';

const { s, c } = useStandinContainer({ env: { OWB_TEST_MARK: 'a=b=c', EMPTY_ONE: '' } });

describe('findContainer', () => {
  it('finds a running container by name and by id, with state, image, env and mounts', async () => {
    const byName = await findContainer(s.client, c.name);
    const byId = await findContainer(s.client, c.id.slice(0, 12));
    expect(byName.id).toBe(c.id);
    expect(byId.name).toBe(c.name);
    expect(byName.state).toBe('running');
    expect(byName.image).toBe(s.env.STANDIN_IMAGE_LATEST);
    expect(byName.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The image's env merged with the container's; values may contain '=' and may be empty.
    expect(byName.env.PORT).toBe(String(c.port));
    expect(byName.env.OWB_TEST_MARK).toBe('a=b=c');
    expect(byName.env.EMPTY_ONE).toBe('');
    expect(byName.env.WEBUI_SECRET_KEY).toBe('');
    expect(byName.networkMode).toBe('host');
    const mount = byName.mounts.find((m) => m.destination === '/app/backend/data');
    expect(mount).toMatchObject({ type: 'volume', name: c.volume, rw: true });
  });

  it('reports exited and paused states', async () => {
    const api = s.client.api.getContainer(c.id);
    await api.pause();
    try {
      expect((await findContainer(s.client, c.id)).state).toBe('paused');
    } finally {
      await api.unpause();
    }
    await api.stop({ t: 5 });
    try {
      expect((await findContainer(s.client, c.id)).state).toBe('exited');
    } finally {
      await api.start();
    }
    expect((await findContainer(s.client, c.id)).state).toBe('running');
  });

  it('throws ContainerNotFoundError for an unknown name', async () => {
    await expect(findContainer(s.client, 'owbtest-no-such-container')).rejects.toBeInstanceOf(ContainerNotFoundError);
  });
});

describe('dataDirOf', () => {
  it('resolves a named volume to its mountpoint on the host, where the live database is', async () => {
    const info = await findContainer(s.client, c.id);
    const dir = dataDirOf(info);
    expect(dir).toBeDefined();
    expect(dir!.containerPath).toBe('/app/backend/data');
    expect(dir!.mount.name).toBe(c.volume);
    const mountpoint = (await s.client.api.getVolume(c.volume).inspect()).Mountpoint;
    expect(dir!.hostPath).toBe(mountpoint);
    expect(existsSync(join(dir!.hostPath, 'webui.db'))).toBe(true);
    expect(statSync(join(dir!.hostPath, 'vector_db', 'chroma.sqlite3')).size).toBeGreaterThan(0);
  });

  it('follows DATA_DIR below a bind mount', async () => {
    const host = mkdtempSync(join(tmpdir(), 'owb-bind-'));
    const b = await runStandin(s, { bind: [host, '/srv'], env: { DATA_DIR: '/srv/owui/' } });
    try {
      const dir = dataDirOf(await findContainer(s.client, b.id));
      expect(dir).toMatchObject({ hostPath: join(host, 'owui'), containerPath: '/srv/owui' });
      expect(dir!.mount.type).toBe('bind');
      await waitFor(async () => existsSync(join(host, 'owui', 'webui.db')), 5_000, 'webui.db under DATA_DIR');
    } finally {
      await b.remove();
      rmSync(host, { recursive: true, force: true });
    }
  });

  it('is undefined when the data directory is not on a mount', async () => {
    const info = await findContainer(s.client, c.id);
    expect(dataDirOf({ ...info, mounts: [] })).toBeUndefined();
    expect(dataDirOf({ ...info, env: { ...info.env, DATA_DIR: '/elsewhere' } })).toBeUndefined();
  });
});

describe('connectDocker', () => {
  it('fails with a one-line error naming the address when no engine answers', async () => {
    const err = await connectDocker({ host: 'unix:///nonexistent/owb/docker.sock' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerUnreachableError);
    const msg = (err as Error).message;
    expect(msg).toContain('unix:///nonexistent/owb/docker.sock');
    expect(msg).not.toContain('\n');
  });

  it('parses DOCKER_HOST forms', () => {
    expect(parseDockerHost(undefined)).toEqual({ kind: 'unix', socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost('unix:///run/x.sock')).toEqual({ kind: 'unix', socketPath: '/run/x.sock' });
    expect(parseDockerHost('tcp://10.0.0.5:2375', {})).toEqual({ kind: 'tcp', protocol: 'http', host: '10.0.0.5', port: 2375 });
    expect(parseDockerHost('tcp://h:2376', {})).toMatchObject({ protocol: 'https', port: 2376 });
    expect(parseDockerHost('tcp://h:1234', { DOCKER_TLS_VERIFY: '1' })).toMatchObject({ protocol: 'https', port: 1234 });
    expect(() => parseDockerHost('ssh://user@h')).toThrow(/not supported/);
  });
});
