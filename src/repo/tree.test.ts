import { describe, expect, it } from 'vitest';
import { DamagedRepoError } from '../errors.js';
import { decodeTree, encodeTree, unsafeNameReason, type TreeNode } from './tree.js';

const META = { mode: 0o644, mtime: '1700000000123456789', ctime: '1700000000123456789', inode: 42, uid: 1000, gid: 1000 };
const ID = 'ab'.repeat(32);

function file(name: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type: 'file', ...META, size: 3, content: ['c'.repeat(64)], ...extra };
}
function dir(name: string): TreeNode {
  return { name, type: 'dir', ...META, mode: 0o755, subtree: 'd'.repeat(64) };
}
function link(name: string, target: string): TreeNode {
  return { name, type: 'symlink', ...META, mode: 0o777, linktarget: target };
}
function raw(nodes: unknown): Buffer {
  return Buffer.from(JSON.stringify({ nodes }));
}

describe('encodeTree', () => {
  it('sorts nodes by name (code unit order), whatever the input order', () => {
    const nodes = [file('b'), dir('a'), link('C', 'x'), file('-rf'), file('\u00e9'), file('e\u0301'), file('📦')];
    const names = (JSON.parse(encodeTree(nodes).toString()) as { nodes: TreeNode[] }).nodes.map((n) => n.name);
    expect(names).toEqual(['-rf', 'C', 'a', 'b', 'e\u0301', '\u00e9', '📦']);
  });

  it('is deterministic: equal trees give equal bytes regardless of input order or field order', () => {
    const a = [file('x'), dir('y'), link('z', '../t')];
    const shuffled: TreeNode[] = [
      { linktarget: '../t', gid: 1000, uid: 1000, inode: 42, ctime: META.ctime, mtime: META.mtime, mode: 0o777, type: 'symlink', name: 'z' },
      dir('y'),
      { content: ['c'.repeat(64)], size: 3, ...META, type: 'file', name: 'x' },
    ];
    expect(encodeTree(shuffled).equals(encodeTree(a))).toBe(true);
    expect(encodeTree([...a].reverse()).equals(encodeTree(a))).toBe(true);
  });

  it('keeps only the fields of each node type, in a fixed order', () => {
    const messy = [
      { ...file('f'), subtree: 'x', linktarget: 'y' },
      { ...dir('d'), content: ['z'], size: 9 },
      { ...link('l', 't'), content: ['z'] },
    ] as TreeNode[];
    const out = JSON.parse(encodeTree(messy).toString()) as { nodes: Record<string, unknown>[] };
    const common = ['name', 'type', 'mode', 'mtime', 'ctime', 'inode', 'uid', 'gid'];
    expect(out.nodes.map((n) => Object.keys(n))).toEqual([
      [...common, 'subtree'],
      [...common, 'size', 'content'],
      [...common, 'linktarget'],
    ]);
  });

  it('gives a file without size or content an empty one', () => {
    const bare = { name: 'empty', type: 'file', ...META } as TreeNode;
    const out = JSON.parse(encodeTree([bare]).toString()) as { nodes: TreeNode[] };
    expect(out.nodes[0]).toMatchObject({ size: 0, content: [] });
  });

  it('round-trips through decodeTree', () => {
    const nodes = [file('a'), dir('b'), link('c', '/abs/target'), file('d', { size: 0, content: [] })];
    expect(decodeTree(encodeTree(nodes), ID).nodes).toEqual(nodes);
    expect(decodeTree(encodeTree([]), ID).nodes).toEqual([]);
  });
});

describe('decodeTree', () => {
  it('rejects duplicate names, naming the name and the tree', () => {
    expect(() => decodeTree(raw([link('evil', '/tmp'), dir('evil')]), ID)).toThrow(DamagedRepoError);
    expect(() => decodeTree(raw([file('x'), file('x')]), ID)).toThrow(/tree abababababab lists "x" twice/);
  });

  it('rejects bad JSON, a missing node list and unknown types', () => {
    expect(() => decodeTree(Buffer.from('{"nodes": ['), ID)).toThrow(/not valid JSON/);
    expect(() => decodeTree(Buffer.from('{}'), ID)).toThrow(/no node list/);
    expect(() => decodeTree(Buffer.from('null'), ID)).toThrow(/no node list/);
    expect(() => decodeTree(Buffer.from('{"nodes": {}}'), ID)).toThrow(/no node list/);
    expect(() => decodeTree(raw([{ ...file('f'), type: 'fifo' }]), ID)).toThrow(/unknown type/);
  });

  it('rejects entries without the data their type needs', () => {
    expect(() => decodeTree(raw([{ ...file('f'), content: undefined }]), ID)).toThrow(/file "f" has no content list/);
    expect(() => decodeTree(raw([{ ...file('f'), size: '3' }]), ID)).toThrow(/file "f"/);
    expect(() => decodeTree(raw([{ ...dir('d'), subtree: undefined }]), ID)).toThrow(/directory "d" has no subtree/);
    expect(() => decodeTree(raw([{ ...link('l', 'x'), linktarget: 5 }]), ID)).toThrow(/symlink "l" has no target/);
  });

  it('rejects a node that is not an object', () => {
    expect(() => decodeTree(raw([null]), ID)).toThrow(DamagedRepoError);
    expect(() => decodeTree(raw(['file']), ID)).toThrow(DamagedRepoError);
  });

  it('keeps unsafe names for the caller to refuse (restore and check report them)', () => {
    const tree = decodeTree(raw([file('..'), file('a/b'), file('')]), ID);
    expect(tree.nodes.map((n) => n.name)).toEqual(['..', 'a/b', '']);
  });
});

describe('unsafeNameReason', () => {
  it('refuses names that could leave the directory or are not names at all', () => {
    for (const bad of ['', '.', '..', 'a/b', '/abs', '../x', 'x/..', 'nul\0byte', 42, null, undefined]) {
      expect(unsafeNameReason(bad), JSON.stringify(bad)).toBeTypeOf('string');
    }
  });

  it('accepts odd but harmless names', () => {
    // A backslash is an ordinary character in POSIX names.
    for (const ok of ['a\\b', '...', '.hidden', '-rf', ' spaced ', 'caf\u00e9', 'cafe\u0301', '📦', 'a..b', 'x'.repeat(255)]) {
      expect(unsafeNameReason(ok), ok).toBeUndefined();
    }
  });
});
