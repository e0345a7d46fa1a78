import { DamagedRepoError, isNotFound, RepoExistsError, RepoNotFoundError, UnsupportedVersionError } from '../errors.js';
import type { Backend, FileType } from '../storage/backend.js';
import { validateChunkerParams, type ChunkerParams } from './chunker.js';
import { BlobCodec } from './codec.js';
import { blobId, newMasterKey, sha256Hex, type MasterKey, type Password } from './crypto.js';
import { indexFileFor, MasterIndex, type IndexFileJson } from './index-file.js';
import { addKey, listKeys, openKey, type KeyInfo } from './keys.js';
import { listLocks, RepoLock, type LockInfo } from './lock.js';
import type { BlobType, PackedBlob } from './pack-format.js';
import { checkObjectSize, maxPackBytes } from './limits.js';
import { Packer } from './packer.js';
import { PACK_TARGET_BYTES } from './pack-format.js';
import { encodeTree, type Tree, type TreeNode } from './tree.js';
import { TreeLoader } from './tree-loader.js';
import { chunkerParamsOf, newRepoConfig, READABLE_VERSIONS, type RepoConfigJson } from './repo-config.js';

const CONFIG = { type: 'config', name: '' } as const;
/** Write an index file after this many new packs, so an interrupted run keeps most of its work. */
const INDEX_EVERY_PACKS = 32;

/** Options for creating a repository. */
export interface InitOptions {
  chunker?: ChunkerParams;
  /** Reuse another repository's id key and chunker seed, so both dedup alike (for copies). */
  contentKeysFrom?: MasterKey;
}

/** Statistics of blobs written through this handle. */
export interface WriteStats {
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of new blobs. */
  bytesAdded: number;
  /** Stored bytes of new packs, headers included. */
  bytesPacked: number;
}

/**
 * An open repository: keys, config, index and blob I/O over one Backend. It knows nothing of what the
 * blobs mean (files, Open WebUI).
 */
export class Repository {
  readonly index = new MasterIndex();
  readonly stats: WriteStats = { dataBlobs: 0, treeBlobs: 0, bytesAdded: 0, bytesPacked: 0 };
  private readonly pendingBlobs = new Set<string>();
  private unindexed: { id: string; blobs: PackedBlob[] }[] = [];
  private packers: Partial<Record<BlobType, Packer>> = {};
  private indexWrites: Promise<void> = Promise.resolve();
  private trees: TreeLoader | undefined;
  /** Packs holding blobs this session reused instead of writing: they must still exist when a snapshot refers to them. */
  private readonly reusedPacks = new Set<string>();
  /** Packs written by this session (not "reused", though indexed by now). */
  private readonly ownPacks = new Set<string>();
  private held: RepoLock | undefined;

  private constructor(
    readonly backend: Backend,
    readonly key: MasterKey,
    readonly keyId: string,
    readonly config: RepoConfigJson,
    readonly codec: BlobCodec,
  ) {}

  /** Creates a repository; refuses when `config` already exists. */
  static async init(backend: Backend, password: Password, opts: InitOptions = {}): Promise<Repository> {
    if (await backend.exists(CONFIG)) throw new RepoExistsError(backend.location);
    // A folder with snapshots or data but no config is a repository that lost its config: a new one over it would
    // hide every snapshot (its keys would not open them). Refuse, and say how to recover. Keys alone are what an
    // interrupted init leaves; a new init may go ahead (openKey passes over such orphan keys).
    const found: string[] = [];
    for (const type of ['snapshots', 'index', 'data'] as const) {
      const n = (await backend.list(type)).length;
      if (n > 0) found.push(`${n} ${type === 'data' ? 'pack' : type === 'index' ? 'index file' : 'snapshot'}(s)`);
    }
    if (found.length > 0) {
      throw new RepoExistsError(
        backend.location,
        `it holds ${found.join(', ')} but no config: this is a repository whose config object was lost or deleted. Put the config file back from a copy of this repository, or move the folder away to start a new one`,
      );
    }
    const chunker = opts.chunker;
    if (chunker) validateChunkerParams(chunker);
    await backend.create();
    const fresh = newMasterKey();
    const key = opts.contentKeysFrom
      ? { ...fresh, idKey: opts.contentKeysFrom.idKey, chunkerSeed: opts.contentKeysFrom.chunkerSeed }
      : fresh;
    const keyId = await addKey(backend, key, password);
    const config = newRepoConfig(chunker);
    const codec = new BlobCodec(key.encKey, config.compression.level);
    // The config goes last: a repository "exists" only once everything it needs is in place.
    await backend.save(CONFIG, codec.encodeJson(config));
    return new Repository(backend, key, keyId, config, codec);
  }

