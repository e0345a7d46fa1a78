import { describe, expect, it } from 'vitest';
import { fileStamp, formatSeconds } from './run-report.js';

describe('formatSeconds', () => {
  it('picks a readable unit', () => {
    expect(formatSeconds(0.4113)).toBe('0.411 s');
    expect(formatSeconds(125.5)).toBe('2m 05.5s');
    expect(formatSeconds(3723)).toBe('1h 02m 03s');
  });
});

describe('fileStamp', () => {
  it('drops milliseconds and colons, which some file systems refuse in names', () => {
    expect(fileStamp(new Date('2026-11-26T09:15:02.120Z'))).toBe('2026-11-26T09-15-02Z');
  });
});
