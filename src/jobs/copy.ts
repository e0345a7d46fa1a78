import type { Repository } from '../repo/repository.js';
import { listSnapshots, type SnapshotJson } from '../repo/snapshot.js';
import { OwbError, stopIfAborted } from '../errors.js';
import { displayName, hasEscapedBytes } from '../repo/names.js';
import type { TreeNode } from '../repo/tree.js';
import { instrumentationPoint } from '../util/instrument.js';

/** What `copy` is asked to do. */
export interface CopyOptions {
  /** Snapshot ids (or unique prefixes) to copy; empty means all. */
  snapshots?: string[];
  onProgress?: (p: { snapshot: string; blobsCopied: number; bytesCopied: number }) => void;
  /** Aborted on SIGINT/SIGTERM: copy stops between blobs; what it uploaded is reused by the next copy. */
  signal?: AbortSignal;
}

/** What a copy did. */
export interface CopyResult {
  copied: { from: string; to: string }[];
  skipped: string[];
  blobsCopied: number;
  bytesCopied: number;
}

/**
 * Copies snapshots from `src` to `dst` (both opened; the caller holds shared locks on both), uploading only
 * the blobs `dst` lacks. Blobs are decrypted, verified and re-encrypted with dst's key, so each repository
 * keeps its own encryption key. When both share content keys (`init --copy-chunker-params`), blob ids are
 * equal and only missing blobs are even read; otherwise every blob is re-identified and trees rewritten.
 * A snapshot whose copy already exists in dst (same `original`) is skipped, so copy can run after every backup.
 */
export async function runCopy(src: Repository, dst: Repository, opts: CopyOptions = {}): Promise<CopyResult> {
  await src.loadIndex();
  await dst.loadIndex();
  const all = await listSnapshots(src);
  const wanted = opts.snapshots?.length
    ? opts.snapshots.map((ref) => {
        const hits = all.filter((s) => s.id.startsWith(ref));
        if (hits.length !== 1) throw new Error(hits.length === 0 ? `no snapshot ${ref} in the source` : `snapshot id ${ref} is ambiguous`);
        return hits[0]!;
      })
    : all;
  const present = new Set((await listSnapshots(dst)).map((s) => s.original ?? s.id));
  const sameIds = src.key.idKey.equals(dst.key.idKey);
  const copier = new BlobCopier(src, dst, sameIds);
  const res: CopyResult = { copied: [], skipped: [], blobsCopied: 0, bytesCopied: 0 };
  await instrumentationPoint('copy.snapshots');
  for (const snap of wanted) {
    if (present.has(snap.id)) {
      res.skipped.push(snap.id);
      continue;
    }
    const tree = await copier.copyTree(snap.tree, () => {
      stopIfAborted(opts.signal);
      opts.onProgress?.({ snapshot: snap.id, blobsCopied: copier.blobs, bytesCopied: copier.bytes });
    });
    await dst.flush();
    const { id: _id, ...body } = snap;
    const json: SnapshotJson = { ...body, tree, original: snap.original ?? snap.id };
    await dst.verifyBeforeCommit();
    const newId = await dst.saveJson('snapshots', json);
    res.copied.push({ from: snap.id, to: newId });
    present.add(snap.id);
  }
  res.blobsCopied = copier.blobs;
  res.bytesCopied = copier.bytes;
  return res;
}

/** Copies blobs and trees, remembering src id → dst id so shared subtrees are copied once per run. */
class BlobCopier {
  blobs = 0;
  bytes = 0;
  private readonly mapped = new Map<string, string>();
  private readonly verified = new Set<string>();

  constructor(
    private readonly src: Repository,
    private readonly dst: Repository,
    private readonly sameIds: boolean,
  ) {}

  async copyTree(srcId: string, tick: () => void): Promise<string> {
    const known = this.mapped.get(srcId);
    if (known) return known;
    if (this.sameIds && this.dst.hasBlob(srcId) && (await this.subtreeComplete(srcId))) {
      this.mapped.set(srcId, srcId);
      return srcId;
    }
    const tree = await this.src.loadTree(srcId);
    const nodes: TreeNode[] = [];
    for (const n of tree.nodes) {
      // A format 1 reader would misread names that are not UTF-8: never copy them into such a repository.
      if (this.dst.formatVersion < 2 && (hasEscapedBytes(n.name) || (n.linktarget !== undefined && hasEscapedBytes(n.linktarget)))) {
        throw new OwbError(`a snapshot holds the name "${displayName(n.name)}", which is not UTF-8: the destination (format ${this.dst.formatVersion}) cannot store it; copy into a format 2 repository`);
      }
      const copy: TreeNode = { ...n };
      if (n.type === 'dir') copy.subtree = await this.copyTree(n.subtree!, tick);
      if (n.type === 'file') {
        copy.content = [];
        for (const c of n.content ?? []) copy.content.push(await this.copyData(c));
        tick();
      }
      nodes.push(copy);
    }
    const dstId = await this.dst.saveTree(nodes);
    this.mapped.set(srcId, dstId);
    return dstId;
  }

  private async copyData(srcId: string): Promise<string> {
    const known = this.mapped.get(srcId);
    if (known) return known;
    if (this.sameIds && this.dst.hasBlob(srcId)) return srcId;
    const plain = await this.src.loadBlob(srcId);
    const dstId = await this.dst.saveBlob('data', plain);
    this.blobs++;
    this.bytes += plain.length;
    if (!this.sameIds) this.mapped.set(srcId, dstId);
    return dstId;
  }

  // With shared ids a tree already in dst may still lack some data (an interrupted earlier copy wrote the
  // tree's pack but not all of its data); verify before trusting it.
  private async subtreeComplete(id: string): Promise<boolean> {
    if (this.verified.has(id)) return true;
    const tree = await this.dst.loadTree(id);
    for (const n of tree.nodes) {
      if (n.type === 'file' && !(n.content ?? []).every((c) => this.dst.hasBlob(c))) return false;
      if (n.type === 'dir' && !(this.dst.hasBlob(n.subtree!) && (await this.subtreeComplete(n.subtree!)))) return false;
    }
    this.verified.add(id);
    return true;
  }
}
