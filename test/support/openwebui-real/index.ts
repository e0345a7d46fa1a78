/**
 * Test support for the real Open WebUI (PyPI releases, run offline): the service that installs and images
 * the pinned releases, launchers for the pip and container shapes, an HTTP API client, the offline
 * settings, and a writer that logs acknowledged writes.
 */
export { realOpenWebui, PINNED_VERSIONS, DEFAULT_PREPARE_TIMEOUT_MS } from './service.js';
export type { RealRelease, RealService } from './service.js';
export { OpenWebuiLauncher, IMAGE_DATA_DIR, IMAGE_SECRET_KEY_PATH, DEFAULT_STARTUP_TIMEOUT_MS } from './launch.js';
export type { LaunchedOpenWebui, ProcessOpenWebui, ContainerOpenWebui, LaunchOptions } from './launch.js';
export { OpenWebuiClient, OpenWebuiApiError } from './client.js';
export type { SessionUser, ChatMessage, ChatRecord, FileRecord, QueryResult } from './client.js';
export { offlineEnv } from './offline.js';
export type { OfflineOptions } from './offline.js';
export { ChatWriter, missingWrites } from './writer.js';
export type { AckedWrite, FailedWrite, WriterOptions } from './writer.js';
