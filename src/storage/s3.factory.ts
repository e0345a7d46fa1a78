import type { Backend } from './backend.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { S3RepositoryOptions } from './s3-settings.js';

export type { S3RepositoryOptions } from './s3-settings.js';

/**
 * Opens an `s3:` repository from the URL part after `s3:` (see s3SettingsFromUrl), the environment and the
 * config's per-repository options, wrapped in the retry wrapper. Nothing connects, and the AWS SDK is not loaded,
 * until the first operation.
 */
export async function openS3Backend(
  rest: string,
  env: NodeJS.ProcessEnv = process.env,
  options: S3RepositoryOptions & { retry?: RetryOptions } = {},
): Promise<Backend> {
  const [{ S3Backend }, { s3SettingsFor }] = await Promise.all([import('./s3.js'), import('./s3-settings.js')]);
  const { settings, requestTimeoutMs } = await s3SettingsFor(rest, env, options);
  return withRetry(new S3Backend(settings), { ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }), ...options.retry });
}
