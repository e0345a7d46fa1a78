import { randomBytes } from 'node:crypto';
import { DEFAULT_CHUNKER_PARAMS, type ChunkerParams } from './chunker.js';
import { DEFAULT_ZSTD_LEVEL } from './codec.js';

/**
 * The format version this build writes. Version 2 stores names and link targets that are not valid UTF-8
 * (docs/repository-format.md §22); a version 1 reader would misread them, hence the new version.
 */
export const FORMAT_VERSION = 2;

/** The versions this build reads: every version it ever wrote. */
export const READABLE_VERSIONS: readonly number[] = [1, 2];

/** Stored form of the `config` object (sealed with the master key). */
export interface RepoConfigJson {
  version: number;
  id: string;
  chunker: { min_size: number; avg_size: number; max_size: number };
  compression: { algorithm: 'zstd'; level: number };
}

/** A new repository's config. */
export function newRepoConfig(chunker: ChunkerParams = DEFAULT_CHUNKER_PARAMS): RepoConfigJson {
  return {
    version: FORMAT_VERSION,
    id: randomBytes(32).toString('hex'),
    chunker: { min_size: chunker.minSize, avg_size: chunker.avgSize, max_size: chunker.maxSize },
    compression: { algorithm: 'zstd', level: DEFAULT_ZSTD_LEVEL },
  };
}

/** The chunker parameters recorded in a config. */
export function chunkerParamsOf(cfg: RepoConfigJson): ChunkerParams {
  return { minSize: cfg.chunker.min_size, avgSize: cfg.chunker.avg_size, maxSize: cfg.chunker.max_size };
}
