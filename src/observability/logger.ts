import pino, { type DestinationStream, type Logger } from 'pino';
import { MODEL_AGENTS } from '../runner/agents/registry.js';

/** Paths whose values never reach a log line, wherever a caller puts them. */
export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'secrets',
  '*.secrets',
  'secret',
  '*.secret',
  'WEBHOOK_SECRET',
  '*.WEBHOOK_SECRET',
  // Every model agent's key variable, wherever it turns up.
  ...MODEL_AGENTS.flatMap(({ model }) => [model.keyEnv, `*.${model.keyEnv}`]),
];

/**
 * An error as logged. A failed query's error (drizzle's DrizzleQueryError, on either database)
 * carries the statement's values, in `params` and after "params:" in its message: prompts,
 * replies, stderr, workspace archives, a key's hash. Logged without them: the statement and
 * the database's own error (its `cause`) say what went wrong.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!out || typeof out !== 'object') return out;
  delete out.params;
  const message = (err as { message?: unknown }).message;
  const at = typeof message === 'string' ? message.indexOf('\nparams: ') : -1;
  if (at >= 0) {
    const kept = `${(message as string).slice(0, at)}\nparams: [redacted]`;
    // The whole message, wherever it appears (the stack repeats it): never a part of it.
    for (const field of ['message', 'stack'] as const) {
      if (typeof out[field] === 'string') out[field] = (out[field] as string).split(message as string).join(kept);
    }
  }
  return out;
}

/** Structured JSON logs (one object a line) with secrets redacted. */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'ephemera',
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
    },
    opts.destination,
  );
}