  /** Opens a repository: RepoNotFoundError (10) without `config`, WrongPasswordError (12) without a matching key. */
  static async open(backend: Backend, password: Password): Promise<Repository> {
    let rawConfig: Buffer;
    try {
      checkObjectSize('config', 'config', (await backend.stat(CONFIG)).size);
      rawConfig = await backend.load(CONFIG);
    } catch (err) {
      if (isNotFound(err)) throw new RepoNotFoundError(backend.location);
      throw err;
    }
    let config: RepoConfigJson | undefined;
    const { keyId, master } = await openKey(backend, password, (candidate) => {
      try {
        config = new BlobCodec(candidate.encKey).decodeJson<RepoConfigJson>(rawConfig, 'config');
        return true;
      } catch {
        return false;
      }
    });
    if (!config) throw new DamagedRepoError('config could not be read');
    if (!READABLE_VERSIONS.includes(config.version)) throw new UnsupportedVersionError(config.version);
    validateChunkerParams(chunkerParamsOf(config));
    return new Repository(backend, master, keyId, config, new BlobCodec(master.encKey, config.compression.level));
  }

  /** The repository's format version (what it may hold: version 2 adds names that are not UTF-8). */
  get formatVersion(): number {
    return this.config.version;
  }

  /** Chunker parameters of this repository. */
  get chunkerParams(): ChunkerParams {
    return chunkerParamsOf(this.config);
  }

  /** Takes a shared or exclusive lock, which verifyBeforeCommit() then checks. */
  async lock(exclusive: boolean): Promise<RepoLock> {
    this.held = await RepoLock.acquire({ backend: this.backend, codec: this.codec }, exclusive);
    return this.held;
  }

  /**
   * Checks, right before a snapshot that refers to reused data is saved, that the lock is still held and that every
   * pack holding a reused blob still exists. Otherwise a prune that ran while the lock was gone may have deleted
   * them, and the snapshot would be born broken.
   */
  async verifyBeforeCommit(): Promise<void> {
    await this.held?.verify();
    if (this.reusedPacks.size === 0) return;
    const stored = await this.listPacks();
    const gone = [...this.reusedPacks].filter((p) => !stored.has(p));
    if (gone.length > 0) {
      throw new DamagedRepoError(
        `${gone.length} pack(s) holding data this backup reused were deleted while it ran (pack ${gone[0]!.slice(0, 12)}; a prune without a lock?): nothing was saved; run the backup again`,
      );
    }
  }

  /** Every lock file, with whether it is stale. */
  listLocks(): Promise<LockInfo[]> {
    return listLocks({ backend: this.backend, codec: this.codec });
  }

  /** Removes one lock file (unlock). */
  removeLock(id: string): Promise<void> {
    return this.backend.remove({ type: 'locks', name: id });
  }

  /** Every key file's public facts. */
  listKeys(): Promise<KeyInfo[]> {
    return listKeys(this.backend);
  }

  /** Stores the master key under another password; returns the new key's id. */
  addKey(password: Password): Promise<string> {
    return addKey(this.backend, this.key, password);
  }

  /** Removes a key file. */
  removeKey(id: string): Promise<void> {
    return this.backend.remove({ type: 'keys', name: id });
  }

  /** Removes a snapshot file (forget). */
  removeSnapshot(id: string): Promise<void> {
    return this.backend.remove({ type: 'snapshots', name: id });
  }

