import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { S3Client } from '@aws-sdk/client-s3';
import { UsageError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, type S3Settings } from './s3-settings.js';

/** The SDK's client module, loaded on first use so that local-only runs never pay for it. */
export type ClientModule = typeof import('@aws-sdk/client-s3');

/** A client with the module its commands come from. */
export interface S3Sdk {
  client: S3Client;
  s3: ClientModule;
}

/** A logger that drops everything: library code never prints, and the SDK would warn on stderr. */
const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * Loads the AWS SDK and builds a client for `s`. The client makes exactly one attempt per request: retries belong
 * to the retry wrapper, which must see every failure to handle a PUT that landed although its answer was lost.
 */
export async function createS3Client(s: S3Settings): Promise<S3Sdk> {
  if (s.credentials === undefined && s.endpoint !== undefined) {
    // The SDK's fallback chain ends at cloud instance metadata: meaningless, and slow, for a self-hosted server.
    throw new UsageError(`s3: no credentials for ${s.endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE variants)`);
  }
  const s3 = (await import('@aws-sdk/client-s3')) as ClientModule;
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  const config = {
    region: s.region,
    forcePathStyle: s.forcePathStyle ?? s.endpoint !== undefined,
    ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
    ...(s.credentials !== undefined ? { credentials: s.credentials } : {}),
    maxAttempts: 1,
    // Integrity is end to end in the repository format (AEAD blobs, SHA-256 pack ids, check --read-data);
    // the SDK's newer default checksum headers and trailers are refused by several S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
    logger: QUIET,
    requestHandler: {
      connectionTimeout: s.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      socketTimeout: s.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      socketAcquisitionWarningTimeout: 3_600_000,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent({ ...agentOptions, ...(s.caBundle ? { ca: [...rootCertificates, s.caBundle] } : {}) }),
      logger: QUIET,
    },
  };
  // The SDK warns on stderr about future Node versions when a client is built; library code never prints.
  const flag = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  const before = process.env[flag];
  process.env[flag] = 'true';
  try {
    return { client: new s3.S3Client(config), s3 };
  } finally {
    if (before === undefined) delete process.env[flag];
    else process.env[flag] = before;
  }
}
