import type { StoredWorkspace, WorkspaceStore } from '../contract.js';
import { eq } from 'drizzle-orm';
import type { Db } from './open.js';
import { sessions, workspaces } from './schema.js';
import type { Workspace } from '../../workspace/archive.js';

type Writer = Pick<Db, 'insert'>;
type Reader = Pick<Db, 'select'>;

/** Sessions' workspaces, one row each in the transcript's database (see `workspaces` in schema.ts). */
export class SqliteWorkspaceStore implements WorkspaceStore {
  constructor(private readonly db: Db) {}

  async get(sessionId: string): Promise<StoredWorkspace | undefined> {
    return this.db
      .select({ tar: workspaces.tar, bytes: workspaces.bytes, files: workspaces.files, sha256: workspaces.sha256 })
      .from(workspaces)
      .where(eq(workspaces.sessionId, sessionId))
      .get();
  }

  async digestOf(sessionId: string): Promise<string | undefined> {
    return digestIn(this.db, sessionId);
  }

  /** Replaces the session's workspace, inside the caller's transaction when it gives one. */
  async put(sessionId: string, w: Workspace, now: number, tx: Writer = this.db): Promise<void> {
    putWorkspace(tx, sessionId, w, now);
  }

  /**
   * Stores an edit made on the workspace whose digest was `basedOn` (undefined: none), if
   * that is still the session's and no run of the session is in progress (it will store the
   * workspace it leaves, and the edit would be lost): false otherwise, and nothing is stored.
   * One transaction, so nothing comes between the checks and the write.
   */
  async putIfUnchanged(sessionId: string, w: Workspace, basedOn: string | undefined, now: number): Promise<boolean> {
    return this.db.transaction((tx) => {
      const session = tx
        .select({ lastStatus: sessions.lastStatus })
        .from(sessions)
        .where(eq(sessions.id, sessionId))
        .get();
      if (!session || session.lastStatus === 'running' || digestIn(tx, sessionId) !== basedOn) return false;
      putWorkspace(tx, sessionId, w, now);
      return true;
    });
  }
}

/** The sha256 of the session's workspace, without reading the workspace (undefined: none). */
export function digestIn(db: Reader, sessionId: string): string | undefined {
  return db.select({ sha256: workspaces.sha256 }).from(workspaces).where(eq(workspaces.sessionId, sessionId)).get()
    ?.sha256;
}

/** Stores (or replaces) a session's workspace. */
export function putWorkspace(tx: Writer, sessionId: string, w: Workspace, now: number): void {
  const row = { tar: w.tar, bytes: w.bytes, files: w.files, sha256: w.sha256, updatedAt: now };
  tx.insert(workspaces)
    .values({ sessionId, ...row })
    .onConflictDoUpdate({ target: workspaces.sessionId, set: row })
    .run();
}
