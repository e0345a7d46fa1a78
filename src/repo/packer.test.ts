import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../storage/memory.js';
import { gate, isPending, SpyBackend, ticks } from '../../test/support/backend-wrappers.js';
import { sha256Hex } from './crypto.js';
import { parsePackHeader, type BlobType, type PackedBlob } from './pack-format.js';
import { Packer } from './packer.js';

const encKey = randomBytes(32);
/** A small target so that a few hundred bytes close a pack. */
const TARGET = 1000;

/** One saved pack as onSaved reported it. */
interface Saved {
  id: string;
  blobs: PackedBlob[];
  bytes: number;
}

/** A blob to add: random "sealed" bytes (the packer never looks inside them) and a plaintext length. */
function blob(size: number): { id: string; sealed: Buffer; rawLength: number } {
  return { id: randomBytes(32).toString('hex'), sealed: randomBytes(size), rawLength: Math.max(0, size - 29) };
}

function setup(opts: { maxUploads?: number; type?: BlobType; target?: number } = {}): { spy: SpyBackend; saved: Saved[]; packer: Packer } {
  const spy = new SpyBackend(new MemoryBackend('packer'));
  const saved: Saved[] = [];
  const packer = new Packer(spy, encKey, opts.type ?? 'data', (id, blobs, bytes) => saved.push({ id, blobs, bytes }), opts.maxUploads ?? 1, opts.target ?? TARGET);
  return { spy, saved, packer };
}

async function storedPacks(spy: SpyBackend): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of await spy.inner.list('data')) out.set(f.name, await spy.inner.load({ type: 'data', name: f.name }));
  return out;
}

describe('Packer layout', () => {
  it('closes a pack as soon as its blobs reach the target, and the rest on flush', async () => {
    const { spy, saved, packer } = setup();
    const blobs = Array.from({ length: 10 }, () => blob(300));
    for (const b of blobs.slice(0, 4)) await packer.add(b.id, b.sealed, b.rawLength);
    // The fourth blob crossed the target: that pack is uploaded without waiting for flush().
    await ticks();
    expect(saved.map((s) => s.blobs.length)).toEqual([4]);
    for (const b of blobs.slice(4)) await packer.add(b.id, b.sealed, b.rawLength);
    await packer.flush();
    expect(saved.map((s) => s.blobs.map((x) => x.id))).toEqual([blobs.slice(0, 4), blobs.slice(4, 8), blobs.slice(8)].map((g) => g.map((b) => b.id)));
    expect((await storedPacks(spy)).size).toBe(3);
  });

  it('names each pack by the SHA-256 of its bytes, whose trailer lists exactly the added blobs', async () => {
    const { spy, saved, packer } = setup({ type: 'tree' });
    const blobs = [blob(100), blob(29), blob(700), blob(450), blob(64)];
    for (const b of blobs) await packer.add(b.id, b.sealed, b.rawLength);
    await packer.flush();
    const stored = await storedPacks(spy);
    expect([...stored.keys()].sort()).toEqual(saved.map((s) => s.id).sort());
    let next = 0;
    for (const s of saved) {
      const bytes = stored.get(s.id)!;
      expect(sha256Hex(bytes)).toBe(s.id);
      expect(bytes.length).toBe(s.bytes);
      // The layout of §11.1: blobs back to back from 0, then 45 bytes per entry and 33 of framing.
      const expected: PackedBlob[] = [];
      let offset = 0;
      for (const b of blobs.slice(next, next + s.blobs.length)) {
        expected.push({ id: b.id, type: 'tree', offset, length: b.sealed.length, rawLength: b.rawLength });
        expect(bytes.subarray(offset, offset + b.sealed.length).equals(b.sealed)).toBe(true);
        offset += b.sealed.length;
      }
      next += s.blobs.length;
      expect(s.blobs).toEqual(expected);
      expect(parsePackHeader(encKey, bytes, s.id)).toEqual(expected);
      expect(bytes.length).toBe(offset + 45 * expected.length + 33);
    }
    expect(next).toBe(blobs.length);
  });

  it('copies each blob at add(), so the caller may reuse its buffer at once', async () => {
    const { spy, saved, packer } = setup();
    const scratch = Buffer.alloc(200);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      scratch.fill(i + 1);
      ids.push(randomBytes(32).toString('hex'));
      await packer.add(ids[i]!, scratch, 100);
    }
    scratch.fill(0xee);
    await packer.flush();
    const stored = await storedPacks(spy);
    // Twelve blobs in three packs: the third reused the first pack's buffer.
    expect(saved).toHaveLength(3);
    for (const s of saved) {
      for (const b of s.blobs) {
        const i = ids.indexOf(b.id);
        expect(stored.get(s.id)!.subarray(b.offset, b.offset + b.length).equals(Buffer.alloc(200, i + 1)), `blob ${i}`).toBe(true);
      }
    }
  });

  it('stores a blob far larger than the pack buffer intact, in a pack of its own', async () => {
    const { spy, saved, packer } = setup();
    const small = blob(300);
    const huge = blob(200_000);
    await packer.add(small.id, small.sealed, small.rawLength);
    await packer.add(huge.id, huge.sealed, huge.rawLength);
    const after = blob(50);
    await packer.add(after.id, after.sealed, after.rawLength);
    await packer.flush();
    expect(saved.map((s) => s.blobs.map((b) => b.id))).toEqual([[small.id, huge.id], [after.id]]);
    const bytes = (await storedPacks(spy)).get(saved[0]!.id)!;
    expect(bytes.subarray(300, 200_300).equals(huge.sealed)).toBe(true);
    expect(parsePackHeader(encKey, bytes, saved[0]!.id)).toEqual(saved[0]!.blobs);
  });

  it('writes nothing when flushed empty, and flushes twice without harm', async () => {
    const { spy, saved, packer } = setup();
    await packer.flush();
    const b = blob(10);
    await packer.add(b.id, b.sealed, b.rawLength);
    await packer.flush();
    await packer.flush();
    expect(saved).toHaveLength(1);
    expect(spy.calls.save).toBe(1);
  });
});

