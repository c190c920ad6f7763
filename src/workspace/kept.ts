import type { Capture } from '../runner/protocol/workspace.js';
import {
  checkBounds,
  checkEntryBounds,
  mergeEntries,
  packWorkspace,
  readWorkspaceTar,
  WorkspaceError,
  type Workspace,
  type WorkspaceBounds,
} from './archive.js';

/** What a run's end makes of the workspace its container handed back. */
export type KeptWorkspace =
  | { workspace: Workspace }
  | { error: { code: 'WORKSPACE_TOO_LARGE' | 'WORKSPACE_REJECTED'; message: string } };

/**
 * Checks a captured workspace as an upload is checked (the same bounds, paths, links and
 * modes), and packs it as stored. A run's own files get in no other way than an upload's.
 */
export async function keptWorkspace(capture: Capture, bounds: WorkspaceBounds): Promise<KeptWorkspace> {
  if ('problem' in capture) {
    return capture.problem === 'TOO_LARGE'
      ? {
          error: {
            code: 'WORKSPACE_TOO_LARGE',
            message: `the run left more in its workspace than a session keeps (${bounds.maxBytes} bytes, WORKSPACE_MAX_BYTES); the workspace before it is kept`,
          },
        }
      : {
          error: {
            code: 'WORKSPACE_REJECTED',
            message:
              'the run left a workspace that could not be read whole (a file its user cannot read?); the workspace before it is kept',
          },
        };
  }
  try {
    const entries = checkEntryBounds(mergeEntries([], await readWorkspaceTar(capture.tar, bounds)), bounds);
    return { workspace: checkBounds(await packWorkspace(entries), bounds) };
  } catch (err) {
    if (!(err instanceof WorkspaceError)) throw err;
    return { error: { code: err.code, message: `${err.message}; the workspace before this run is kept` } };
  }
}
