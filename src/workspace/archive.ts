import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { extract, pack, type Header as Headers } from 'tar-stream';

/** How much of a workspace a session may keep. */
export interface WorkspaceBounds {
  /** The archive's size, as stored (file contents plus 512 bytes of header a file). */
  maxBytes: number;
  maxFiles: number;
}

/** What a stored workspace holds (a hard link is kept as a copy of its file). */
export type EntryType = 'file' | 'directory' | 'symlink';

/** One entry of a workspace: a path relative to the workspace, never absolute, never `..`. */
export interface WorkspaceEntry {
  path: string;
  type: EntryType;
  /** Permission bits (0o777 and the sticky bit); set-uid and set-gid never get in. */
  mode: number;
  mtime: Date;
  /** For a symlink, its target (relative, inside the workspace). */
  target?: string;
  content?: Buffer;
}

/** A workspace, its entries sorted by path, as stored: its archive, size and digest. */
export interface Workspace {
  entries: WorkspaceEntry[];
  tar: Buffer;
  bytes: number;
  files: number;
  sha256: string;
}

export type WorkspaceProblem = 'TOO_LARGE' | 'REJECTED';

export class WorkspaceError extends Error {
  constructor(
    readonly problem: WorkspaceProblem,
    message: string,
  ) {
    super(message);
  }

  /** The error code a caller sees for it. */
  get code(): 'WORKSPACE_TOO_LARGE' | 'WORKSPACE_REJECTED' {
    return this.problem === 'TOO_LARGE' ? 'WORKSPACE_TOO_LARGE' : 'WORKSPACE_REJECTED';
  }
}

const TYPES: Partial<Record<Headers['type'], EntryType | 'link'>> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'link',
};

/**
 * A path as the archive names it, made relative to the workspace; refused when it is
 * absolute, climbs out (`..`), or holds a NUL. `./a/b/` becomes `a/b`; `.` is the root itself.
 */
export function entryPath(name: string): string {
  if (name.includes('\0')) throw new WorkspaceError('REJECTED', `a path holds a NUL byte`);
  if (name.startsWith('/')) throw new WorkspaceError('REJECTED', `absolute path ${JSON.stringify(name)}`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new WorkspaceError('REJECTED', `path ${JSON.stringify(name)} climbs out of the workspace`);
  return parts.length === 0 ? '.' : parts.join('/');
}

/** A symlink's target must stay inside the workspace, seen from the link's own folder. */
function checkSymlink(path: string, target: string): void {
  if (target === '' || target.includes('\0'))
    throw new WorkspaceError('REJECTED', `symlink ${JSON.stringify(path)} has no usable target`);
  if (target.startsWith('/'))
    throw new WorkspaceError(
      'REJECTED',
      `symlink ${JSON.stringify(path)} points outside the workspace (${JSON.stringify(target)})`,
    );
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw new WorkspaceError(
      'REJECTED',
      `symlink ${JSON.stringify(path)} points outside the workspace (${JSON.stringify(target)})`,
    );
  }
}

