/** Deterministic bytes from xorshift32, written byte by byte so the output does not depend on host endianness. */
export function xorshiftBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 0x9e3779b9;
  let i = 0;
  while (i < n) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    for (let k = 0; k < 4 && i < n; k++, i++) out[i] = (x >>> (8 * k)) & 0xff;
  }
  return out;
}
