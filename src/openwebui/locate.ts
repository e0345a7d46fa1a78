import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OwbError, UsageError } from '../errors.js';
import { containerDataDir, dataDirOf, findContainer, httpEndpointOf, type DockerClient } from '../docker/index.js';
import { openWebuiEnvOf, type Deployment } from './deployment.js';

/** Where Open WebUI keeps its secret key in the image, outside the data volume. */
export const SECRET_KEY_PATH_IN_IMAGE = '/app/backend/.webui_secret_key';

/** Finds a Docker deployment: its data mount, env and HTTP endpoint. */
export async function locateContainer(client: DockerClient, ref: string): Promise<Deployment> {
  const info = await findContainer(client, ref);
  const data = dataDirOf(info);
  if (!data) {
    throw new OwbError(
      `container ${info.name} keeps ${containerDataDir(info)} in its own layer (no volume or bind mount); mount a volume there first`,
    );
  }
  const endpoint = httpEndpointOf(info);
  return {
    dataDir: data.hostPath,
    appDataDir: data.containerPath,
    env: openWebuiEnvOf(info.env),
    container: { id: info.id, name: info.name, image: info.image, imageId: info.imageId, running: info.state === 'running' },
    baseUrl: `http://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`,
  };
}

/**
 * A plain data folder (pip install, bind mount). Its env comes from the caller's environment, as for a
 * pip install started from the same shell. The secret key file defaults to `../.webui_secret_key`, where
 * Open WebUI writes it next to the data folder.
 */
export async function locateDir(
  dir: string,
  opts: { env?: NodeJS.ProcessEnv; secretKeyFile?: string; appDataDir?: string; baseUrl?: string } = {},
): Promise<Deployment> {
  const dataDir = resolve(dir);
  try {
    await access(dataDir);
  } catch {
    throw new UsageError(`Open WebUI data folder not found: ${dataDir}`);
  }
  const env = openWebuiEnvOf(opts.env ?? process.env);
  return {
    dataDir,
    appDataDir: opts.appDataDir ?? env.DATA_DIR ?? dataDir,
    env,
    secretKeyFile: opts.secretKeyFile ?? join(dirname(dataDir), '.webui_secret_key'),
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  };
}
