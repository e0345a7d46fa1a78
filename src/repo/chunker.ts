/**
 * Content-defined chunking: a gear-hash chunker with ONE mask (FastCDC's gear hash and minSize skip, without its
 * normalized chunking) and a gear table derived from the repository's secret chunker seed.
 *
 * One mask, not FastCDC's two: the two-mask rule cuts near avgSize more evenly, but after an edit it resynchronises
 * badly (a 1 MiB overwrite in a 200 MiB file added a p90 of 7.6 MiB of new chunks; one mask, 3.5 MiB), and for a
 * backup tool the data added per change matters more than a tight size spread.
 *
 * The cut-point rule here IS the repository format: two implementations that differ by one byte in where they cut
 * stop deduplicating against each other. Change nothing in findCutPoint(), cutMaskBits() or gearTable() without a
 * format version bump.
 *
 * Speed notes (why the hot loop looks the way it does): the loop skips straight to minSize, reads the gear table
 * through an Int32Array so every value is an int32 for V8, keeps the hash in int32 with `| 0`, is unrolled
 * four times, and lives in one monomorphic function that the archiver's streaming reader and chunkBuffer() both call.
 */
import { createHmac } from 'node:crypto';

/** Chunk size bounds in bytes, with minSize < avgSize < maxSize and avgSize - minSize >= 64. */
export interface ChunkerParams {
  /** No chunk is shorter than this, except the last chunk of an input (or a whole input this short). */
  readonly minSize: number;
  /**
   * Target mean size. The mask has round(log2(avgSize - minSize)) bits, so a chunk is minSize plus a geometric
   * tail of mean about avgSize - minSize (less where maxSize truncates it). Need not be a power of two.
   */
  readonly avgSize: number;
  /** Hard upper bound on a chunk's length. */
  readonly maxSize: number;
}

/** Repository defaults: 512 KiB / 1 MiB / 8 MiB, as restic, so packs hold a few chunks each. */
export const DEFAULT_CHUNKER_PARAMS: Readonly<ChunkerParams> = Object.freeze({
  // Measured (600 chunker seeds): a 1 MiB overwrite re-stores a median 1.65 MiB, at most 3.5 MiB; with
  // 512 KiB / 1 MiB / 8 MiB the tail reached 6-8 MiB in about 1 % of repositories. Twice the blobs is cheap.
  minSize: 256 * 1024,
  avgSize: 512 * 1024,
  maxSize: 4 * 1024 * 1024,
});

// avgSize <= 2^29 keeps the mask within 29 bits of the 32-bit hash; maxSize is capped so that a reader's window of a
// few × maxSize stays within what a Uint8Array may hold.
const MAX_AVG_SIZE = 2 ** 29;
// A smaller spread would cut within a few dozen bytes of minSize: content-defined in name only.
const MIN_SPREAD = 64;
const MAX_MAX_SIZE = 2 ** 30;
const GEAR_ENTRIES = 256;
const SEED_BYTES = 32;

/**
 * Throws a RangeError unless `p` is usable: integers with 64 <= minSize < avgSize < maxSize and
 * avgSize - minSize >= 64. Also rejects avgSize > 2^29 and maxSize > 2^30, the format's limits.
 */
export function validateChunkerParams(p: ChunkerParams): void {
  const { minSize, avgSize, maxSize } = p;
  for (const [name, v] of [
    ['minSize', minSize],
    ['avgSize', avgSize],
    ['maxSize', maxSize],
  ] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new RangeError(`chunker ${name} must be an integer, got ${String(v)}`);
    }
  }
  if (minSize < 64) throw new RangeError(`chunker minSize must be at least 64, got ${minSize}`);
  if (!(minSize < avgSize && avgSize < maxSize)) {
    throw new RangeError(`chunker sizes must satisfy min < avg < max, got ${minSize} / ${avgSize} / ${maxSize}`);
  }
  if (avgSize - minSize < MIN_SPREAD) {
    throw new RangeError(`chunker avgSize must exceed minSize by at least ${MIN_SPREAD}, got ${minSize} / ${avgSize}`);
  }
  if (avgSize > MAX_AVG_SIZE) throw new RangeError(`chunker avgSize must be at most 2^29, got ${avgSize}`);
  if (maxSize > MAX_MAX_SIZE) throw new RangeError(`chunker maxSize must be at most 2^30, got ${maxSize}`);
}

