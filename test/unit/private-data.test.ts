import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, UnsafeDatabaseError } from '../../src/db/sqlite/open.js';

// Files made with the usual umask would be 0644 / directories 0755: readable by every local user.
let umask: number;
let root: string;
beforeAll(() => {
  umask = process.umask(0o022);
  root = mkdtempSync(join(tmpdir(), 'ephemera-private-'));
});
afterAll(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (path: string) => statSync(path).mode & 0o7777;
const fresh = (name: string) => mkdtempSync(join(root, `${name}-`));

describe('openDatabase keeps the transcripts private', () => {
  it('creates a missing directory 0700 and the database, -wal and -shm 0600', () => {
    const base = fresh('new');
    const path = join(base, 'a', 'b', 'ephemera.db');
    const warnings: string[] = [];
    const db = openDatabase(path, { warn: (m) => warnings.push(m) });
    try {
      db.$client
        .prepare("insert into sessions (id, agent, created_at, updated_at) values ('ses_x', 'shell', 1, 1)")
        .run();
      expect(existsSync(`${path}-wal`) && existsSync(`${path}-shm`)).toBe(true);
      expect(modeOf(join(base, 'a'))).toBe(0o700);
      expect(modeOf(join(base, 'a', 'b'))).toBe(0o700);
      expect(modeOf(path)).toBe(0o600);
      expect(modeOf(`${path}-wal`)).toBe(0o600);
      expect(modeOf(`${path}-shm`)).toBe(0o600);
      expect(warnings).toEqual([]);
    } finally {
      db.$client.close();
    }
  });

  it('tightens a database, -wal and -shm that an older version left 0644', () => {
    const path = join(fresh('old'), 'ephemera.db');
    const old = new Database(path); // as before: SQLite's default modes under umask 022
    old.pragma('journal_mode = WAL');
    old.exec('create table t (x); insert into t values (1)');
    expect([modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)]).toEqual([0o644, 0o644, 0o644]);
    const db = openDatabase(path, { warn: () => {} });
    try {
      expect([modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)]).toEqual([0o600, 0o600, 0o600]);
    } finally {
      db.$client.close();
      old.close();
    }
  });

  it('leaves a directory that exists as it is, and warns when other users can get into it', () => {
    const dir = fresh('open');
    chmodSync(dir, 0o755);
    const warnings: string[] = [];
    const db = openDatabase(join(dir, 'ephemera.db'), { warn: (m) => warnings.push(m) });
    db.$client.close();
    expect(modeOf(dir)).toBe(0o755);
    expect(modeOf(join(dir, 'ephemera.db'))).toBe(0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`the database directory ${dir} is open to other users (mode 0755)`);
    expect(warnings[0]).toContain('chmod 700');

    const quiet: string[] = [];
    chmodSync(dir, 0o700);
    openDatabase(join(dir, 'ephemera.db'), { warn: (m) => quiet.push(m) }).$client.close();
    expect(quiet).toEqual([]);
  });

  it.runIf(process.geteuid?.() === 0)(
    "refuses another user's database file (a pre-created file in a shared directory)",
    () => {
      const path = join(fresh('theirs'), 'ephemera.db');
      writeFileSync(path, '');
      chmodSync(path, 0o666);
      chownSync(path, 65534, 65534);
      expect(() => openDatabase(path, { warn: () => {} })).toThrow(UnsafeDatabaseError);
      expect(() => openDatabase(path, { warn: () => {} })).toThrow(/belongs to uid 65534.*refusing/);
      expect(modeOf(path)).toBe(0o666); // not touched, and nothing written
      expect(statSync(path).size).toBe(0);
    },
  );
});
