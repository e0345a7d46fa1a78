/**
 * Returns `buf` if it alone owns its ArrayBuffer, else a copy that does. Transferring a Buffer that is a
 * view into Node's shared pool to a worker would detach the pool under unrelated code.
 */
export function ownBuffer(buf: Uint8Array): Buffer {
  if (buf.byteOffset === 0 && buf.buffer.byteLength === buf.byteLength && buf.buffer instanceof ArrayBuffer) {
    return Buffer.from(buf.buffer, 0, buf.byteLength);
  }
  const copy = Buffer.from(new ArrayBuffer(buf.byteLength));
  copy.set(buf);
  return copy;
}
