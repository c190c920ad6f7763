// npm run prune -- [--days N] [--dry-run]   deletes sessions untouched for N days (default RETENTION_DAYS)
// Runs from the built output (node dist/cli/prune.js); the service prunes by itself hourly when RETENTION_DAYS is set.
import { parseArgs } from 'node:util';
import type { ServiceConfig } from '../config/env.js';
import { openServiceDatabase } from './service-database.js';

const USAGE = `usage: npm run prune -- [--days N] [--dry-run]
  deletes the sessions nobody touched for N days (default: RETENTION_DAYS), with their messages,
  runs and workspace; a session with a run in progress stays. --dry-run only counts them.
  The database is DATABASE_PATH's. Exit codes: 0 done, 2 refused.`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        days: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message} (--help shows the usage)`);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.days !== undefined && !(/^\d+$/.test(values.days) && Number(values.days) > 0))
    return fail('--days must be a positive whole number');
  const daysOf = (config: ServiceConfig) => (values.days === undefined ? config.retentionDays : Number(values.days));
  const opened = await openServiceDatabase((config) =>
    daysOf(config) === undefined ? 'how old: give --days N, or set RETENTION_DAYS (--help shows the usage)' : undefined,
  );
  if ('problem' in opened) return fail(opened.problem);
  const { config, store } = opened;
  const days = daysOf(config)!;
  try {
    const n = await store.prune(days, Date.now(), { dryRun: values['dry-run'] });
    process.stdout.write(
      `${values['dry-run'] ? 'would prune' : 'pruned'} ${n} session(s) untouched for ${days} day(s)\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}

/** One line on stderr, exit code 2. */
function fail(message: string): number {
  process.stderr.write(`prune: ${message.replace(/\n\s*/g, '; ')}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => (process.exitCode = fail((err as Error).message)),
);