  /** Removes an index file (prune, once a complete new index is durable). */
  removeIndexFile(name: string): Promise<void> {
    return this.backend.remove({ type: 'index', name });
  }

  /** Removes a pack (prune, once no index references it). */
  removePack(id: string): Promise<void> {
    return this.backend.remove({ type: 'data', name: id });
  }

  /** How many storage requests may usefully run at once. */
  get connections(): number {
    return this.backend.properties.connections;
  }

  /** Loads every index file into memory. */
  async loadIndex(): Promise<void> {
    for (const f of await this.backend.list('index')) {
      this.index.addIndexFile(await this.loadJson<IndexFileJson>('index', f.name, f.size));
    }
  }

  /** Saves a sealed JSON object (snapshot, index) named by the SHA-256 of its stored bytes. */
  async saveJson(type: Exclude<FileType, 'config' | 'data' | 'keys'>, value: unknown): Promise<string> {
    const bytes = this.codec.encodeJson(value);
    const id = sha256Hex(bytes);
    await this.backend.save({ type, name: id }, bytes);
    return id;
  }

  /** Loads a sealed JSON object, checking that its name matches its bytes. */
  async loadJson<T>(type: Exclude<FileType, 'config' | 'data' | 'keys'>, name: string, listedSize?: number): Promise<T> {
    // Sizes come from listings, which readers make anyway: no extra request per object.
    if (listedSize !== undefined) checkObjectSize(type, `${type} file ${name.slice(0, 12)}`, listedSize);
    const bytes = await this.backend.load({ type, name });
    if (sha256Hex(bytes) !== name) throw new DamagedRepoError(`${type} file ${name.slice(0, 12)} does not match its name`);
    return this.codec.decodeJson<T>(bytes, `${type} file ${name.slice(0, 12)}`);
  }

  /** Keyed id of a plaintext blob. */
  blobIdOf(plaintext: Uint8Array): string {
    return blobId(this.key.idKey, plaintext);
  }

  /** True when the blob is indexed or already queued in this session. An indexed blob counts as reused from then on. */
  hasBlob(id: string): boolean {
    const loc = this.index.lookup(id);
    if (loc) {
      if (!this.ownPacks.has(loc.packId)) this.reusedPacks.add(loc.packId);
      return true;
    }
    return this.pendingBlobs.has(id);
  }

  /**
   * Claims a blob id for writing. Returns false when it is already stored or claimed, so that the caller
   * can skip compressing and encrypting a duplicate.
   */
  claimBlob(id: string): boolean {
    if (this.hasBlob(id)) return false;
    this.pendingBlobs.add(id);
    return true;
  }

  /** Queues an already sealed blob (claimed first with claimBlob). */
  async addSealedBlob(type: BlobType, id: string, sealed: Buffer, rawLength: number): Promise<void> {
    if (type === 'tree') this.stats.treeBlobs++;
    else this.stats.dataBlobs++;
    this.stats.bytesAdded += rawLength;
    await this.packer(type).add(id, sealed, rawLength);
  }

  /** Queues a sealed blob copied from another pack (prune's repack), bypassing the dedup claim. */
  async repackSealedBlob(type: BlobType, id: string, sealed: Buffer, rawLength: number): Promise<void> {
    await this.packer(type).add(id, sealed, rawLength);
  }

  /** Uploads open packs without writing an index for them (prune writes its own complete index). */
  async flushPacksOnly(): Promise<void> {
    for (const p of Object.values(this.packers)) await p.flush();
    await this.indexWrites;
  }

  /** Hands over the packs written but not yet indexed; the caller must index them. */
  takeUnindexedPacks(): { id: string; blobs: PackedBlob[] }[] {
    const packs = this.unindexed;
    this.unindexed = [];
    return packs;
  }

  /** Encodes on this thread and queues a blob; returns its id. Used for tree blobs, which are small. */
  async saveBlob(type: BlobType, plaintext: Buffer): Promise<string> {
    const id = this.blobIdOf(plaintext);
    if (this.claimBlob(id)) await this.addSealedBlob(type, id, this.codec.encode(plaintext), plaintext.length);
    return id;
  }

