// npm run keys -- create --name <name> --role admin|user   prints the new key once
// npm run keys -- list                                      lists keys, never their secret
// npm run keys -- revoke <id|name> [--force]                 --force: even the last active admin key
// Runs from the built output (node dist/cli/keys.js), so it also works in the service image.
import { parseArgs } from 'node:util';
import type { ApiKeyStore } from '../db/contract.js';
import { openServiceDatabase } from './service-database.js';
import { API_KEY_ROLES, type ApiKeyRole } from '../db/rows.js';

const USAGE = `usage:
  npm run keys -- create --name <name> --role admin|user [--json]
  npm run keys -- list [--json]
  npm run keys -- revoke <key id or name> [--force]
The database is DATABASE_PATH's (default ./data/ephemera.db). Exit codes: 0 done, 2 refused.`;

const COMMANDS = new Set(['create', 'list', 'revoke']);

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        role: { type: 'string' },
        json: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message} (--help shows the usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, target] = positionals;
  // Checked before the database is opened: a typo creates nothing.
  if (command === undefined || !COMMANDS.has(command)) {
    return fail(
      `${command === undefined ? 'no command' : `unknown command "${command}"`}: create, list or revoke (--help shows the usage)`,
    );
  }
  // The arguments, checked before anything is opened.
  if (command === 'create') {
    if (!values.name || !/^[\w.@-]{1,64}$/.test(values.name))
      return fail('--name is required: 1-64 letters, digits, _ . @ -');
    if (!API_KEY_ROLES.includes(values.role as ApiKeyRole)) return fail('--role must be admin or user');
  }
  if (command === 'revoke' && !target) return fail('revoke needs a key id or name');
  if (positionals.length > (command === 'revoke' ? 2 : 1))
    return fail(`unexpected argument "${positionals.at(-1)}" (--help shows the usage)`);
  const opened = await openServiceDatabase();
  if ('problem' in opened) return fail(opened.problem);
  const { store } = opened;
  const keys = store.keys;
  try {
    switch (command) {
      case 'create': {
        const { key, info } = await keys.create(values.name!, values.role as ApiKeyRole);
        if (values.json) process.stdout.write(`${JSON.stringify({ key, ...info })}\n`);
        else {
          process.stdout.write(`${key}\n`);
          process.stderr.write(
            `created ${info.id} (${info.role}) "${info.name}": the key above is shown only this once\n`,
          );
        }
        return 0;
      }
      case 'list': {
        const list = await keys.list();
        if (values.json) process.stdout.write(`${JSON.stringify(list)}\n`);
        else
          for (const k of list) {
            const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
            process.stdout.write(`${k.id}\t${k.role}\t${k.name}\t${k.prefix}…\t${state}\n`);
          }
        return 0;
      }
      case 'revoke': {
        const refusal = await lastKeyRefusal(keys, target!);
        if (refusal && !values.force) return fail(`${refusal}; pass --force to revoke it anyway`);
        const n = await keys.revoke(target!);
        if (n === 0) return fail(`no active key with id or name "${target}"`);
        process.stderr.write(`revoked ${n} key(s)\n`);
        return 0;
      }
      default:
        return fail(`unknown command "${command}"`);
    }
  } finally {
    await store.close();
  }
}

/**
 * Why revoking these keys needs --force: it leaves no active admin key (nobody can
 * delete sessions or read stats), or no active key at all (every request gets 401:
 * a service that had keys never falls back to serving without one).
 */
async function lastKeyRefusal(keys: ApiKeyStore, target: string): Promise<string | undefined> {
  const going = new Set((await keys.matching(target)).map((k) => k.id));
  if (going.size === 0) return undefined;
  const remaining = (await keys.list()).filter((k) => k.revokedAt === null && !going.has(k.id));
  if (remaining.length === 0) {
    return `"${target}" is the last active key: once it is revoked, the service answers every /v1 request with 401 until a new key is created (npm run keys -- create ...); it does not go back to serving without keys`;
  }
  if (!remaining.some((k) => k.role === 'admin')) {
    return `"${target}" is the last active admin key: once it is revoked, nobody can delete sessions or read /v1/stats until a new admin key is created`;
  }
  return undefined;
}

/** One line on stderr (a configuration error's list joined), exit code 2. */
function fail(message: string): number {
  process.stderr.write(`keys: ${message.replace(/\n\s*/g, '; ')}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
