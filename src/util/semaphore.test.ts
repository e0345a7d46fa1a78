import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

/** Lets every already-resolved promise callback run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('grants up to its capacity at once, then makes callers wait', async () => {
    const s = new Semaphore(3);
    const granted: number[] = [];
    for (let i = 0; i < 5; i++) void s.acquire().then(() => granted.push(i));
    await tick();
    expect(granted).toEqual([0, 1, 2]);
    s.release();
    await tick();
    expect(granted).toEqual([0, 1, 2, 3]);
    s.release(2);
    await tick();
    expect(granted).toEqual([0, 1, 2, 3, 4]);
  });

  it('counts units, not calls', async () => {
    const s = new Semaphore(100);
    let big = false;
    await s.acquire(60);
    void s.acquire(50).then(() => (big = true));
    await tick();
    expect(big).toBe(false);
    s.release(20);
    await tick();
    expect(big).toBe(true);
  });

  it('serves waiters in order: a small request never overtakes a large one waiting ahead of it', async () => {
    const s = new Semaphore(10);
    const order: string[] = [];
    await s.acquire(8);
    void s.acquire(5).then(() => order.push('large'));
    void s.acquire(1).then(() => order.push('small')); // would fit now, but must queue behind "large"
    await tick();
    expect(order).toEqual([]);
    s.release(8);
    await tick();
    expect(order).toEqual(['large', 'small']);
  });

  it('wakes every waiter that fits after one release', async () => {
    const s = new Semaphore(4);
    await s.acquire(4);
    const woke: number[] = [];
    for (let i = 0; i < 4; i++) void s.acquire().then(() => woke.push(i));
    s.release(4);
    await tick();
    expect(woke).toEqual([0, 1, 2, 3]);
  });

  it('lets a request larger than the capacity proceed alone once everything is free', async () => {
    const s = new Semaphore(10);
    await s.acquire(3);
    let huge = false;
    let after = false;
    void s.acquire(25).then(() => (huge = true));
    void s.acquire(1).then(() => (after = true));
    await tick();
    expect(huge).toBe(false);
    s.release(3);
    await tick();
    expect(huge).toBe(true);
    expect(after).toBe(false); // the oversized one holds all units
    s.release(25);
    await tick();
    expect(after).toBe(true);
  });

  it('never has more than its capacity in use under random load', async () => {
    const s = new Semaphore(16);
    let inUse = 0;
    let peak = 0;
    const worker = async (n: number): Promise<void> => {
      await s.acquire(n);
      inUse += n;
      peak = Math.max(peak, inUse);
      await tick();
      inUse -= n;
      s.release(n);
    };
    await Promise.all(Array.from({ length: 200 }, (_, i) => worker((i * 7) % 9 + 1)));
    expect(peak).toBeLessThanOrEqual(16);
    expect(peak).toBeGreaterThan(8);
    expect(inUse).toBe(0);
    // Everything was returned: the full capacity is free again.
    let free = false;
    void s.acquire(16).then(() => (free = true));
    await tick();
    expect(free).toBe(true);
  });
});
