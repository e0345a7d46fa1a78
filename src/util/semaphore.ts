/** Counts units (bytes, slots) in use and makes callers wait until enough are free. */
export class Semaphore {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly capacity: number) {}

  /** Waits for `n` units. A request larger than the capacity waits until all are free, then proceeds alone. */
  async acquire(n = 1): Promise<void> {
    const want = Math.min(n, this.capacity);
    if (this.waiters.length === 0 && this.used + want <= this.capacity) {
      this.used += want;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
  }

  /** Returns `n` units. */
  release(n = 1): void {
    this.used -= Math.min(n, this.capacity);
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.capacity) {
      const w = this.waiters.shift()!;
      this.used += w.n;
      w.resolve();
    }
  }
}
