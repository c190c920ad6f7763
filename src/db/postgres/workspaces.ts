import { eq } from 'drizzle-orm';
import type { WorkspaceStore } from '../contract.js';
import type { StoredWorkspace } from '../contract.js';
import type { Workspace } from '../../workspace/archive.js';
import { sessions, workspaces } from './schema.js';
import { retryingConflicts, type PgDb, type PgTx } from './open.js';
import { pgText } from './text.js';

/** Sessions' workspaces in Postgres (bytea), beside their transcripts. */
export class PgWorkspaceStore implements WorkspaceStore {
  constructor(private readonly db: PgDb) {}

  async get(sessionId: string): Promise<StoredWorkspace | undefined> {
    const [row] = await this.db
      .select({ tar: workspaces.tar, bytes: workspaces.bytes, files: workspaces.files, sha256: workspaces.sha256 })
      .from(workspaces)
      .where(eq(workspaces.sessionId, pgText(sessionId)));
    return row;
  }

  digestOf(sessionId: string): Promise<string | undefined> {
    return digestIn(this.db, sessionId);
  }

  put(sessionId: string, w: Workspace, now: number): Promise<void> {
    return putWorkspace(this.db, sessionId, w, now);
  }

  /** The session's row is locked first, as a turn locks it: an edit and a turn's start never interleave. */
  putIfUnchanged(sessionId: string, w: Workspace, basedOn: string | undefined, now: number): Promise<boolean> {
    return retryingConflicts(() =>
      this.db.transaction(async (tx) => {
        const [session] = await tx
          .select({ lastStatus: sessions.lastStatus })
          .from(sessions)
          .where(eq(sessions.id, sessionId))
          .for('update');
        if (!session || session.lastStatus === 'running') return false;
        if ((await digestIn(tx, sessionId)) !== basedOn) return false;
        await putWorkspace(tx, sessionId, w, now);
        return true;
      }),
    );
  }
}

/** The sha256 of the session's workspace, without reading the workspace (undefined: none). */
export async function digestIn(db: PgDb | PgTx, sessionId: string): Promise<string | undefined> {
  const [row] = await db
    .select({ sha256: workspaces.sha256 })
    .from(workspaces)
    .where(eq(workspaces.sessionId, pgText(sessionId)));
  return row?.sha256;
}

/** Stores (or replaces) a session's workspace. */
export async function putWorkspace(db: PgDb | PgTx, sessionId: string, w: Workspace, now: number): Promise<void> {
  const row = { tar: w.tar, bytes: w.bytes, files: w.files, sha256: w.sha256, updatedAt: now };
  await db
    .insert(workspaces)
    .values({ sessionId, ...row })
    .onConflictDoUpdate({ target: workspaces.sessionId, set: row });
}
