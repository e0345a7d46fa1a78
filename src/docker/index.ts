/**
 * Docker Engine API layer: connect, inspect, quiesce with the always-resume guard, archive get/put, image
 * migrations and health probes. It knows nothing of repositories or snapshots.
 */
export { connectDocker, parseDockerHost, formatEndpoint, DEFAULT_DOCKER_SOCKET } from './client.js';
export type { DockerClient, DockerEndpoint, ConnectOptions } from './client.js';
export { findContainer, dataDirOf, containerDataDir, OPENWEBUI_DATA_DIR } from './inspect.js';
export type { ContainerInfo, ContainerMount, ContainerState, HostDataDir, PortBinding } from './inspect.js';
export { quiesce, withQuiesced, resumeLeftovers, DEFAULT_STOP_TIMEOUT_S } from './quiesce.js';
export type { QuiesceMode, QuiesceOptions, QuiesceHandle, QuiescedResult, ResumeResult, LeftoverOutcome } from './quiesce.js';
export { listMarkers, markerPath } from './markers.js';
export type { QuiesceAction, QuiesceMarker } from './markers.js';
export { readContainerFile, readContainerPath, writeContainerFile, readImagePath, DEFAULT_MAX_FILE_BYTES } from './archive.js';
export type { ArchiveFile } from './archive.js';
export { readImageMigrations, parseRevisionFile, alembicHeads, OPENWEBUI_MIGRATIONS_DIR } from './migrations.js';
export type { AlembicRevision, ImageMigrations } from './migrations.js';
export { waitHealthy, fetchVersion, httpEndpointOf, OPENWEBUI_PORT, DEFAULT_HEALTH_TIMEOUT_MS } from './health.js';
export type { HttpEndpoint, WaitHealthyOptions } from './health.js';
export {
  DockerUnreachableError,
  ContainerNotFoundError,
  ImageNotFoundError,
  DockerApiError,
  ResumeFailedError,
  HealthTimeoutError,
} from './errors.js';
