import { describe, expect, it } from 'vitest';
import { tarOf } from '../helpers/tar.js';
import {
  checkEntryBounds,
  mergeEntries,
  packWorkspace,
  readWorkspaceTar,
  WorkspaceError,
  type WorkspaceEntry,
} from '../../src/workspace/archive.js';
import { editWorkspace } from '../../src/workspace/edit.js';

const BOUNDS = { maxBytes: 1 << 20, maxFiles: 100 };

const rawTar = tarOf;

const problemOf = async (tar: Buffer, bounds = BOUNDS) => {
  try {
    await readWorkspaceTar(tar, bounds);
    return 'accepted';
  } catch (err) {
    if (!(err instanceof WorkspaceError)) throw err;
    return `${err.problem}: ${err.message}`;
  }
};

describe('a workspace archive', () => {
  it('keeps files, folders, non-ASCII names and links inside, byte for byte, with one digest for the same files', async () => {
    const tar = await rawTar([
      { name: './', type: 'directory', mode: 0o700 },
      { name: './src/', type: 'directory', mode: 0o755 },
      { name: './src/app.py', mode: 0o644, body: 'print("hi")\n' },
      { name: './données/été.txt', mode: 0o600, body: Buffer.from([0, 1, 2, 255]) },
      { name: './src/link', type: 'symlink', mode: 0o777, linkname: '../données/été.txt' },
      { name: './src/same', type: 'link', linkname: './src/app.py' },
    ]);
    const entries = await readWorkspaceTar(tar, BOUNDS);
    expect(entries.map((e) => [e.path, e.type, e.mode.toString(8), e.target ?? e.content?.toString('hex')])).toEqual([
      ['src', 'directory', '755', undefined],
      ['src/app.py', 'file', '644', Buffer.from('print("hi")\n').toString('hex')],
      ['données/été.txt', 'file', '600', '000102ff'],
      ['src/link', 'symlink', '777', '../données/été.txt'],
      ['src/same', 'file', '644', Buffer.from('print("hi")\n').toString('hex')], // a hard link, kept as a copy
    ]);
    const stored = await packWorkspace(mergeEntries([], entries));
    expect(stored.entries.map((e) => e.path)).toEqual([
      'données',
      'données/été.txt',
      'src',
      'src/app.py',
      'src/link',
      'src/same',
    ]);
    const again = await packWorkspace(await readWorkspaceTar(stored.tar, BOUNDS));
    expect(again.sha256).toBe(stored.sha256);
    expect(again.tar.equals(stored.tar)).toBe(true);
  });

  it.each([
    ['an absolute path', [{ name: '/etc/passwd', body: 'x' }], /absolute path/],
    ['a path that climbs out', [{ name: '../x', body: 'x' }], /climbs out/],
    ['a path that climbs out further in', [{ name: 'a/../../x', body: 'x' }], /climbs out/],
    ['a symlink to an absolute path', [{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }], /points outside/],
    ['a symlink that climbs out', [{ name: 'a/l', type: 'symlink', linkname: '../../x' }], /points outside/],
    ['a hard link to a path outside', [{ name: 'l', type: 'link', linkname: '../etc/passwd' }], /climbs out/],
    [
      'a hard link to nothing before it',
      [
        { name: 'l', type: 'link', linkname: 'later' },
        { name: 'later', body: 'x' },
      ],
      /names no file/,
    ],
    ['a character device', [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], /character-device/],
    ['a block device', [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }], /block-device/],
    ['a fifo', [{ name: 'pipe', type: 'fifo' }], /fifo/],
    ['a set-uid file', [{ name: 'sh', mode: 0o4755, body: 'x' }], /set-uid or set-gid/],
    ['a set-gid folder', [{ name: 'd/', type: 'directory', mode: 0o2755 }], /set-uid or set-gid/],
  ] as const)('rejects %s', async (_, entries, why) => {
    const problem = await problemOf(await rawTar(entries as never));
    expect(problem).toMatch(/^REJECTED: /);
    expect(problem).toMatch(why);
  });

  it('rejects what is not a tar, and a tar cut short, inside an entry or between two', async () => {
    expect(await problemOf(Buffer.from('this is not a tar archive, not even close'.repeat(20)))).toMatch(
      /^REJECTED: not a readable tar/,
    );
    const whole = await rawTar([
      { name: 'big', body: 'y'.repeat(5000) },
      { name: 'next', body: 'z' },
    ]);
    expect(await problemOf(whole.subarray(0, 2048))).toMatch(/^REJECTED: not a readable tar/);
    expect(await problemOf(whole.subarray(0, 512 + 5120))).toMatch(/^REJECTED: not a readable tar .*end-of-archive/);
  });

  it('keeps a hard link that sorts before its file as a copy, and a read-only folder as one its owner can unpack into', async () => {
    const entries = await readWorkspaceTar(
      await rawTar([
        { name: 'z', body: 'zz' },
        { name: 'a', type: 'link', linkname: 'z' },
        { name: 'ro/', type: 'directory', mode: 0o555 },
        { name: 'ro/f', mode: 0o444, body: 'f' },
      ]),
      BOUNDS,
    );
    const stored = await packWorkspace(mergeEntries([], entries));
    const again = await readWorkspaceTar(stored.tar, BOUNDS); // the service can read what it stored
    expect(again.map((e) => [e.path, e.type, e.mode.toString(8), e.content?.toString()])).toEqual([
      ['a', 'file', '644', 'zz'],
      ['ro', 'directory', '755', undefined],
      ['ro/f', 'file', '444', 'f'],
      ['z', 'file', '644', 'zz'],
    ]);
  });

  it('rejects a symlink that leads out through another symlink', async () => {
    const chain = await rawTar([
      { name: 'd/', type: 'directory' },
      { name: 'd/l', type: 'symlink', linkname: '..' },
      { name: 'x', type: 'symlink', linkname: 'd/l/../etc' },
    ]);
    expect(await problemOf(chain)).toMatch(/^REJECTED: symlink "x" points through another link/);
    const toLink = await rawTar([
      { name: 'b', type: 'symlink', linkname: '.' },
      { name: 'a', type: 'symlink', linkname: 'b' },
    ]);
    expect(await problemOf(toLink)).toMatch(/points through another link/);
  });

  it('stops at its bounds: bytes, entries, and a header that claims more than it holds', async () => {
    expect(
      await problemOf(await rawTar([{ name: 'a', body: 'x'.repeat(5000) }]), { maxBytes: 4096, maxFiles: 10 }),
    ).toMatch(/^TOO_LARGE: /);
    const many = await rawTar(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, body: '' })));
    expect(await problemOf(many, { maxBytes: 1 << 20, maxFiles: 10 })).toMatch(/^TOO_LARGE: .*more than 10 entries/);
    // A bomb: a header that says 1 GiB, the body nowhere.
    const bomb = await rawTar([{ name: 'small', body: 'x' }]);
    const header = Buffer.from(bomb.subarray(0, 512));
    header.write('00010000000000\0', 124, 'ascii'); // size field: 0o10000000000 = 1 GiB
    let sum = 0;
    header.fill(' ', 148, 156);
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    expect(await problemOf(Buffer.concat([header, bomb.subarray(512)]))).toMatch(/^TOO_LARGE: /);
  });
});

