import type { RepositoryConfig } from '../config/schema.js';
import type { FailureInfo } from './logging.js';
import type { RetryOptions } from './retry.js';
import type { S3RepositoryOptions } from './s3-settings.js';
import type { SftpRepositoryOptions } from './sftp-settings.js';

/** What openBackend takes besides the URL. Types only, so importing it loads no backend. */
export interface BackendOptions {
  /** The environment that credentials and backend settings are read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The config's S3 settings of this repository; they win over the environment. */
  s3?: S3RepositoryOptions;
  /** The config's SFTP settings of this repository; they win over the OWB_SFTP_* variables. */
  sftp?: SftpRepositoryOptions;
  /** Retry settings of remote backends, e.g. an onRetry callback through which the CLI shows retries. */
  retry?: RetryOptions;
  /** Told about each storage operation that failed for good, after its retries. */
  onFailure?: (info: FailureInfo) => void;
}

/** The part of {@link BackendOptions} a repository's config entry decides. */
export type RepositoryBackendOptions = Pick<BackendOptions, 's3' | 'sftp'>;

/**
 * Maps a repository's `s3:` and `sftp:` config blocks (snake_case, validated by the config schema) to typed
 * backend options. The merge with the environment happens in each backend's settings (s3SettingsFor,
 * sftpSettingsFromUrl), the one place that knows which variable each option stands for.
 */
export function backendOptionsFromConfig(repo: RepositoryConfig): RepositoryBackendOptions {
  const opts: RepositoryBackendOptions = {};
  if (repo.s3) {
    const s = repo.s3;
    opts.s3 = {
      ...(s.region ? { region: s.region } : {}),
      ...(s.path_style !== undefined ? { pathStyle: s.path_style } : {}),
      ...(s.storage_class ? { storageClass: s.storage_class } : {}),
      ...(s.access_key_id_file ? { accessKeyIdFile: s.access_key_id_file } : {}),
      ...(s.secret_access_key_file ? { secretAccessKeyFile: s.secret_access_key_file } : {}),
      ...(s.request_timeout ? { requestTimeoutS: s.request_timeout } : {}),
    };
  }
  if (repo.sftp) {
    const f = repo.sftp;
    opts.sftp = {
      ...(f.key_file ? { keyFile: f.key_file } : {}),
      ...(f.key_passphrase_file ? { keyPassphraseFile: f.key_passphrase_file } : {}),
      ...(f.password_file ? { passwordFile: f.password_file } : {}),
      ...(f.known_hosts ? { knownHosts: f.known_hosts } : {}),
      ...(f.host_fingerprint ? { hostFingerprint: f.host_fingerprint } : {}),
    };
  }
  return opts;
}
