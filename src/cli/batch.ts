// npm run batch -- prompts.jsonl --concurrency 8 --out results.jsonl [--url URL] [--key KEY]
// Ctrl-C stops it and leaves a valid partial output; run the same command again to resume.
// Runs from the built output (node dist/cli/batch.js).
import { parseArgs } from 'node:util';
import { runBatch, type BatchProgress } from '../client/batch.js';
import { EphemeraClient } from '../client/ephemera-client.js';

const USAGE = `usage: npm run batch -- <prompts.jsonl> --out <results.jsonl> [--concurrency 8] [--url http://127.0.0.1:8787] [--key KEY] [--retries 6] [--detached [--connections 4]]
  --detached: each run is submitted with Prefer: respond-async and its outcome asked for every second, so
  --concurrency runs in flight take at most --connections requests at once (a thousand prompts, a handful of connections)
  each input line: {"prompt": "...", "agent"?: "...", "session_id"?: "...", "timeout_ms"?: n, "files"?: {...}, "id"?: any}
  EPHEMERA_URL and EPHEMERA_KEY give --url and --key. Exit codes: 0 all ok, 1 some failed, 2 usage, 130 interrupted.`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        concurrency: { type: 'string', default: '8' },
        url: { type: 'string', default: process.env.EPHEMERA_URL ?? 'http://127.0.0.1:8787' },
        key: { type: 'string', default: process.env.EPHEMERA_KEY },
        retries: { type: 'string', default: '6' },
        detached: { type: 'boolean', default: false },
        connections: { type: 'string', default: '4' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`batch: ${(err as Error).message} (--help shows the usage)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const concurrency = Number(values.concurrency);
  const retries = Number(values.retries);
  const connections = Number(values.connections);
  const problem =
    positionals.length !== 1
      ? 'give exactly one input file'
      : !values.out
        ? '--out is required'
        : !Number.isInteger(concurrency) || concurrency < 1
          ? '--concurrency must be a positive integer'
          : !Number.isInteger(retries) || retries < 0
            ? '--retries must be a whole number'
            : !Number.isInteger(connections) || connections < 1
              ? '--connections must be a positive integer'
              : undefined;
  if (problem) {
    process.stderr.write(`batch: ${problem} (--help shows the usage)\n`);
    return 2;
  }
  const client = new EphemeraClient({
    baseUrl: values.url!,
    ...(values.key && { apiKey: values.key }),
    maxRetries: retries,
    ...(values.detached && { maxRequests: connections }),
  });
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\ninterrupted: finishing the output file…\n');
    controller.abort(new Error('interrupted'));
  });
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const summary = await runBatch({
    inputPath: positionals[0]!,
    outPath: values.out!,
    concurrency,
    client,
    detached: values.detached === true,
    signal: controller.signal,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r${bar(p)}`);
      else if (Date.now() - lastLine > 2000 || p.done === p.total) {
        lastLine = Date.now();
        process.stderr.write(`${bar(p)}\n`);
      }
    },
  });
  if (tty) process.stderr.write('\n');
  process.stderr.write(
    `${summary.interrupted ? 'interrupted' : 'done'}: ${summary.done}/${summary.total} written` +
      ` (resumed after ${summary.resumedFrom}), ok ${summary.ok}, failed ${summary.failed},` +
      ` p50 ${summary.p50Ms ?? '-'} ms, p95 ${summary.p95Ms ?? '-'} ms\n`,
  );
  if (summary.interrupted) return 130;
  return summary.failed > 0 ? 1 : 0;
}

function bar(p: BatchProgress): string {
  const width = 24;
  const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
  const seconds = (Date.now() - p.startedAt) / 1000;
  const rate = seconds > 0 ? (p.done - p.resumedFrom) / seconds : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total}  ok ${p.ok}  failed ${p.failed}  ${rate.toFixed(1)}/s`;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`batch: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