describe('merging into a workspace', () => {
  const file = (path: string, body: string): WorkspaceEntry => ({
    path,
    type: 'file',
    mode: 0o644,
    mtime: new Date(0),
    content: Buffer.from(body),
  });

  it('lays the added files over the old ones and makes the folders they need', () => {
    const merged = mergeEntries(
      [file('a.txt', 'old'), file('keep.txt', 'k')],
      [file('a.txt', 'new'), file('deep/er/b.txt', 'b')],
    );
    expect(Object.fromEntries(merged.map((e) => [e.path, e.type === 'file' ? e.content!.toString() : e.type]))).toEqual(
      {
        'a.txt': 'new',
        'keep.txt': 'k',
        'deep/er/b.txt': 'b',
        deep: 'directory',
        'deep/er': 'directory',
      },
    );
  });

  it('refuses a merge that crosses the bounds (checked on the entries, then on the archive)', async () => {
    const bounds = { maxBytes: 8 * 1024, maxFiles: 3 };
    const base = await packWorkspace([file('a', 'x'.repeat(6000))]);
    await expect(
      editWorkspace(base, { add: [file('b', 'y'.repeat(6000)), file('c', 'z'.repeat(6000))] }, bounds),
    ).rejects.toMatchObject({ problem: 'TOO_LARGE' });
    await expect(editWorkspace(base, { add: [file('b', ''), file('c', ''), file('d', '')] }, bounds)).rejects.toThrow(
      /4 entries/,
    );
    expect(() => checkEntryBounds([file('a', 'x'.repeat(20_000))], bounds)).toThrow(WorkspaceError);
    expect((await editWorkspace(base, { add: [file('b', 'y')] }, bounds)).workspace.files).toBe(2);
  });

  it('replaces a folder with a file of its name, and refuses a file inside a file', () => {
    const merged = mergeEntries(
      [{ path: 'd', type: 'directory', mode: 0o755, mtime: new Date(0) }, file('d/x', 'x')],
      [file('d', 'now a file')],
    );
    expect(merged.map((e) => e.path)).toEqual(['d']);
    expect(() => mergeEntries([file('f', 'x')], [file('f/inside', 'y')])).toThrow(/not a folder/);
  });
});
