import { describe, expect, it } from 'vitest';
import { selectSubset } from './check.js';

const packs = Array.from({ length: 40 }, (_, i) => (i * 2654435761 >>> 0).toString(16).padStart(8, '0') + 'a'.repeat(56));

describe('selectSubset', () => {
  it('k/n groups partition the packs: n runs read everything exactly once', () => {
    const seen = [1, 2, 3, 4].flatMap((k) => selectSubset(packs, `${k}/4`));
    expect([...seen].sort()).toEqual([...packs].sort());
  });
  it('n% picks that share (at least one pack), without repeats', () => {
    const s = selectSubset(packs, '25%');
    expect(s).toHaveLength(10);
    expect(new Set(s).size).toBe(10);
    expect(selectSubset(packs, '0.1%')).toHaveLength(1);
  });
  it('refuses malformed specs', () => {
    expect(() => selectSubset(packs, '5/4')).toThrow(/k <= n/);
    expect(() => selectSubset(packs, 'half')).toThrow(/n% or k\/n/);
    expect(() => selectSubset(packs, '0%')).toThrow(/percentage/);
  });
});
