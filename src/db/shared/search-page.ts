import { AppError } from '../../errors.js';
import { encodeCursor } from './cursor.js';
import type { SessionFilter, SessionPage } from '../contract.js';
import type { SessionRow } from '../rows.js';

/** A message that matched a text search: its session, and when it was written. */
export interface SearchMatch {
  sessionId: string;
  createdAt: number;
}

/**
 * Turns matching messages, newest first, into a page of sessions, newest first (both stores'
 * searches end here). The walk stops once a message is older than the last session the page
 * needs, or older than `from`: a session's messages are never older than the session, so no
 * later match can enter the page. At most `maxScan` matches are read: a page that needs more
 * is refused with INVALID_QUERY rather than answered partly, so paging never skips a session.
 * `sessionById` answers only sessions the caller's filter lets through.
 */
export async function pageOfMatches(
  matches: AsyncIterable<SearchMatch> | Iterable<SearchMatch>,
  sessionById: (id: string) => Promise<SessionRow | undefined>,
  filter: SessionFilter,
  limit: number,
  maxScan: number,
): Promise<SessionPage> {
  const page: SessionRow[] = []; // newest first, at most limit + 1
  const seen = new Set<string>();
  const newer = (a: SessionRow, b: SessionRow) =>
    a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
  let scanned = 0;
  for await (const m of matches) {
    if (page.length > limit && m.createdAt < page[limit]!.createdAt) break;
    if (filter.from !== undefined && m.createdAt < filter.from) break;
    if (scanned === maxScan) {
      throw new AppError(
        'INVALID_QUERY',
        `q: more than ${maxScan} matching messages would have to be read for this page; ` +
          'narrow the search with rarer words, a longer phrase or a later from' +
          (filter.ownerKeyId === undefined ? ', or filter by owner' : ''),
      );
    }
    scanned++;
    if (seen.has(m.sessionId)) continue;
    seen.add(m.sessionId);
    const s = await sessionById(m.sessionId);
    if (!s) continue;
    const at = page.findIndex((p) => newer(s, p));
    page.splice(at === -1 ? page.length : at, 0, s);
    if (page.length > limit + 1) page.pop();
  }
  const items = page.slice(0, limit);
  return { items, nextCursor: page.length > limit ? encodeCursor(items.at(-1)!) : null, scanned };
}
