import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { xorshiftBytes } from '../../test/support/xorshift.js';
import {
  DEFAULT_CHUNKER_PARAMS,
  chunkBuffer,
  cutMaskBits,
  findCutPoint,
  gearTable,
  validateChunkerParams,
  type ChunkerParams,
} from './chunker.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small enough that tests see hundreds of chunks per few MiB. */
const SMALL: ChunkerParams = { minSize: 16 * KiB, avgSize: 64 * KiB, maxSize: 256 * KiB };
const ZERO_SEED = new Uint8Array(32);
/** First chunk lengths of xorshiftBytes(4 MiB, 1) under the zero seed and SMALL params (from naiveChunkLengths). */
const KNOWN_SMALL_PREFIX = [73739, 155078, 22313, 196996, 189461, 24778, 39359, 84532];
const KNOWN_SMALL_COUNT = 51;
/** The spec's §10.5 vectors: xs(16384) at 256/1024/4096, and xs(24 MiB) at the defaults, under seed 00..1f. */
const SPEC_XS_16K = [530, 1585, 1110, 2206, 294, 575, 267, 369, 1125, 286, 2190, 324, 394, 421, 872, 546, 751, 2539];
const SPEC_XS_24M = [
  614951, 684799, 772717, 632226, 979234, 559155, 685673, 1159352, 1331824, 738858, 656457, 699075, 1198419, 1007164,
  688010, 1610616, 726775, 600343, 649878, 643315, 752771, 1130947, 574504, 1064722, 970717, 858607, 631713, 824571,
  1098610, 619821,
];

/** The gear table straight from the definition, using node:crypto and manual little-endian decoding. */
function naiveGear(seed: Uint8Array): number[] {
  const gear: number[] = [];
  for (let i = 0; i < 32; i++) {
    const msg = Buffer.concat([Buffer.from('owb-gear', 'ascii'), Buffer.from([i])]);
    const d = createHmac('sha256', Buffer.from(seed)).update(msg).digest();
    for (let j = 0; j < 8; j++) {
      gear.push(d[4 * j]! + d[4 * j + 1]! * 2 ** 8 + d[4 * j + 2]! * 2 ** 16 + d[4 * j + 3]! * 2 ** 24);
    }
  }
  return gear;
}

/** round(log2(d)) in exact BigInt arithmetic: the k with 2^(2k-1) <= d^2 < 2^(2k+1) (never a tie). */
function naiveMaskBits(d: number): number {
  const d2 = BigInt(d) ** 2n;
  let k = 0;
  while (d2 >= 2n ** BigInt(2 * k + 1)) k++;
  return k;
}

/**
 * The cut-point definition, written for obviousness rather than speed: plain Number arithmetic (no bit
 * operators), one loop, and the mask test restated as a comparison. With mask = top `bits` bits set,
 * (h & mask) == 0 holds exactly when h < 2^(32 - bits).
 */
function naiveChunkLengths(data: Uint8Array, p: ChunkerParams, gear: number[]): number[] {
  const bound = 2 ** (32 - naiveMaskBits(p.avgSize - p.minSize));
  const lengths: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const n = data.length - pos;
    let len: number;
    if (n <= p.minSize) {
      len = n;
    } else {
      const limit = Math.min(n, p.maxSize);
      len = limit;
      let h = 0;
      for (let i = p.minSize; i < limit; i++) {
        h = (h * 2 + gear[data[pos + i]!]!) % 2 ** 32;
        if (h < bound) {
          len = i + 1;
          break;
        }
      }
    }
    lengths.push(len);
    pos += len;
  }
  return lengths;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function offsets(lengths: number[]): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const n of lengths) out.push((pos += n));
  return out;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Each chunk's SHA-256, in order: chunk identity by content, as the repository dedups. */
function chunkHashes(buf: Uint8Array, p: ChunkerParams, gear: Uint32Array): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const n of chunkBuffer(buf, p, gear)) {
    out.push(sha256(buf.subarray(pos, pos + n)));
    pos += n;
  }
  return out;
}

