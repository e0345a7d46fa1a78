/**
 * Errors of the Docker layer. Messages are one line and name the engine or container, never env values
 * (a container's env may hold secrets).
 */
import { OwbError } from '../errors.js';

/** The Docker Engine does not answer at the configured address. */
export class DockerUnreachableError extends OwbError {
  constructor(host: string, reason: string) {
    super(`cannot reach the Docker Engine at ${host}: ${reason}`);
  }
}

/** No container with the given name or id. */
export class ContainerNotFoundError extends OwbError {
  constructor(ref: string) {
    super(`no container named or with id "${ref}"`);
  }
}

/** No image with the given reference in the engine. */
export class ImageNotFoundError extends OwbError {
  constructor(ref: string) {
    super(`no image "${ref}" in the Docker Engine`);
  }
}

/** An Engine API call failed for another reason (the engine's own message is kept). */
export class DockerApiError extends OwbError {
  constructor(what: string, cause: unknown) {
    super(`${what}: ${engineMessage(cause)}`, undefined, { cause });
  }
}

/** A quiesced container could not be started or unpaused again; its marker stays for `resumeLeftovers`. */
export class ResumeFailedError extends OwbError {
  constructor(container: string, action: string, cause: unknown) {
    super(`could not ${action} container ${container} after the backup window: ${engineMessage(cause)}`, undefined, {
      cause,
    });
  }
}

/** An HTTP health probe did not succeed within its timeout. */
export class HealthTimeoutError extends OwbError {
  constructor(url: string, timeoutMs: number, last: string) {
    super(`${url} did not answer healthy within ${(timeoutMs / 1000).toFixed(1)} s (last: ${last})`);
  }
}

/** HTTP status of a docker-modem error, if it carries one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own one-line message from a docker-modem error (its JSON body), else the error's message. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message.trim();
  if (err instanceof Error) return err.message.split('\n')[0]!.trim();
  return String(err);
}
