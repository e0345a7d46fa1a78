import { join } from 'node:path';
import { defaultStateDir } from '../config/ops-schema.js';
import type { OwbConfig, SourceConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { connectDocker, DEFAULT_STOP_TIMEOUT_S, type DockerClient, type QuiesceMode } from '../docker/index.js';
import type { Deployment } from '../openwebui/deployment.js';
import { locateContainer, locateDir } from '../openwebui/locate.js';

/** What the user asked to back up or restore into, from flags first, then the config's `source:`. */
export interface SourceRequest {
  container?: string;
  sourceDir?: string;
  quiesce?: QuiesceMode;
  stopTimeoutS?: number;
  includeCache?: boolean;
  secretKeyFile?: string;
  stagingDir?: string;
}

/** A located Open WebUI deployment with everything needed to capture or restore it. */
export interface ResolvedSource {
  deployment: Deployment;
  docker?: DockerClient;
  quiesce: QuiesceMode;
  stopTimeoutS: number;
  includeCache: boolean;
  stagingRoot: string;
  stateDir: string;
}

/** True when flags or config name an Open WebUI deployment. */
export function wantsOpenWebui(req: SourceRequest, cfg: OwbConfig): boolean {
  return !!(req.container || req.sourceDir || cfg.source?.container || cfg.source?.data_dir);
}

/** Where always-resume markers and other state live. */
export function stateDirOf(cfg: OwbConfig, env: NodeJS.ProcessEnv): string {
  return cfg.state_dir ?? defaultStateDir(env);
}

/**
 * Locates the deployment named by flags (which win) or by the config. The staging folder defaults to the
 * state folder, so it is private and on a disk the user controls.
 */
export async function resolveSource(req: SourceRequest, cfg: OwbConfig, env: NodeJS.ProcessEnv): Promise<ResolvedSource> {
  if (req.container && req.sourceDir) throw new UsageError('give either --container or --source, not both');
  const src: Partial<SourceConfig> = req.container || req.sourceDir ? {} : (cfg.source ?? {});
  const container = req.container ?? src.container;
  const dataDir = req.sourceDir ?? src.data_dir;
  const stateDir = stateDirOf(cfg, env);
  const common = {
    quiesce: req.quiesce ?? src.quiesce ?? 'stop',
    stopTimeoutS: req.stopTimeoutS ?? src.stop_timeout ?? DEFAULT_STOP_TIMEOUT_S,
    includeCache: req.includeCache ?? src.include_cache ?? false,
    stagingRoot: req.stagingDir ?? src.staging_dir ?? join(stateDir, 'staging'),
    stateDir,
  };
  if (container) {
    const docker = await connectDocker({ env });
    return { ...common, docker, deployment: await locateContainer(docker, container) };
  }
  if (dataDir) {
    const secretKeyFile = req.secretKeyFile ?? src.secret_key_file;
    return { ...common, deployment: await locateDir(dataDir, { env, ...(secretKeyFile ? { secretKeyFile } : {}) }) };
  }
  throw new UsageError('nothing to back up: give paths, --container NAME, --source DIR, or a source: section in the config');
}
