/**
 * Files in and out of containers and images through the Engine's archive API (tar streams), for files that
 * live in the container layer rather than a volume, such as Open WebUI's `.webui_secret_key`.
 */
import { posix } from 'node:path';
import type { DockerClient } from './client.js';
import { DockerApiError, ImageNotFoundError, statusOf } from './errors.js';

/** A regular file read from an archive. */
export interface ArchiveFile {
  /** Path relative to the directory that was read (for a single file: its base name). */
  readonly path: string;
  readonly mode: number;
  readonly data: Buffer;
}

/** Largest file read into memory by default, in bytes: these are key and source files, not data. */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads one regular file out of a container (running or not). Undefined when the path does not exist;
 * throws when it is not a regular file or is larger than `maxBytes`.
 */
export async function readContainerFile(
  client: DockerClient,
  containerId: string,
  path: string,
  opts: { maxBytes?: number } = {},
): Promise<Buffer | undefined> {
  const files = await readContainerPath(client, containerId, path, opts);
  if (files === undefined) return undefined;
  const name = posix.basename(path);
  const f = files.find((x) => x.path === name);
  if (f === undefined) throw new DockerApiError(`reading ${path}`, new Error('not a regular file'));
  return f.data;
}

/**
 * Reads every regular file under a path in a container (the path itself when it is a file). Paths in the
 * result are relative to the path's parent, as the Engine names them (`versions/x.py` for `/…/versions`).
 * Undefined when the path does not exist.
 */
export async function readContainerPath(
  client: DockerClient,
  containerId: string,
  path: string,
  opts: { maxBytes?: number } = {},
): Promise<ArchiveFile[] | undefined> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await client.api.getContainer(containerId).getArchive({ path });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw new DockerApiError(`reading ${path} from container ${containerId.slice(0, 12)}`, err);
  }
  return readTar(stream, opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES, path);
}

/**
 * Writes one file into a container (running or not), replacing any file there. The parent directory must
 * exist. Mode defaults to 0600 and owner to root, as a secret key file wants.
 */
export async function writeContainerFile(
  client: DockerClient,
  containerId: string,
  path: string,
  data: Buffer,
  opts: { mode?: number; uid?: number; gid?: number } = {},
): Promise<void> {
  const { Header } = await import('tar');
  const name = posix.basename(path);
  const header = new Header({
    path: name,
    mode: opts.mode ?? 0o600,
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
    size: data.length,
    mtime: new Date(),
    type: 'File',
  });
  const block = Buffer.alloc(512);
  if (header.encode(block, 0)) {
    throw new DockerApiError(`writing ${path}`, new Error('file name too long for a plain tar header'));
  }
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  const tarball = Buffer.concat([block, data, pad, Buffer.alloc(1024)]);
  try {
    await client.api.getContainer(containerId).putArchive(tarball, { path: posix.dirname(path) });
  } catch (err) {
    throw new DockerApiError(`writing ${path} into container ${containerId.slice(0, 12)}`, err);
  }
}

/**
 * Reads the regular files under a path of an image without running it: creates a throwaway container
 * (never started, no network), reads its archive, removes it. Undefined when the path is absent.
 */
export async function readImagePath(
  client: DockerClient,
  image: string,
  path: string,
  opts: { maxBytes?: number } = {},
): Promise<ArchiveFile[] | undefined> {
  let id: string;
  try {
    const c = await client.api.createContainer({
      Image: image,
      // Never started; an entrypoint keeps create from failing on images without a CMD.
      Entrypoint: ['/owb-never-started'],
      Cmd: [],
      NetworkDisabled: true,
      Labels: { 'owb.purpose': 'read-image' },
      HostConfig: { NetworkMode: 'none' },
    });
    id = c.id;
  } catch (err) {
    if (statusOf(err) === 404) throw new ImageNotFoundError(image);
    throw new DockerApiError(`creating a throwaway container from ${image}`, err);
  }
  try {
    return await readContainerPath(client, id, path, opts);
  } finally {
    // v: anonymous volumes the image declares go too.
    await client.api
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}

/** Collects the regular files of a tar stream, refusing any larger than `maxBytes`. */
async function readTar(stream: NodeJS.ReadableStream, maxBytes: number, what: string): Promise<ArchiveFile[]> {
  const { Parser } = await import('tar');
  const files: ArchiveFile[] = [];
  let tooBig: string | undefined;
  const parser = new Parser({
    onReadEntry: (entry) => {
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        entry.resume();
        return;
      }
      if (entry.size > maxBytes) {
        tooBig ??= entry.path;
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () =>
        files.push({ path: entry.path.replace(/^\.\//, ''), mode: (entry.mode ?? 0o644) & 0o7777, data: Buffer.concat(chunks) }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    parser.on('error', reject);
    parser.on('end', () => resolve());
    stream.pipe(parser as unknown as NodeJS.WritableStream);
  });
  if (tooBig !== undefined) {
    throw new DockerApiError(`reading ${what}`, new Error(`${tooBig} is larger than ${maxBytes} bytes`));
  }
  return files;
}