/** Checks one header and turns it into an entry (without its content). */
function entryOf(h: Headers, known: Map<string, WorkspaceEntry>): WorkspaceEntry | undefined {
  const type = h.type ? TYPES[h.type] : undefined;
  if (!type)
    throw new WorkspaceError(
      'REJECTED',
      `${JSON.stringify(h.name)} is a ${h.type ?? 'special file'}: only files, folders and links inside the workspace are kept`,
    );
  const path = entryPath(h.name);
  if (path === '.') return undefined; // the workspace folder itself: its owner and mode are the run's
  const given = (h.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777;
  if (given & 0o6000) throw new WorkspaceError('REJECTED', `${JSON.stringify(path)} has a set-uid or set-gid bit`);
  if (type === 'link') {
    // Kept as a copy of its file: sorted, a link could come before its file, and a merge
    // could replace the file under it.
    const target = known.get(entryPath(h.linkname ?? ''));
    if (target?.type !== 'file')
      throw new WorkspaceError('REJECTED', `hard link ${JSON.stringify(path)} names no file before it`);
    return { path, type: 'file', mode: target.mode, mtime: target.mtime, content: target.content! };
  }
  // A folder its owner cannot write into cannot be unpacked into by a tar that is not root.
  const mode = type === 'directory' ? (given & 0o1777) | 0o700 : given & 0o1777;
  const entry: WorkspaceEntry = { path, type, mode, mtime: h.mtime ?? new Date(0) };
  if (type === 'symlink') {
    checkSymlink(path, h.linkname ?? '');
    entry.target = h.linkname!;
  }
  return entry;
}

/**
 * Reads a tar into workspace entries, checking each as it comes and stopping at the first
 * bound crossed, so a tar bomb costs what the bounds allow and no more. A later entry with
 * the same path replaces an earlier one, as extracting would.
 */
export async function readWorkspaceTar(tar: Buffer, bounds: WorkspaceBounds): Promise<WorkspaceEntry[]> {
  if (tar.length > bounds.maxBytes + TAR_SLACK) throw tooLarge(bounds, `${tar.length} bytes`);
  const byPath = new Map<string, WorkspaceEntry>();
  const ex = extract();
  let bytes = 0;
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      stream.on('error', () => {}); // the archive's own error is the one reported
      const fail = (err: unknown) => {
        ex.destroy(err as Error);
      };
      let entry: WorkspaceEntry | undefined;
      try {
        entry = entryOf(h, byPath);
        bytes += HEADER_BYTES + (entry?.type === 'file' ? roundUp(entry.content?.length ?? h.size ?? 0) : 0);
        if (bytes > bounds.maxBytes) throw tooLarge(bounds, `more than ${bounds.maxBytes} bytes`);
        if (entry && !byPath.has(entry.path) && byPath.size >= bounds.maxFiles)
          throw tooLarge(bounds, `more than ${bounds.maxFiles} entries`);
      } catch (err) {
        return fail(err);
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (entry) {
          if (entry.type === 'file' && entry.content === undefined) entry.content = Buffer.concat(chunks);
          byPath.delete(entry.path); // a replaced entry moves to its new place in the order
          byPath.set(entry.path, entry);
        }
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  try {
    await done;
  } catch (err) {
    if (err instanceof WorkspaceError) throw err;
    throw new WorkspaceError('REJECTED', `not a readable tar archive (${(err as Error).message})`);
  }
  // A tar cut short between two entries reads as a whole one: its end blocks say it is not.
  if (tar.length < END_BLOCKS || tar.subarray(tar.length - END_BLOCKS).some((b) => b !== 0)) {
    throw new WorkspaceError(
      'REJECTED',
      'not a readable tar archive (it does not end with its end-of-archive blocks: cut short?)',
    );
  }
  const entries = [...byPath.values()];
  checkLinkChains(entries);
  return entries;
}

/**
 * A symlink's target may not go through another symlink of the workspace: `d/l -> ..`
 * and `x -> d/l/../etc` each look inside, and together lead out. Checked once all are known.
 */
function checkLinkChains(entries: WorkspaceEntry[]): void {
  const links = new Set(entries.filter((e) => e.type === 'symlink').map((e) => e.path));
  if (links.size === 0) return;
  for (const e of entries) {
    if (e.type !== 'symlink') continue;
    const walked: string[] = [];
    for (const part of `${posix.dirname(e.path)}/${e.target}`.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') walked.pop();
      else walked.push(part);
      if (links.has(walked.join('/'))) {
        throw new WorkspaceError(
          'REJECTED',
          `symlink ${JSON.stringify(e.path)} points through another link (${JSON.stringify(walked.join('/'))}): a link may lead only to a file or folder of the workspace`,
        );
      }
    }
  }
}

/**
 * The archive a workspace is stored as: entries sorted by path (a folder before what it
 * holds), owned by nobody in particular (a run's user extracts it as its own), times only on
 * files, so the same files give the same digest whoever made them and however often they
 * were unpacked.
 */
export async function packWorkspace(entries: WorkspaceEntry[]): Promise<Workspace> {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of sorted) {
    // Only a file's time is its own: a folder's is when an extract last wrote into it, a link's
    // whenever it was unpacked. Kept, they would change the digest of a workspace nobody changed.
    const mtime = e.type === 'file' ? e.mtime : EPOCH;
    const header: Partial<Headers> & { name: string } = {
      name: e.type === 'directory' ? `${e.path}/` : e.path,
      type: e.type,
      mode: e.mode,
      mtime,
      uid: 0,
      gid: 0,
    };
    if (e.target !== undefined) header.linkname = e.target;
    if (e.type === 'file') p.entry({ ...header, size: e.content!.length }, e.content!);
    else p.entry(header);
  }
  p.finalize();
  await ended;
  const tar = Buffer.concat(chunks);
  return {
    entries: sorted,
    tar,
    bytes: tar.length,
    files: sorted.length,
    sha256: createHash('sha256').update(tar).digest('hex'),
  };
}

/**
 * Checks entries against the bounds before they are packed (a merge can cross them): a
 * refused edit then costs no archive of its own. Packing can add a little (long names);
 * checkBounds has the last word.
 */
export function checkEntryBounds(entries: WorkspaceEntry[], bounds: WorkspaceBounds): WorkspaceEntry[] {
  if (entries.length > bounds.maxFiles) throw tooLarge(bounds, `${entries.length} entries`);
  const bytes = entries.reduce((n, e) => n + HEADER_BYTES + roundUp(e.content?.length ?? 0), END_BLOCKS);
  if (bytes > bounds.maxBytes + TAR_SLACK) throw tooLarge(bounds, `${bytes} bytes`);
  return entries;
}

/** The entries of a workspace as stored: it was checked when it was stored, so no bound applies. */
export function storedEntries(tar: Buffer | undefined): Promise<WorkspaceEntry[]> {
  return tar ? readWorkspaceTar(tar, { maxBytes: Infinity, maxFiles: Infinity }) : Promise.resolve([]);
}

/** Checks a workspace against its bounds once more, as stored (a merge can cross them). */
export function checkBounds(w: Workspace, bounds: WorkspaceBounds): Workspace {
  if (w.files > bounds.maxFiles) throw tooLarge(bounds, `${w.files} entries`);
  if (w.bytes > bounds.maxBytes + TAR_SLACK) throw tooLarge(bounds, `${w.bytes} bytes`);
  return w;
}

/** `base` with `added` laid over it: an added path replaces the one there, whatever it was. */
export function mergeEntries(base: WorkspaceEntry[], added: WorkspaceEntry[]): WorkspaceEntry[] {
  const byPath = new Map(base.map((e) => [e.path, e]));
  for (const e of added) {
    // A file where a folder was takes the folder's contents with it, as extracting would not:
    // what the user sends wins.
    if (byPath.get(e.path)?.type === 'directory' && e.type !== 'directory') {
      for (const p of byPath.keys()) if (p.startsWith(`${e.path}/`)) byPath.delete(p);
    }
    byPath.set(e.path, e);
  }
  // Every folder a path needs, so that an extract makes them with sane modes.
  for (const e of [...byPath.values()]) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const there = byPath.get(dir);
      if (!there) byPath.set(dir, { path: dir, type: 'directory', mode: 0o755, mtime: e.mtime });
      else if (there.type !== 'directory')
        throw new WorkspaceError(
          'REJECTED',
          `${JSON.stringify(e.path)} is inside ${JSON.stringify(dir)}, which is not a folder`,
        );
    }
  }
  return [...byPath.values()];
}

const HEADER_BYTES = 512;
/** A tar ends with two zero blocks. */
const END_BLOCKS = 1024;
const EPOCH = new Date(0);
/** The end-of-archive blocks and the padding a packer adds: not the user's bytes. */
const TAR_SLACK = 10_240;
const roundUp = (n: number) => Math.ceil(n / 512) * 512;
const tooLarge = (b: WorkspaceBounds, what: string) =>
  new WorkspaceError(
    'TOO_LARGE',
    `the workspace would hold ${what}; a session keeps at most ${b.maxBytes} bytes and ${b.maxFiles} entries (WORKSPACE_MAX_BYTES, WORKSPACE_MAX_FILES)`,
  );
