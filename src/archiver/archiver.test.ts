import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkBuffer, gearTable, type ChunkerParams } from '../repo/chunker.js';
import { newMasterKey } from '../repo/crypto.js';
import { Repository } from '../repo/repository.js';
import { BlobWorkerPool } from '../repo/worker-pool.js';
import { MemoryBackend } from '../storage/memory.js';
import { xorshiftBytes } from '../../test/support/xorshift.js';
import { Archiver, type ArchiveCounters } from './archiver.js';

const KiB = 1024;
/** Small enough that a few MiB cut into hundreds of chunks. */
const SMALL: ChunkerParams = { minSize: 16 * KiB, avgSize: 64 * KiB, maxSize: 256 * KiB };
/** Cuts at maxSize on nearly every chunk, so the ring's window moves (and compacts) all the time. */
const TINY: ChunkerParams = { minSize: 64, avgSize: 128, maxSize: 130 };

function* pieces(data: Uint8Array, size: number | ((i: number) => number)): Generator<Uint8Array> {
  for (let pos = 0, i = 0; pos < data.length; i++) {
    const n = typeof size === 'number' ? size : size(i);
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

/**
 * The archiver's streaming reader (a ring shared with the workers) must cut exactly where chunkBuffer cuts the
 * whole input: the cut rule is the repository format, and a reader that searched before holding maxSize bytes,
 * or lost bytes when its window moved, would stop deduplicating against other writers.
 */
describe.each([
  ['small params', SMALL, 8 * 1024 * 1024],
  ['tiny params and a tiny ring', TINY, 1000],
])('Archiver chunking with %s', (_name, params, inFlightBytes) => {
  let dir: string;
  let repo: Repository;
  let pool: BlobWorkerPool;
  let archiver: Archiver;
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-archiver-'));
    // A fixed chunker seed keeps the zero-run case deterministic (whether a run of zeros cuts at maxSize depends on
    // the gear table).
    repo = await Repository.init(new MemoryBackend('archiver'), 'pw', { chunker: params, contentKeysFrom: { ...newMasterKey(), chunkerSeed: Buffer.alloc(32) } });
    pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
    archiver = new Archiver(repo, { pool, inFlightBytes, onWarning: (m) => warnings.push(m) });
  });
  afterAll(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The blob ids chunkBuffer's cuts give, in order. */
  function expectedIds(data: Uint8Array): string[] {
    const gear = gearTable(repo.key.chunkerSeed);
    const ids: string[] = [];
    let pos = 0;
    for (const n of chunkBuffer(data, params, gear)) {
      ids.push(repo.blobIdOf(data.subarray(pos, pos + n)));
      pos += n;
    }
    return ids;
  }

  const { minSize, maxSize } = params;
  const sizes = [0, 1, minSize - 1, minSize, minSize + 1, maxSize, 3 * maxSize + 12_345, 40 * maxSize + 777];

  it('cuts files of every boundary size as chunkBuffer does', async () => {
    for (const [k, size] of sizes.entries()) {
      const data = xorshiftBytes(size, 100 + k);
      const path = join(dir, `f${k}`);
      await writeFile(path, data);
      const node = await (await archiver.archivePath(path, `f${k}`, undefined)).node;
      expect(node?.size, `size ${size}`).toBe(size);
      expect(node?.content, `size ${size}`).toEqual(expectedIds(data));
    }
    expect(warnings).toEqual([]);
  });

  it('cuts runs of zeros (cuts at maxSize) as chunkBuffer does', async () => {
    const data = xorshiftBytes(6 * maxSize + 99, 16);
    data.fill(0, maxSize / 2, 3 * maxSize);
    data.fill(0, 4 * maxSize + 5, 5 * maxSize + 12);
    const gear = gearTable(repo.key.chunkerSeed);
    expect(chunkBuffer(data, params, gear).filter((n) => n === maxSize).length).toBeGreaterThanOrEqual(3);
    const path = join(dir, 'zeros');
    await writeFile(path, data);
    expect((await (await archiver.archivePath(path, 'zeros', undefined)).node)?.content).toEqual(expectedIds(data));
  });

  it.each<[string, number | ((i: number) => number)]>([
    ['1-byte', 1],
    ['7-byte', 7],
    ['irregular', (i) => [1, 65_537, 13, 300_001, 0, 4096][i % 6]!],
  ])('cuts a stream of %s pieces as chunkBuffer does', async (_n, size) => {
    for (const [k, n] of sizes.entries()) {
      if (size === 1 && n > 4 * maxSize) continue; // one-byte pieces over the largest input add time, not coverage
      const data = xorshiftBytes(n, 200 + k);
      const node = await (await archiver.archiveStream(`s${k}`, Readable.from(pieces(data, size)))).node;
      expect(node?.content, `size ${n}`).toEqual(expectedIds(data));
    }
  });

  it('rejects a stream of strings instead of storing their UTF-8 bytes', async () => {
    await expect(archiver.archiveStream('strings', Readable.from(['not bytes'], { objectMode: true }))).rejects.toThrow(TypeError);
  });
});

describe('Archiver progress and changing files', () => {
  let dir: string;
  let repo: Repository;
  let pool: BlobWorkerPool;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'owb-archiver-progress-'));
    repo = await Repository.init(new MemoryBackend('progress'), 'pw', { chunker: SMALL });
    pool = new BlobWorkerPool(repo.key, repo.config.compression.level);
  });
  afterAll(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports bytes while one large file is read, not only when it is done', async () => {
    const size = 24 * 1024 * 1024;
    await writeFile(join(dir, 'big.db'), xorshiftBytes(size, 7));
    const seen: number[] = [];
    const archiver = new Archiver(repo, {
      pool,
      progressIntervalMs: 0,
      onWarning: () => undefined,
      onProgress: (c: ArchiveCounters) => seen.push(c.bytesDone),
    });
    await (await archiver.archivePath(join(dir, 'big.db'), 'big.db', undefined)).node;
    const during = seen.filter((b) => b > 0 && b < size);
    expect(during.length).toBeGreaterThanOrEqual(4); // reads are at most 4 MiB
    expect(seen.at(-1)).toBe(size); // counted once, not again when the file is done
    expect(archiver.counters.bytesDone).toBe(size);
  });

  it('warns about a file that changes while it is read', async () => {
    const path = join(dir, 'growing.log');
    await writeFile(path, xorshiftBytes(16 * 1024 * 1024, 8));
    // Another process appends all the time, as a live log or database would.
    const writer = spawn('sh', ['-c', `while :; do echo appended >> '${path}'; done`], { stdio: 'ignore' });
    try {
      const { stat } = await import('node:fs/promises');
      while ((await stat(path)).size === 16 * 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
      const warnings: string[] = [];
      const archiver = new Archiver(repo, { pool, onWarning: (m) => warnings.push(m) });
      await (await archiver.archivePath(path, 'growing.log', undefined)).node;
      expect(warnings).toEqual([`file changed while being read: ${path}`]);
    } finally {
      writer.kill('SIGKILL');
    }
    const quiet: string[] = [];
    await (await new Archiver(repo, { pool, onWarning: (m) => quiet.push(m) }).archivePath(join(dir, 'big.db'), 'big.db', undefined)).node;
    expect(quiet).toEqual([]);
  });
});
