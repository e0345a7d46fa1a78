import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OwbError, UsageError } from '../errors.js';
import { containerDataDir, dataDirOf, findContainer, httpEndpointOf, type DockerClient } from '../docker/index.js';
import { openWebuiEnvOf, type Deployment } from './deployment.js';
import { pathExists } from '../util/path-exists.js';

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
 * Where a plain install's `.webui_secret_key` may be, in the order owb looks: the file the user named (then
 * only that one); next to the data folder; next to the data folder's parent (`~/.webui_secret_key` for
 * `DATA_DIR=~/.open-webui/data`); the current directory. `open-webui serve` writes the key into the
 * directory it was started from (`Path.cwd()`), which owb cannot know, hence the guesses.
 */
export function secretKeyCandidates(dataDir: string, explicit?: string, cwd = process.cwd()): string[] {
  if (explicit) return [resolve(explicit)];
  const dirs = [dirname(dataDir), dirname(dirname(dataDir)), resolve(cwd)];
  return [...new Set(dirs.map((d) => join(d, '.webui_secret_key')))];
}

/**
 * A plain data folder (pip install, bind mount). Its env comes from the caller's environment, as for a
 * pip install started from the same shell. The secret key file is the first of {@link secretKeyCandidates}
 * that exists, else the first one (where a restore writes the key).
 */
export async function locateDir(
  dir: string,
  opts: { env?: NodeJS.ProcessEnv; secretKeyFile?: string; appDataDir?: string; baseUrl?: string; cwd?: string } = {},
): Promise<Deployment> {
  const dataDir = resolve(dir);
  try {
    await access(dataDir);
  } catch {
    throw new UsageError(`Open WebUI data folder not found: ${dataDir}`);
  }
  const env = openWebuiEnvOf(opts.env ?? process.env);
  const candidates = secretKeyCandidates(dataDir, opts.secretKeyFile, opts.cwd);
  let secretKeyFile = candidates[0]!;
  for (const c of candidates) {
    if (await pathExists(c)) {
      secretKeyFile = c;
      break;
    }
  }
  return {
    dataDir,
    appDataDir: opts.appDataDir ?? env.DATA_DIR ?? dataDir,
    env,
    secretKeyFile,
    secretKeyCandidates: candidates,
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  };
}