/**
 * Derives the 256-entry gear table from the repository's 32-byte chunker seed: entries 8i..8i+7 are the
 * little-endian uint32 words of HMAC-SHA256(seed, "owb-gear" || byte i), for i in 0..31.
 * Keyed so that chunk boundaries (and therefore chunk sizes) do not reveal content to someone without the seed.
 */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (seed.length !== SEED_BYTES) throw new RangeError(`chunker seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
  const gear = new Uint32Array(GEAR_ENTRIES);
  const label = Buffer.from('owb-gear', 'ascii');
  const msg = Buffer.alloc(label.length + 1);
  label.copy(msg, 0);
  for (let i = 0; i < GEAR_ENTRIES / 8; i++) {
    msg[label.length] = i;
    const d = createHmac('sha256', seed).update(msg).digest();
    // readUInt32LE, not a Uint32Array view, so the table is the same on big-endian hosts.
    for (let j = 0; j < 8; j++) gear[8 * i + j] = d.readUInt32LE(4 * j);
  }
  return gear;
}

/**
 * The number of high hash bits the cut mask tests: round(log2(avgSize - minSize)), 19 for the defaults. Exact for
 * every valid params: integer arithmetic decides the rounding, never Math.log2.
 */
export function cutMaskBits(params: ChunkerParams): number {
  const spread = params.avgSize - params.minSize;
  const k = 31 - Math.clz32(spread); // floor(log2(spread)); spread < 2^29
  // Round up iff spread >= 2^k·√2. That bound is irrational, so there are no ties, and the ceiling of its double
  // is the exact integer threshold for every k < 32 (the tests check this against BigInt).
  return spread >= Math.ceil(2 ** k * Math.SQRT2) ? k + 1 : k;
}

/**
 * Returns the length of the chunk that starts at buf[start], looking only at buf[start..end).
 *
 * Call it only when end - start >= maxSize or the input has ended at `end`; otherwise a later byte could have
 * moved the cut. `params` must have passed validateChunkerParams() and `gear` must be a gearTable() result: this
 * runs once per chunk on the hot path, so it checks neither.
 */
export function findCutPoint(
  buf: Uint8Array,
  start: number,
  end: number,
  params: ChunkerParams,
  gear: Uint32Array,
): number {
  const n = end - start;
  const minSize = params.minSize;
  if (n <= minSize) return n;
  const maxSize = params.maxSize;
  const limit = n < maxSize ? n : maxSize;
  // Top `bits` bits: the high bits of a left-shifting gear hash depend on the most bytes (the last 32).
  const mask = -1 << (32 - cutMaskBits(params));
  // int32 view: entries >= 2^31 read as negatives, identical mod 2^32 under `| 0`, and every load is a small
  // integer to V8 whatever the engine version (a Uint32Array load above 2^31 is not, in principle).
  const g = new Int32Array(gear.buffer, gear.byteOffset, GEAR_ENTRIES);

  let h = 0;
  let i = start + minSize;
  const limitEnd = start + limit;
  const limitEnd4 = limitEnd - 3;
  while (i < limitEnd4) {
    h = ((h << 1) + g[buf[i]!]!) | 0;
    if ((h & mask) === 0) return i + 1 - start;
    h = ((h << 1) + g[buf[i + 1]!]!) | 0;
    if ((h & mask) === 0) return i + 2 - start;
    h = ((h << 1) + g[buf[i + 2]!]!) | 0;
    if ((h & mask) === 0) return i + 3 - start;
    h = ((h << 1) + g[buf[i + 3]!]!) | 0;
    if ((h & mask) === 0) return i + 4 - start;
    i += 4;
  }
  while (i < limitEnd) {
    h = ((h << 1) + g[buf[i]!]!) | 0;
    if ((h & mask) === 0) return i + 1 - start;
    i++;
  }
  return limit;
}

function checkGear(gear: Uint32Array): void {
  if (!(gear instanceof Uint32Array) || gear.length !== GEAR_ENTRIES) {
    throw new RangeError(`gear table must be a Uint32Array of ${GEAR_ENTRIES} entries`);
  }
}

/**
 * Chunk lengths of a whole in-memory input, in order (empty for an empty input). The reference the streaming
 * paths must agree with; also handy for small inputs.
 */
export function chunkBuffer(buf: Uint8Array, params: ChunkerParams, gear: Uint32Array): number[] {
  validateChunkerParams(params);
  checkGear(gear);
  const lengths: number[] = [];
  let start = 0;
  while (start < buf.length) {
    const n = findCutPoint(buf, start, buf.length, params, gear);
    lengths.push(n);
    start += n;
  }
  return lengths;
}
