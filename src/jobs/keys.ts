import { UsageError } from '../errors.js';
import type { Password } from '../repo/crypto.js';
import type { KeyInfo } from '../repo/keys.js';
import type { Repository } from '../repo/repository.js';

/** The keys of a repository, and which one opened it. */
export async function runKeyList(repo: Repository): Promise<{ keys: KeyInfo[]; current: string }> {
  return { keys: await repo.listKeys(), current: repo.keyId };
}

/**
 * Removes the key matching `ref` (an id or unique prefix). The key that opened the repository is refused: removing
 * it is what `key passwd` does, with the new key written first.
 */
export async function runKeyRemove(repo: Repository, ref: string): Promise<string> {
  const hits = (await repo.listKeys()).filter((k) => k.id.startsWith(ref));
  if (hits.length !== 1) throw new UsageError(hits.length === 0 ? `no key ${ref}` : `key id ${ref} is ambiguous`);
  const target = hits[0]!.id;
  if (target === repo.keyId) throw new UsageError('refusing to remove the key that opened the repository; use another password to remove it');
  await repo.removeKey(target);
  return target;
}

/** Replaces the current password: the new key is durable before the old one goes, so a crash never leaves no key. */
export async function runKeyPasswd(repo: Repository, newPassword: Password): Promise<string> {
  const added = await repo.addKey(newPassword);
  await repo.removeKey(repo.keyId);
  return added;
}
