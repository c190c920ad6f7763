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
  // Every model agent's key variable, wherever it turns up.
  ...MODEL_AGENTS.flatMap(({ model }) => [model.keyEnv, `*.${model.keyEnv}`]),
];

/** Structured JSON logs (one object a line) with secrets redacted. */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    { name: 'ephemera', level: opts.level ?? process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    opts.destination,
  );
}