/**
 * Bytes of `edited`'s chunks whose content is not among `original`'s chunks: what a backup of `edited` would add.
 * Compares contents of equal-length chunks directly, cheaper than hashing every chunk of two large buffers.
 */
function newChunkBytes(original: Uint8Array, edited: Uint8Array, p: ChunkerParams, gear: Uint32Array): number {
  const byLength = new Map<number, Uint8Array[]>();
  let pos = 0;
  for (const n of chunkBuffer(original, p, gear)) {
    const chunk = original.subarray(pos, pos + n);
    const same = byLength.get(n);
    if (same) same.push(chunk);
    else byLength.set(n, [chunk]);
    pos += n;
  }
  let added = 0;
  pos = 0;
  for (const n of chunkBuffer(edited, p, gear)) {
    const chunk = edited.subarray(pos, pos + n);
    if (!(byLength.get(n) ?? []).some((o) => Buffer.compare(o, chunk) === 0)) added += n;
    pos += n;
  }
  return added;
}

/** The spec's test-vector generator xs(n) (docs/repository-format.md §10.5): one xorshift32 step per byte. */
function specXs(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe('validateChunkerParams', () => {
  it('accepts the defaults and the small test params', () => {
    expect(() => validateChunkerParams(DEFAULT_CHUNKER_PARAMS)).not.toThrow();
    expect(() => validateChunkerParams(SMALL)).not.toThrow();
    expect(DEFAULT_CHUNKER_PARAMS).toEqual({ minSize: 256 * KiB, avgSize: 512 * KiB, maxSize: 4 * MiB });
  });

  it.each([
    ['avg - min < 64', { minSize: 1000, avgSize: 1063, maxSize: 9000 }],
    ['min == avg', { minSize: 4096, avgSize: 4096, maxSize: 9000 }],
    ['min > avg', { minSize: 8192, avgSize: 4096, maxSize: 9000 }],
    ['avg == max', { minSize: 1000, avgSize: 4096, maxSize: 4096 }],
    ['min < 64', { minSize: 63, avgSize: 128, maxSize: 512 }],
    ['non-integer', { minSize: 100.5, avgSize: 128, maxSize: 512 }],
    ['NaN', { minSize: Number.NaN, avgSize: 128, maxSize: 512 }],
    ['avg above 2^29', { minSize: 64, avgSize: 2 ** 29 + 1, maxSize: 2 ** 30 }],
    ['max above 2^30', { minSize: 64, avgSize: 2 ** 20, maxSize: 2 ** 30 + 1 }],
  ])('rejects %s with a RangeError', (_name, p) => {
    expect(() => validateChunkerParams(p)).toThrow(RangeError);
    expect(() => chunkBuffer(new Uint8Array(10), p, gearTable(ZERO_SEED))).toThrow(RangeError);
  });

  it('accepts the smallest legal params, an avg that is not a power of two, and the largest bounds', () => {
    expect(() => validateChunkerParams({ minSize: 64, avgSize: 128, maxSize: 129 })).not.toThrow();
    expect(() => validateChunkerParams({ minSize: 1000, avgSize: 1064, maxSize: 9000 })).not.toThrow();
    expect(() => validateChunkerParams({ minSize: 1000, avgSize: 3000, maxSize: 9000 })).not.toThrow();
    expect(() => validateChunkerParams({ minSize: 64, avgSize: 2 ** 29, maxSize: 2 ** 30 })).not.toThrow();
  });
});

describe('cutMaskBits', () => {
  const withSpread = (d: number): ChunkerParams => ({ minSize: 64, avgSize: 64 + d, maxSize: 2 ** 30 });

  it('is 18 for the defaults (mask 0xFFFFC000), 19 for the spec params 512K/1M/8M and 16 for the small test params', () => {
    expect(cutMaskBits(DEFAULT_CHUNKER_PARAMS)).toBe(18);
    expect((-1 << (32 - cutMaskBits(DEFAULT_CHUNKER_PARAMS))) >>> 0).toBe(0xffffc000);
    const spec = { minSize: 512 * KiB, avgSize: MiB, maxSize: 8 * MiB };
    expect(cutMaskBits(spec)).toBe(19);
    expect((-1 << (32 - cutMaskBits(spec))) >>> 0).toBe(0xffffe000);
    expect(cutMaskBits(SMALL)).toBe(16); // log2(48 KiB) = 15.58
    expect(cutMaskBits({ minSize: 100, avgSize: 1300, maxSize: 6007 })).toBe(10); // log2(1200) = 10.23
  });

  it('rounds log2(avg - min) exactly at every rounding threshold a valid spread can reach', () => {
    for (let k = 6; k <= 28; k++) {
      // The smallest t with t^2 >= 2^(2k+1), by BigInt bisection: spreads from t round up to k + 1.
      const target = 2n ** BigInt(2 * k + 1);
      let lo = 0n;
      let hi = 2n ** BigInt(k + 1);
      while (lo < hi) {
        const mid = (lo + hi) / 2n;
        if (mid * mid >= target) hi = mid;
        else lo = mid + 1n;
      }
      const t = Number(lo);
      expect(cutMaskBits(withSpread(t - 1)), `k=${k}`).toBe(k);
      expect(cutMaskBits(withSpread(t)), `k=${k}`).toBe(k + 1);
      expect(cutMaskBits(withSpread(2 ** k)), `k=${k}`).toBe(k);
      expect(naiveMaskBits(t - 1), `k=${k}`).toBe(k);
      expect(naiveMaskBits(t), `k=${k}`).toBe(k + 1);
    }
  });
});

describe('gearTable', () => {
  it('matches HMAC-SHA256 vectors computed outside Node (openssl) for the all-zero seed', () => {
    // printf 'owb-gear\x00' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<64 zeros>, and likewise for \x1f.
    const d0 = '067441fa0ded3c283b7636f0e260d0cf8af1cba8cce2f99d3e6d3e7b03852a5c';
    const d31 = '24dc59e0f4363e574b0132394de5515bd5a64f89bd77d495f4c2fa9d9e116bb6';
    const g = gearTable(ZERO_SEED);
    expect(g[0]).toBe(0xfa417406);
    expect(g[1]).toBe(0x283ced0d);
    expect(g[248]).toBe(0xe059dc24);
    expect(g[255]).toBe(0xb66b119e);
    for (const [i, hex] of [
      [0, d0],
      [31, d31],
    ] as const) {
      const d = Buffer.from(hex, 'hex');
      for (let j = 0; j < 8; j++) expect(g[8 * i + j]).toBe(d.readUInt32LE(4 * j));
    }
  });

  it('matches an independent node:crypto computation for the all-zero seed, entry by entry', () => {
    const g = gearTable(ZERO_SEED);
    expect(g).toBeInstanceOf(Uint32Array);
    expect(g.length).toBe(256);
    expect(Array.from(g)).toEqual(naiveGear(ZERO_SEED));
  });

  it('depends on the seed', () => {
    const seed = new Uint8Array(32);
    seed[31] = 1;
    expect(Array.from(gearTable(seed))).toEqual(naiveGear(seed));
    expect(Array.from(gearTable(seed))).not.toEqual(Array.from(gearTable(ZERO_SEED)));
  });

  it('rejects a seed that is not 32 bytes', () => {
    expect(() => gearTable(new Uint8Array(31))).toThrow(RangeError);
    expect(() => gearTable(new Uint8Array(33))).toThrow(RangeError);
  });
});

describe('cut points', () => {
  const gear = gearTable(ZERO_SEED);
  const naive = naiveGear(ZERO_SEED);

  it('gives known cut points on xorshift data (zero seed, 16/64/256 KiB)', () => {
    const data = xorshiftBytes(4 * MiB, 1);
    const lengths = chunkBuffer(data, SMALL, gear);
    expect(lengths).toEqual(naiveChunkLengths(data, SMALL, naive));
    // Computed from naiveChunkLengths() and frozen: a format regression guard.
    expect(lengths.slice(0, 8)).toEqual(KNOWN_SMALL_PREFIX);
    expect(lengths.length).toBe(KNOWN_SMALL_COUNT);
  });

  it('matches the test vectors in docs/repository-format.md §10.5', () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
    const g = gearTable(seed);
    expect(Array.from(g.subarray(0, 4))).toEqual([0x72022168, 0xa1a5ca34, 0xcd1d187e, 0x2e01b89a]);
    expect(g[255]).toBe(0x96433007);
    const p: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 4096 };
    const xs16k = specXs(16384);
    expect(chunkBuffer(xs16k, p, g)).toEqual(naiveChunkLengths(xs16k, p, naiveGear(seed)));
    expect(chunkBuffer(xs16k, p, g)).toEqual(SPEC_XS_16K);
    expect(chunkBuffer(new Uint8Array(20000), p, g)).toEqual([4096, 4096, 4096, 4096, 3616]);
    const xs24m = specXs(24 * MiB);
    const big: ChunkerParams = { minSize: 512 * KiB, avgSize: MiB, maxSize: 8 * MiB };
    expect(chunkBuffer(xs24m, big, g)).toEqual(SPEC_XS_24M);
    // The spec's 24 MiB vector, cross-checked against the definition itself (not only frozen numbers).
    expect(naiveChunkLengths(xs24m, big, naiveGear(seed))).toEqual(SPEC_XS_24M);
  }, 120_000);

  // Most bounds make (max - min) not a multiple of 4, so cuts at maxSize exercise the unrolled loop's tail; the
  // spreads (avg - min) round log2 both up and down.
  it.each<[string, ChunkerParams, number]>([
    ['small', SMALL, 8 * MiB + 3],
    ['tiny, odd bounds', { minSize: 67, avgSize: 256, maxSize: 1001 }, 512 * KiB + 1],
    ['tiny, tight max', { minSize: 64, avgSize: 128, maxSize: 130 }, 64 * KiB + 5],
    ['medium, odd bounds', { minSize: 1001, avgSize: 4096, maxSize: 20_003 }, 4 * MiB - 7],
    ['spread rounds down, avg not a power of two', { minSize: 100, avgSize: 1300, maxSize: 6007 }, MiB + 2],
    ['avg not a power of two', { minSize: 5000, avgSize: 12_345, maxSize: 40_001 }, 2 * MiB + 1],
  ])('agree with the naive definition on random data (%s)', (_name, p, size) => {
    for (const seed of [2, 3]) {
      const data = xorshiftBytes(size, seed);
      expect(chunkBuffer(data, p, gear)).toEqual(naiveChunkLengths(data, p, naive));
    }
  });

  it('agree with the naive definition on low-entropy data', () => {
    const p: ChunkerParams = { minSize: 300, avgSize: 1024, maxSize: 4099 };
    const zeros = new Uint8Array(100_000);
    const text = Buffer.from('INSERT INTO chat VALUES (1, "hello world");\n'.repeat(5000));
    const sparse = xorshiftBytes(200_000, 9).map((b) => (b < 16 ? b : 0));
    for (const data of [zeros, text, sparse]) {
      const lengths = chunkBuffer(data, p, gear);
      expect(lengths).toEqual(naiveChunkLengths(data, p, naive));
      expect(sum(lengths)).toBe(data.length);
    }
  });

  it('cuts a region no longer than minSize whole, and short tails by the same rule', () => {
    const data = xorshiftBytes(SMALL.maxSize * 2, 4);
    expect(findCutPoint(data, 0, 0, SMALL, gear)).toBe(0);
    expect(findCutPoint(data, 5, 5 + SMALL.minSize, SMALL, gear)).toBe(SMALL.minSize);
    for (const n of [SMALL.minSize + 1, SMALL.minSize + 2, SMALL.avgSize, SMALL.avgSize + 1, SMALL.maxSize - 1]) {
      const region = data.subarray(100, 100 + n);
      expect(findCutPoint(data, 100, 100 + n, SMALL, gear)).toBe(naiveChunkLengths(region, SMALL, naive)[0]);
    }
  });

  it('keeps every chunk within [minSize, maxSize] except the last, and the concatenation equals the input', () => {
    const data = xorshiftBytes(8 * MiB + 12_345, 5);
    const lengths = chunkBuffer(data, SMALL, gear);
    expect(sum(lengths)).toBe(data.length);
    for (const n of lengths.slice(0, -1)) {
      expect(n).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(n).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(lengths.at(-1)).toBeGreaterThan(0);
    expect(lengths.at(-1)).toBeLessThanOrEqual(SMALL.maxSize);
    // Under this table a run of zeros never satisfies the mask, so only maxSize cuts it.
    const zeros = chunkBuffer(new Uint8Array(SMALL.maxSize * 3 + 1), SMALL, gear);
    expect(zeros).toEqual([SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, 1]);
  });

  it.each<[string, ChunkerParams]>([
    ['small params', SMALL],
    ['default params', DEFAULT_CHUNKER_PARAMS],
  ])('has a mean chunk size within 35 percent of avgSize on 64 MiB of random data (%s)', (_name, p) => {
    const data = xorshiftBytes(64 * MiB, 6);
    const lengths = chunkBuffer(data, p, gear);
    const mean = data.length / lengths.length;
    expect(mean).toBeGreaterThan(p.avgSize * 0.65);
    expect(mean).toBeLessThan(p.avgSize * 1.35);
  });

  it('cuts elsewhere under a different seed', () => {
    const data = xorshiftBytes(8 * MiB, 7);
    const other = new Uint8Array(32).fill(0xa5);
    const a = offsets(chunkBuffer(data, SMALL, gear));
    const b = offsets(chunkBuffer(data, SMALL, gearTable(other)));
    expect(a).not.toEqual(b);
    // Independent tables should agree only by accident (and at the input's end).
    const shared = a.filter((x) => b.includes(x)).length;
    expect(shared).toBeLessThan(a.length / 10);
  });

  it('resists shifts: 100 bytes inserted mid-buffer change at most 3 chunks', () => {
    const data = xorshiftBytes(40 * MiB, 8);
    const mid = 20 * MiB + 777;
    const edited = new Uint8Array(data.length + 100);
    edited.set(data.subarray(0, mid), 0);
    edited.set(xorshiftBytes(100, 99), mid);
    edited.set(data.subarray(mid), mid + 100);

    const before = chunkHashes(data, SMALL, gear);
    const after = chunkHashes(edited, SMALL, gear);
    const beforeSet = new Set(before);
    const afterSet = new Set(after);
    const newChunks = after.filter((h) => !beforeSet.has(h)).length;
    const lostChunks = before.filter((h) => !afterSet.has(h)).length;
    expect(before.length).toBeGreaterThan(400);
    expect(newChunks).toBeGreaterThanOrEqual(1);
    expect(newChunks).toBeLessThanOrEqual(3);
    expect(lostChunks).toBeLessThanOrEqual(3);
  });

  // The dedup requirement (a 1 MiB change in a large file adds < 5 MiB) at a third of the size, over fixed seeds
  // so it is deterministic. The two-mask rule this replaced failed it for 4 of these 20 seeds (up to 13.8 MiB).
  it('resynchronises after a 1 MiB overwrite: under 5 MiB of new chunks in 64 MiB, for 20 chunker seeds', () => {
    const p = DEFAULT_CHUNKER_PARAMS;
    const data = xorshiftBytes(64 * MiB, 21);
    const edited = data.slice();
    edited.set(xorshiftBytes(MiB, 22), 32 * MiB);
    const added: number[] = [];
    for (let s = 0; s < 20; s++) {
      added.push(newChunkBytes(data, edited, p, gearTable(createHash('sha256').update(`resync seed ${s}`).digest())));
    }
    for (const [s, bytes] of added.entries()) {
      // At least the overwritten MiB itself is new; the rest is the chunks around it that the edit re-cut.
      expect(bytes, `seed ${s}`).toBeGreaterThanOrEqual(MiB);
      expect(bytes, `seed ${s}`).toBeLessThan(5 * MiB);
    }
  });
});
