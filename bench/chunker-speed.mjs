// Standalone speed check for the content-defined chunker's cut-point search.
//   npx tsc -p tsconfig.build.json && node bench/chunker-speed.mjs [path/to/chunker.js]
// Prints MB/s (10^6 bytes per second) over 256 MiB of random bytes, best of 3 runs, with the default parameters.
// Random data is the worst realistic case for throughput: cuts land near the average size, so nearly every byte
// is hashed (only minSize per chunk is skipped).
import { randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const modPath = process.argv[2]
  ? pathToFileURL(resolve(process.argv[2])).href
  : new URL('../dist/repo/chunker.js', import.meta.url).href;
const { chunkBuffer, gearTable, DEFAULT_CHUNKER_PARAMS } = await import(modPath);

const SIZE = 256 * 1024 * 1024;
const RUNS = 3;

const data = new Uint8Array(SIZE);
// randomFillSync caps one call at 2^31-1 bytes; fill in slices anyway to keep memory spikes small.
for (let off = 0; off < SIZE; off += 64 * 1024 * 1024) randomFillSync(data.subarray(off, off + 64 * 1024 * 1024));
const gear = gearTable(randomFillSync(new Uint8Array(32)));

let best = Infinity;
let chunks = 0;
for (let run = 0; run < RUNS; run++) {
  const t0 = process.hrtime.bigint();
  const lengths = chunkBuffer(data, DEFAULT_CHUNKER_PARAMS, gear);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  chunks = lengths.length;
  best = Math.min(best, secs);
  console.log(`run ${run + 1}: ${(SIZE / 1e6 / secs).toFixed(0)} MB/s`);
}
console.log(
  `chunker: ${(SIZE / 1e6 / best).toFixed(0)} MB/s best of ${RUNS} on ${SIZE / 2 ** 20} MiB random data ` +
    `(${chunks} chunks, mean ${(SIZE / chunks / 2 ** 20).toFixed(2)} MiB, node ${process.version})`,
);
