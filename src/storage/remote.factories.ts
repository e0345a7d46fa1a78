import type { Backend } from './backend.js';

/**
 * Opens an `sftp:` repository from the URL part after `sftp:` (restic's forms) and the environment, which
 * carries the key, passphrase, password and host key settings (see sftpSettingsFromUrl). Nothing connects
 * until the first operation; ssh2 is only loaded then.
 */
export async function openSftpBackend(rest: string, env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const [{ SftpBackend }, { sftpSettingsFromUrl }] = await Promise.all([import('./sftp.js'), import('./sftp-settings.js')]);
  return new SftpBackend(await sftpSettingsFromUrl(rest, env));
}

/**
 * Opens an `rclone:` repository from the URL part after `rclone:` (`remote:path`). rclone runs with `env`,
 * so RCLONE_CONFIG and RCLONE_CONFIG_PASS set there are honoured; credentials stay in rclone's own config.
 */
export async function openRcloneBackend(rest: string, env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const { RcloneBackend, rcloneSettingsFromUrl } = await import('./rclone.js');
  return new RcloneBackend(rcloneSettingsFromUrl(rest, env));
}
