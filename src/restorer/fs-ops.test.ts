import { describe, expect, it } from 'vitest';
import { nsToTimeArg } from './restore.js';

describe('nsToTimeArg', () => {
  it('aims at the middle of the microsecond so truncation lands on it', () => {
    expect(Number(nsToTimeArg('1111111111111110000'))).toBeCloseTo(1111111111.1111105, 6);
    const t = Number(nsToTimeArg('1111111111111110999'));
    expect(Math.floor(t * 1e6)).toBe(1111111111111110);
  });
  it('keeps times before 1970 negative, floored to the microsecond', () => {
    expect(Number(nsToTimeArg('-14182940000000000'))).toBeCloseTo(-14182939.9999995, 6);
    expect(Number(nsToTimeArg('-1500'))).toBeCloseTo(-0.0000015, 9);
  });
  it('is a numeric string (Node turns negative numbers into "now")', () => {
    expect(nsToTimeArg('-1000000000')).toMatch(/^-?\d+(\.\d+)?(e-?\d+)?$/);
  });
});
