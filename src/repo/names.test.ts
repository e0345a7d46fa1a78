import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { displayName, hasEscapedBytes, nameFromBytes, nameToBytes } from './names.js';

describe('names as bytes', () => {
  it('keeps valid UTF-8 as its text, with no escape', () => {
    for (const s of ['plain.txt', 'ünïcödé 名前 🙂', 'r\uFFFD', 'back\\slash']) {
      expect(nameFromBytes(Buffer.from(s, 'utf8'))).toBe(s);
      expect(hasEscapedBytes(s)).toBe(false);
      expect(nameToBytes(s)).toEqual(Buffer.from(s, 'utf8'));
    }
  });

  it('tells r\\xff and r\\u{FFFD} apart (they used to collide)', () => {
    const raw = nameFromBytes(Buffer.from([0x72, 0xff]));
    const text = nameFromBytes(Buffer.from('r\uFFFD', 'utf8'));
    expect(raw).not.toBe(text);
    expect(hasEscapedBytes(raw)).toBe(true);
    expect(displayName(raw)).toBe('r\\xff');
    expect(nameToBytes(raw)).toEqual(Buffer.from([0x72, 0xff]));
  });

  it('round-trips invalid sequences: lone continuation, truncated, overlong, surrogates, above U+10FFFF', () => {
    const cases = [[0x80], [0xc3], [0xe2, 0x82], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x74, 0xff, 0x78]];
    for (const c of cases) {
      const b = Buffer.from(c);
      expect(nameToBytes(nameFromBytes(b))).toEqual(b);
    }
  });

  it('round-trips 2,000 random byte strings exactly, and survives JSON', () => {
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 40));
      const name = nameFromBytes(b);
      expect(nameToBytes(JSON.parse(JSON.stringify(name)) as string)).toEqual(b);
    }
  });

  it('does not take a real astral character for an escape', () => {
    const s = 'a\u{1F642}b'; // a surrogate pair, not an escape
    expect(hasEscapedBytes(s)).toBe(false);
    expect(nameToBytes(s)).toEqual(Buffer.from(s, 'utf8'));
  });
});
