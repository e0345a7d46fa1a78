/**
 * File names and symlink targets are bytes on POSIX, and not always valid UTF-8. Format 2 stores them as JSON
 * strings in which each byte that is not part of valid UTF-8 is written as a lone surrogate U+DC80..U+DCFF (the
 * byte plus 0xDC00, as Python's "surrogateescape"). Text decoded from valid UTF-8 never holds a lone surrogate, so
 * the mapping is one-to-one: `r\xff` and `r\u{FFFD}` stay two names, and every name comes back as the bytes it was.
 */

const ESCAPE_BASE = 0xdc00;

/** The name (or link target) for raw bytes: their UTF-8 text, with each invalid byte escaped. */
export function nameFromBytes(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = validSequenceLength(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + bytes[i]!);
      i++;
    } else {
      out += Buffer.from(bytes.subarray(i, i + n)).toString('utf8');
      i += n;
    }
  }
  return out;
}

/** The bytes a name stands for (the inverse of nameFromBytes). */
export function nameToBytes(name: string): Buffer {
  if (!hasEscapedBytes(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (isEscape(name, i)) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.of(c - ESCAPE_BASE));
    } else {
      run += name[i];
    }
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** True when a name holds bytes that are not valid UTF-8 (and so needs a Buffer path on disk). */
export function hasEscapedBytes(name: string): boolean {
  for (let i = 0; i < name.length; i++) if (isEscape(name, i)) return true;
  return false;
}

/** A readable form for messages and listings: escaped bytes shown as \xNN. */
export function displayName(name: string): string {
  if (!hasEscapedBytes(name)) return name;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    out += isEscape(name, i) ? `\\x${(name.charCodeAt(i) - ESCAPE_BASE).toString(16).padStart(2, '0')}` : name[i];
  }
  return out;
}

/** A lone low surrogate in the escape range: not preceded by a high surrogate. */
function isEscape(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xdc80 || c > 0xdcff) return false;
  const prev = i > 0 ? s.charCodeAt(i - 1) : 0;
  return !(prev >= 0xd800 && prev <= 0xdbff);
}

/** Length of the valid UTF-8 sequence starting at i (1–4), or 0 when the byte there starts none. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number): boolean => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 > 0x9f) return 0; // a surrogate: never valid UTF-8
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 > 0x8f) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}
