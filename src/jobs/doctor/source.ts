/** Source checks: the Open WebUI data folder is there and readable, directly or through its container. */
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connectDocker, ContainerNotFoundError, containerDataDir, dataDirOf, findContainer } from '../../docker/index.js';
import { databaseEngine, openWebuiEnvOf, type OpenWebuiEnv } from '../../openwebui/deployment.js';
import { messageOf, type DoctorInput, type DoctorItem } from './types.js';

/** Locates the data folder (directly or through the container) and judges both. */
export async function checkSource(src: DoctorInput['source'], env: NodeJS.ProcessEnv): Promise<{ items: DoctorItem[]; dataDir?: string }> {
  if (src.container) {
    let info;
    try {
      info = await findContainer(await connectDocker({ env }), src.container);
    } catch (err) {
      const fix =
        err instanceof ContainerNotFoundError
          ? 'check source.container or --container ("docker ps -a" lists the containers)'
          : 'start the Docker Engine, or set DOCKER_HOST to where it listens';
      return {
        items: [
          { name: 'data folder', status: 'FAIL', detail: `not located: ${messageOf(err)}`, fix },
          { name: 'container', status: 'FAIL', detail: messageOf(err), fix },
        ],
      };
    }
    const container: DoctorItem =
      info.state === 'running'
        ? { name: 'container', status: 'PASS', detail: `${info.name} is running (${info.image})` }
        : { name: 'container', status: 'WARN', detail: `${info.name} is ${info.state}`, fix: `docker ${info.state === 'paused' ? 'unpause' : 'start'} ${info.name}` };
    const mount = dataDirOf(info);
    if (!mount) {
      const detail = `${containerDataDir(info)} lives in the container's own layer (no volume or bind mount)`;
      return { items: [{ name: 'data folder', status: 'FAIL', detail, fix: `recreate the container with a volume at ${containerDataDir(info)}` }, container] };
    }
    const data = await dataFolderItem(mount.hostPath, openWebuiEnvOf(info.env));
    return { items: [data, container], ...(data.status !== 'FAIL' ? { dataDir: mount.hostPath } : {}) };
  }
  if (src.dataDir) {
    const dir = resolve(src.dataDir);
    const data = await dataFolderItem(dir, openWebuiEnvOf(env));
    return { items: [data], ...(data.status !== 'FAIL' ? { dataDir: dir } : {}) };
  }
  return { items: [{ name: 'data folder', status: 'WARN', detail: 'no Open WebUI source configured', fix: 'set source.container or source.data_dir in the config, or pass --container / --source' }] };
}

async function dataFolderItem(dir: string, owEnv: OpenWebuiEnv): Promise<DoctorItem> {
  const name = 'data folder';
  let names: string[];
  try {
    await access(dir, constants.R_OK | constants.X_OK);
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const fix = code === 'ENOENT' ? 'check source.data_dir or --source' : 'run owb as a user that can read it (root, for Docker volumes)';
    return { name, status: 'FAIL', detail: `${dir}: ${messageOf(err)}`, fix };
  }
  if (databaseEngine(owEnv) === 'postgresql') return { name, status: 'PASS', detail: `${dir} is readable (the database is in PostgreSQL)` };
  if (!names.includes('webui.db')) {
    return { name, status: 'WARN', detail: `${dir} is readable but holds no webui.db`, fix: 'point the source at the folder holding webui.db (/app/backend/data in the container)' };
  }
  try {
    await access(join(dir, 'webui.db'), constants.R_OK);
  } catch (err) {
    return { name, status: 'FAIL', detail: `${join(dir, 'webui.db')}: ${messageOf(err)}`, fix: 'run owb as a user that can read it' };
  }
  return { name, status: 'PASS', detail: `${dir} is readable, webui.db present` };
}
