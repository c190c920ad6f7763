import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDatabases } from './helpers/process-database.js';

// The CLIs as a user runs them: from the built output (node dist/cli/...), no tsx, with
// --help, exit codes, and every error as one line.

let dir: string;
const databases = processDatabases();
let keysDb: Record<string, string>;
beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'ephemera-cli-'));
  keysDb = await databases.env('keys');
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await databases.close();
});

/** Runs a CLI on the project's store, or on the database `env` names. */
const run = (cli: 'keys' | 'batch', args: string[], env = keysDb) => {
  const r = spawnSync(process.execPath, [`dist/cli/${cli}.js`, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const oneLine = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => !l.includes('warning: the database directory'));

describe('keys', () => {
  it('prints its usage on --help and -h, exit 0', () => {
    for (const flag of ['--help', '-h']) {
      const r = run('keys', [flag]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage:\n {2}npm run keys -- create --name/);
    }
  });

  it('refuses a missing or unknown command or option in one line, exit 2, and creates no database', () => {
    const db = join(dir, 'untouched.db'); // a file, whose making would show
    for (const args of [[], ['frob'], ['--bogus'], ['list', '--role']]) {
      const r = run('keys', args, { DATABASE_PATH: db });
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r.err), args.join(' ')).toHaveLength(1);
      expect(r.err).toMatch(/^keys: /);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(existsSync(db)).toBe(false);
  });

  it('creates, lists and revokes a key', () => {
    const created = run('keys', ['create', '--name', 'ops', '--role', 'admin', '--json']);
    expect(created.code).toBe(0);
    const { key, id } = JSON.parse(created.out);
    expect(key).toMatch(/^eph_/);
    expect(run('keys', ['list']).out).toContain(id);
    const last = run('keys', ['revoke', id]);
    expect(last.code).toBe(2); // the last active key
    expect(oneLine(last.err)).toHaveLength(1);
    expect(run('keys', ['revoke', id, '--force']).code).toBe(0);
    expect(run('keys', ['create', '--name', 'x', '--role', 'root']).err).toMatch(
      /^keys: --role must be admin or user\n$/,
    );
  });
});

describe('batch', () => {
  it('prints its usage on --help, exit 0; refuses bad arguments in one line, exit 2', () => {
    const help = run('batch', ['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: npm run batch -- <prompts.jsonl> --out/);
    for (const args of [
      ['--nope'],
      ['in.jsonl'],
      ['in.jsonl', '--out', 'o.jsonl', '--concurrency', '0'],
      ['a', 'b', '--out', 'o'],
    ]) {
      const r = run('batch', args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r.err), args.join(' ')).toHaveLength(1);
      expect(r.err).toMatch(/^batch: .*--help shows the usage\)\n$/);
    }
  });
});
