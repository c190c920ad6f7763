import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/db/open-store.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

// DATABASE_PASSWORD_FILE: the password of a DATABASE_URL given without one comes from a file
// (a Docker or Kubernetes secret), so that it is in neither the environment nor docker inspect.
let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'ephemera-pgpass-'));
});
afterAll(async () => {
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const withoutPassword = (url: string) => Object.assign(new URL(url), { password: '' }).toString();

describe('DATABASE_PASSWORD_FILE', () => {
  it('connects with the password the file holds (a newline at its end is no part of it)', async () => {
    const url = new URL(db.url);
    const file = join(dir, 'password');
    writeFileSync(file, `${decodeURIComponent(url.password)}\n`, { mode: 0o600 });
    const store = await openStore({
      databaseUrl: withoutPassword(db.url),
      databasePasswordFile: file,
      databasePath: join(dir, 'unused.db'),
    });
    try {
      expect(await store.healthy()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('is the password the connection uses: with a wrong one the server refuses, and an empty file is refused before', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'not-the-password');
    await expect(
      openStore({
        databaseUrl: withoutPassword(db.url),
        databasePasswordFile: wrong,
        databasePath: join(dir, 'unused.db'),
      }),
    ).rejects.toThrow(/password authentication failed/);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    await expect(
      openStore({
        databaseUrl: withoutPassword(db.url),
        databasePasswordFile: empty,
        databasePath: join(dir, 'unused.db'),
      }),
    ).rejects.toThrow(/is empty/);
  });
});