  /** Reads the stored (sealed) bytes of a blob. */
  async loadSealedBlob(id: string): Promise<Buffer> {
    const loc = this.index.lookup(id);
    if (!loc) throw new DamagedRepoError(`blob ${id.slice(0, 12)} is not in the index`);
    return this.loadPackRange(loc.packId, loc.offset, loc.length);
  }

  /** Reads `length` stored bytes of a pack from `offset` (several neighbouring sealed blobs in one read). */
  loadPackRange(packId: string, offset: number, length: number): Promise<Buffer> {
    return this.backend.load({ type: 'data', name: packId }, offset, length);
  }

  /** Reads a whole pack (check --read-data verifies it against its name), refusing one larger than a pack can be. */
  loadPack(packId: string, listedSize: number): Promise<Buffer> {
    checkObjectSize('data', `pack ${packId.slice(0, 12)}`, listedSize, maxPackBytes(PACK_TARGET_BYTES, this.chunkerParams.maxSize));
    return this.backend.load({ type: 'data', name: packId });
  }

  /** Every stored pack with its size, indexed or not. */
  async listPacks(): Promise<Map<string, number>> {
    return new Map((await this.backend.list('data')).map((f) => [f.name, f.size]));
  }

  /** Names of the stored index files. */
  async listIndexFiles(): Promise<string[]> {
    return (await this.backend.list('index')).map((f) => f.name);
  }

  /**
   * Loads, verifies and parses a tree. Neighbouring trees are read together and the last few ranges kept, since
   * walks (backup's parent, restore, check, prune) visit the trees of a pack one after another.
   */
  loadTree(id: string): Promise<Tree> {
    this.trees ??= new TreeLoader(this);
    return this.trees.load(id);
  }

  /** Saves a directory listing as a tree blob and returns its id. */
  saveTree(nodes: TreeNode[]): Promise<string> {
    return this.saveBlob('tree', encodeTree(nodes));
  }

  /** Loads, decrypts, decompresses and verifies a blob on this thread. */
  async loadBlob(id: string): Promise<Buffer> {
    const plain = this.codec.decode(await this.loadSealedBlob(id), `blob ${id.slice(0, 12)}`);
    if (this.blobIdOf(plain) !== id) throw new DamagedRepoError(`blob ${id.slice(0, 12)} does not match its id (damaged)`);
    return plain;
  }

  /** Uploads open packs and writes the index for everything written so far. Call before saving a snapshot. */
  async flush(): Promise<void> {
    for (const p of Object.values(this.packers)) await p.flush();
    await this.indexWrites;
    await this.writeIndex();
  }

  private packer(type: BlobType): Packer {
    let p = this.packers[type];
    if (!p) {
      // Remote stores are latency-bound: keep several packs uploading (each holds one pack in memory).
      const uploads = Math.max(1, Math.min(4, Math.floor(this.backend.properties.connections / 2)));
      p = new Packer(this.backend, this.key.encKey, type, (packId, blobs, bytes) => this.onPackSaved(packId, blobs, bytes), uploads);
      this.packers[type] = p;
    }
    return p;
  }

  private onPackSaved(packId: string, blobs: PackedBlob[], bytes: number): void {
    this.ownPacks.add(packId);
    this.stats.bytesPacked += bytes;
    this.unindexed.push({ id: packId, blobs });
    this.index.addPack(packId, blobs);
    for (const b of blobs) this.pendingBlobs.delete(b.id);
    if (this.unindexed.length >= INDEX_EVERY_PACKS) {
      this.indexWrites = this.indexWrites.then(() => this.writeIndex());
      // flush() re-raises a failure; this only keeps it from counting as unhandled meanwhile.
      this.indexWrites.catch(() => undefined);
    }
  }

  // The index is written only after its packs are durable (DESIGN §3): onPackSaved runs after save().
  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    try {
      await this.saveJson('index', indexFileFor(packs));
    } catch (err) {
      this.unindexed.unshift(...packs);
      throw err;
    }
  }
}
