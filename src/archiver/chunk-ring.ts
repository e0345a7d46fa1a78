/** A shorter free stretch at the ring's end is skipped in favour of its front, when that is free. */
const MIN_READ = 64 * 1024;

/** A chunk whose bytes must stay put in the ring until it is saved. */
export interface Claim {
  offset: number;
  length: number;
  done: boolean;
}

/**
 * Memory shared with the workers, holding the window being chunked [start, end) and, behind it, chunks not yet
 * saved. Chunks are claimed in ring order and released in any order; space is reused behind the oldest live
 * chunk. When the window reaches the end of the memory it moves to the front (as the Chunker compacts its buffer),
 * once the chunks there have been saved.
 */
export class ChunkRing {
  readonly memory: SharedArrayBuffer;
  readonly buf: Buffer;
  start = 0;
  end = 0;
  private readonly live: Claim[] = [];
  private head = 0;
  private wake: (() => void) | undefined;

  constructor(readonly capacity: number) {
    this.memory = new SharedArrayBuffer(capacity);
    this.buf = Buffer.from(this.memory);
  }

  /** Starts a new input: chunks never span two inputs. */
  beginInput(): void {
    this.start = this.end;
  }

  /** Makes the next `n` bytes of the window a chunk; they stay put until release(). */
  claim(n: number): Claim {
    const c: Claim = { offset: this.start, length: n, done: false };
    this.live.push(c);
    this.start += n;
    return c;
  }

  /** Frees a chunk's bytes (once the chunks claimed before it are free too). */
  release(c: Claim): void {
    c.done = true;
    while (this.head < this.live.length && this.live[this.head]!.done) this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.live.length) {
      this.live.splice(0, this.head);
      this.head = 0;
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Free bytes right after the window's end (at least one), ideally `want`. Moves the window to the front of the
   * memory, or waits for chunks to be saved, when the end is (nearly) full.
   */
  async room(want: number): Promise<number> {
    for (;;) {
      const tail = this.head < this.live.length ? this.live[this.head]!.offset : undefined;
      // Live chunks either trail the window (tail < start) or, after a move, lie ahead of it (tail >= start).
      const ahead = tail !== undefined && tail >= this.start;
      const after = (ahead ? tail : this.capacity) - this.end;
      if (after >= want || after >= MIN_READ) return after;
      if (!ahead && this.start > 0) {
        const w = this.end - this.start;
        const front = tail === undefined ? this.capacity : tail;
        if (front - w >= want || front - w >= MIN_READ || tail === undefined || (after === 0 && front > w)) {
          this.buf.copyWithin(0, this.start, this.end);
          this.start = 0;
          this.end = w;
          continue;
        }
      }
      if (after > 0) return after;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