describe('Packer durability', () => {
  it('reports a pack only after its save has completed', async () => {
    const spy = new SpyBackend(new MemoryBackend('durable'));
    const open = gate();
    spy.before = (call) => (call.method === 'save' ? open.wait : undefined);
    // What the backend had finished when each pack was reported.
    const doneWhenReported: boolean[] = [];
    const packer = new Packer(spy, encKey, 'data', (id) => doneWhenReported.push(spy.done('save').includes(`save data/${id}`)), 1, TARGET);
    for (let i = 0; i < 4; i++) {
      const b = blob(300);
      await packer.add(b.id, b.sealed, b.rawLength);
    }
    const flushed = packer.flush();
    expect(await isPending(flushed)).toBe(true);
    expect(spy.calls.save).toBe(1);
    expect(doneWhenReported).toEqual([]);
    open.open();
    await flushed;
    expect(doneWhenReported).toEqual([true]);
  });

  it('surfaces a failed save from flush() and add(), and reports no pack it did not store', async () => {
    const { spy, saved, packer } = setup();
    const boom = new Error('disk full');
    spy.before = (call) => {
      if (call.method === 'save' && spy.calls.save === 2) throw boom;
    };
    const blobs = Array.from({ length: 12 }, () => blob(300));
    await Promise.allSettled(blobs.map((b) => packer.add(b.id, b.sealed, b.rawLength)));
    await expect(packer.flush()).rejects.toBe(boom);
    // Pack 1 is stored and reported; pack 2 failed; pack 3 was never uploaded after the failure.
    expect(saved.map((s) => s.blobs.length)).toEqual([4]);
    expect([...(await storedPacks(spy)).keys()]).toEqual([saved[0]!.id]);
    const late = blob(10);
    await expect(packer.add(late.id, late.sealed, late.rawLength)).rejects.toBe(boom);
  });

  it('fails the next add() once an upload has failed, without waiting for flush()', async () => {
    const { spy, saved, packer } = setup();
    spy.before = (call) => {
      if (call.method === 'save') throw new Error('bucket gone');
    };
    for (let i = 0; i < 4; i++) {
      const b = blob(300);
      await packer.add(b.id, b.sealed, b.rawLength);
    }
    await ticks();
    const b = blob(300);
    await expect(packer.add(b.id, b.sealed, b.rawLength)).rejects.toThrow('bucket gone');
    expect(saved).toEqual([]);
  });
});

describe('Packer backpressure', () => {
  /** A spy whose saves wait for `open`, counting how many run at once. */
  function gated(maxUploads: number): { spy: SpyBackend; saved: Saved[]; packer: Packer; open: () => void; peak: () => number } {
    const s = setup({ maxUploads });
    const g = gate();
    let inFlight = 0;
    let peak = 0;
    s.spy.before = async (call) => {
      if (call.method !== 'save') return;
      peak = Math.max(peak, ++inFlight);
      await g.wait;
    };
    s.spy.after = (call) => {
      if (call.method === 'save') inFlight--;
    };
    return { ...s, open: g.open, peak: () => peak };
  }

  it.each([1, 2])('with %i upload(s) at a time, makes callers wait once one more full pack is queued', async (maxUploads) => {
    const { saved, packer, open, peak } = gated(maxUploads);
    const blobs = Array.from({ length: 40 }, () => blob(300));
    // All callers at once, as the backup's workers would; none awaits another.
    const adds = blobs.map((b) => packer.add(b.id, b.sealed, b.rawLength));
    let returned = 0;
    for (const p of adds) void p.then(() => returned++);
    await ticks();
    // `maxUploads` packs uploading plus one full pack waiting: that many blobs are held, the rest wait.
    expect(returned).toBe(4 * (maxUploads + 1));
    expect(peak()).toBe(maxUploads);
    expect(saved).toEqual([]);
    open();
    await Promise.all(adds);
    await packer.flush();
    expect(peak()).toBe(maxUploads);
    expect(saved.flatMap((s) => s.blobs.map((b) => b.id)).sort()).toEqual(blobs.map((b) => b.id).sort());
  });

  it('rejects a caller waiting for a slot when the upload it waits on fails', async () => {
    const { spy, packer } = setup({ maxUploads: 1 });
    const g = gate();
    spy.before = async (call) => {
      if (call.method !== 'save') return;
      await g.wait;
      throw new Error('connection reset');
    };
    const first = Array.from({ length: 8 }, () => blob(300));
    for (const b of first) await packer.add(b.id, b.sealed, b.rawLength);
    const b = blob(300);
    const waiting = packer.add(b.id, b.sealed, b.rawLength);
    expect(await isPending(waiting)).toBe(true);
    g.open();
    await expect(waiting).rejects.toThrow('connection reset');
    await expect(packer.flush()).rejects.toThrow('connection reset');
  });
});
