import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, table } from './format.js';

describe('formatBytes', () => {
  it('prints bytes below 1 KiB as whole bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1)).toBe('1 B');
    expect(formatBytes(1023)).toBe('1023 B');
  });

  it('switches unit at each power of 1024, with two decimals', () => {
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(1024 * 1024 - 1)).toBe('1024.00 KiB');
    expect(formatBytes(1024 * 1024)).toBe('1.00 MiB');
    expect(formatBytes(5.25 * 1024 ** 3)).toBe('5.25 GiB');
    expect(formatBytes(2 * 1024 ** 4)).toBe('2.00 TiB');
  });

  it('goes up to PiB and stays there, and handles negative sizes', () => {
    expect(formatBytes(3 * 1024 ** 5)).toBe('3.00 PiB');
    expect(formatBytes(3 * 1024 ** 6)).toBe('3072.00 PiB');
    expect(formatBytes(-2048)).toBe('-2.00 KiB');
    expect(formatBytes(-5)).toBe('-5 B');
  });
});

describe('formatDuration', () => {
  it('prints m:ss below an hour and h:mm:ss above', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(62)).toBe('1:02');
    expect(formatDuration(3599)).toBe('59:59');
    expect(formatDuration(3600)).toBe('1:00:00');
    expect(formatDuration(3723)).toBe('1:02:03');
    expect(formatDuration(100 * 3600)).toBe('100:00:00');
  });

  it('rounds to whole seconds and clamps negatives to zero', () => {
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(1.4)).toBe('0:01');
    expect(formatDuration(-3)).toBe('0:00');
  });
});

describe('table', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(table([['ID', 'Host', 'Paths'], ['abcdef12', 'h', '/srv/a'], ['1', 'longhost', '/x']]).split('\n')).toEqual([
      'ID        Host      Paths',
      'abcdef12  h         /srv/a',
      '1         longhost  /x',
    ]);
  });

  it('handles no rows and rows of one column', () => {
    expect(table([])).toBe('');
    expect(table([['a'], ['bbb']])).toBe('a\nbbb');
  });
});
