// The session listing's cursor, for every dialect's queries and the route that reads it back.

/**
 * Newest first by (created_at, id), which never changes: a page boundary cannot move,
 * so paging sees no gaps and no repeats while new sessions are added in front.
 */
export function encodeCursor(row: { createdAt: number; id: string }): string {
  return Buffer.from(`${row.createdAt}:${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } | undefined {
  const m = /^(\d{1,16}):((?:ses)_[0-9a-z]{29})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { createdAt: Number(m[1]), id: m[2]! } : undefined;
}
