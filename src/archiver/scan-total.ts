import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/**
 * Sums regular file sizes under `paths` (for the progress ETA); runs alongside the backup. Synchronous calls in
 * slices: each costs microseconds where its promise version costs tens, and this walk competes with the backup.
 */
export async function scanTotal(paths: string[], exclude?: (absPath: string, isDir: boolean) => boolean): Promise<number> {
  let total = 0;
  const stack = [...paths];
  let slice = Date.now();
  while (stack.length > 0) {
    if (Date.now() - slice >= 10) {
      await yieldToLoop();
      slice = Date.now();
    }
    const p = stack.pop()!;
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (exclude?.(p, true)) continue;
      let names: string[] = [];
      try {
        names = readdirSync(p);
      } catch {
        // unreadable: the backup itself warns about it
      }
      for (const name of names) stack.push(join(p, name));
    } else if (st.isFile() && !exclude?.(p, false)) {
      total += st.size;
    }
  }
  return total;
}
