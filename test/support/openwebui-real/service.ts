/**
 * The `openwebui-real` test service (scripts/services/openwebui-real.sh): pinned Open WebUI releases
 * installed from PyPI into cached venvs, and images of them in the test Docker engine. A cold machine
 * installs several GB, which takes minutes, so this starts the script with a longer deadline than
 * {@link service} allows before reading its settings through it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT, SERVICES_DIR, service } from '../services.js';

/** The releases the service prepares (the newest, and an older one with another alembic head). */
export const PINNED_VERSIONS = ['0.12.4', '0.10.2'] as const;

/** One prepared release. */
export interface RealRelease {
  readonly version: string;
  /** The venv (pip install shape). */
  readonly venv: string;
  /** Its site-packages, where `open_webui/` lives in the pip shape. */
  readonly sitePackages: string;
  /** The image (container shape) and its id. */
  readonly image: string;
  readonly imageId: string;
  /** Head revision of its alembic migrations. */
  readonly alembicHead: string;
  readonly pythonVersion: string;
  readonly chromadb: string;
  /** Seconds pip took, when this machine installed it. */
  readonly installS: number;
  readonly venvBytes: number;
  readonly imageBytes: number;
  /** Seconds the image build took, or undefined when the image came from an earlier run. */
  readonly imageBuildS: number | undefined;
}

/** The service's settings: DOCKER_HOST and the prepared releases. */
export interface RealService {
  readonly env: Record<string, string>;
  readonly dockerHost: string;
  release(version: string): RealRelease;
}

/** Default deadline for preparing the service: two cold pip installs and two image builds. */
export const DEFAULT_PREPARE_TIMEOUT_MS = 40 * 60_000;

/** Installs and builds what is missing (idempotent), then returns the settings. */
export async function realOpenWebui(timeoutMs = DEFAULT_PREPARE_TIMEOUT_MS): Promise<RealService> {
  const script = join(PROJECT_ROOT, 'scripts', 'services', 'openwebui-real.sh');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [script, 'start'], {
      env: { ...process.env, OWB_SERVICES_DIR: SERVICES_DIR },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`openwebui-real.sh start failed (${signal ?? `exit ${code}`}):\n${out.slice(-4000)}`));
    });
  });
  // Fast now; reads the env file the same way every other service is read.
  const env = service('openwebui-real');
  return {
    env,
    dockerHost: need(env, 'DOCKER_HOST'),
    release: (version) => releaseOf(env, version),
  };
}

function releaseOf(env: Record<string, string>, version: string): RealRelease {
  const k = `OPENWEBUI_${version.replace(/[.-]/g, '_')}_`;
  const build = env[`${k}IMAGE_BUILD_S`];
  return {
    version,
    venv: need(env, `${k}VENV`),
    sitePackages: need(env, `${k}SITE_PACKAGES`),
    image: need(env, `${k}IMAGE`),
    imageId: need(env, `${k}IMAGE_ID`),
    alembicHead: need(env, `${k}ALEMBIC_HEAD`),
    pythonVersion: need(env, `${k}PYTHON_VERSION`),
    chromadb: need(env, `${k}CHROMADB`),
    installS: Number(need(env, `${k}INSTALL_S`)),
    venvBytes: Number(need(env, `${k}VENV_BYTES`)),
    imageBytes: Number(need(env, `${k}IMAGE_BYTES`)),
    imageBuildS: build === undefined || build === 'unknown' ? undefined : Number(build),
  };
}

function need(env: Record<string, string>, key: string): string {
  const v = env[key];
  if (v === undefined || v === '') throw new Error(`openwebui-real.env has no ${key}; is the release in OWB_OPENWEBUI_VERSIONS?`);
  return v;
}
