import { describe, expect, it } from 'vitest';
import { nsToTimeArg } from './fs-ops.js';

describe('nsToTimeArg', () => {
  it('aims at the middle of the microsecond so truncation lands on it', () => {
    expect(Number(nsToTimeArg('1111111111111110000'))).toBeCloseTo(1111111111.1111105, 6);
    const t = Number(nsToTimeArg('1111111111111110999'));
    expect(Math.floor(t * 1e6)).toBe(1111111111111110);
  });
  it('keeps times before 1970 negative, aiming past the floored microsecond (truncation goes toward zero)', () => {
    expect(Number(nsToTimeArg('-14182940000000000'))).toBeCloseTo(-14182940.0000005, 6);
    expect(Number(nsToTimeArg('-1500'))).toBeCloseTo(-0.0000025, 9);
    expect(Number(nsToTimeArg('-86400123456789'))).toBeCloseTo(-86400.1234575, 6);
  });
  it('is a numeric string (Node turns negative numbers into "now")', () => {
    expect(nsToTimeArg('-1000000000')).toMatch(/^-?\d+(\.\d+)?(e-?\d+)?$/);
  });
});
