import { describe, expect, it } from 'vitest';
import { ExitCode, UnsupportedVersionError } from '../errors.js';
import { MemoryBackend } from '../storage/memory.js';
import { BlobCodec } from './codec.js';
import { newMasterKey, seal, sha256Hex } from './crypto.js';
import { parsePackHeader } from './pack-format.js';
import { READABLE_VERSIONS } from './repo-config.js';
import { Repository } from './repository.js';

/** Readers refuse what they do not know: a config version or a pack header version of a future format. */
describe('unknown format versions', () => {
  it('opens every version this build reads, and refuses a config of any other version with exit 1', async () => {
    for (const version of [...READABLE_VERSIONS, 3, 0, 99]) {
      const backend = new MemoryBackend(`v${version}`);
      const repo = await Repository.init(backend, 'pw');
      const config = { ...repo.config, version };
      await backend.remove({ type: 'config', name: '' });
      await backend.save({ type: 'config', name: '' }, repo.codec.encodeJson(config));
      const opened = await Repository.open(backend, 'pw').catch((e: unknown) => e);
      if (READABLE_VERSIONS.includes(version)) {
        expect(opened).toBeInstanceOf(Repository);
      } else {
        expect(opened).toBeInstanceOf(UnsupportedVersionError);
        expect((opened as UnsupportedVersionError).exitCode).toBe(ExitCode.Failure);
        expect((opened as Error).message).toBe(`repository format version ${version} is not supported by this owb; upgrade owb`);
      }
    }
  });

  it('refuses a pack whose header has a version byte other than 1', () => {
    const key = newMasterKey();
    const blob = new BlobCodec(key.encKey).encode(Buffer.from('x'));
    for (const version of [0x01, 0x02, 0xff]) {
      const header = Buffer.alloc(1 + 45);
      header[0] = version;
      header.writeUInt32LE(0, 2);
      header.writeUInt32LE(blob.length, 6);
      header.writeUInt32LE(1, 10);
      const sealed = seal(key.encKey, header);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(sealed.length);
      const pack = Buffer.concat([blob, sealed, len]);
      const parse = (): unknown => parsePackHeader(key.encKey, pack, sha256Hex(pack));
      if (version === 0x01) expect(parse()).toHaveLength(1);
      else expect(parse).toThrow(/header has an unknown layout/);
    }
  });
});
