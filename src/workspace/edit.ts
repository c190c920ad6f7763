import {
  checkBounds,
  checkEntryBounds,
  entryPath,
  mergeEntries,
  packWorkspace,
  storedEntries,
  WorkspaceError,
  type Workspace,
  type WorkspaceBounds,
  type WorkspaceEntry,
} from './archive.js';
import type { StoredWorkspace } from '../db/contract.js';

/** A change a user makes to a session's workspace before a turn. */
export type WorkspaceChange = { replace: WorkspaceEntry[] } | { add: WorkspaceEntry[] };

/** An edit ready to store: the new workspace, and the digest of the one it was made on. */
export interface WorkspaceEdit {
  workspace: Workspace;
  basedOn: string | undefined;
}

/** The workspace a change makes of `current`, checked against the bounds as stored. */
export async function editWorkspace(
  current: StoredWorkspace | undefined,
  change: WorkspaceChange,
  bounds: WorkspaceBounds,
): Promise<WorkspaceEdit> {
  const base = 'add' in change ? await storedEntries(current?.tar) : [];
  const entries = checkEntryBounds(mergeEntries(base, 'add' in change ? change.add : change.replace), bounds);
  return { workspace: checkBounds(await packWorkspace(entries), bounds), basedOn: current?.sha256 };
}

/** A file given by name in a request: text as UTF-8, or `{ base64 }` for any bytes. */
export type GivenFile = string | { base64: string };

/** Files given by path (a run request's `files`), as workspace entries. */
export function entriesOf(files: Record<string, GivenFile>, now = new Date()): WorkspaceEntry[] {
  return Object.entries(files).map(([name, given]) => {
    const path = entryPath(name);
    if (path === '.') throw new WorkspaceError('REJECTED', `a file needs a name, not ${JSON.stringify(name)}`);
    const content = typeof given === 'string' ? Buffer.from(given, 'utf8') : Buffer.from(given.base64, 'base64');
    return { path, type: 'file', mode: 0o644, mtime: now, content };
  });
}
