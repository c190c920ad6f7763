import type { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * JSON a client sent, parsed and checked against `schema`: INVALID_JSON when it does not
 * parse, INVALID_BODY naming each problem when it does not fit (after `usage`, when given).
 * One reader for the run bodies, the WebSocket's messages and the OpenAI-compatible requests.
 */
export function parseJsonAs<S extends z.ZodType>(
  text: string,
  schema: S,
  opts: { what?: string; usage?: string } = {},
): z.infer<S> {
  const what = opts.what ?? 'the request body';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('INVALID_JSON', `${what} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new AppError('INVALID_BODY', `${opts.usage ? `${opts.usage}: ` : ''}${describe(parsed.error)}`);
  return parsed.data;
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : 'body';
      if (i.code === 'unrecognized_keys') return `unknown field(s): ${i.keys.join(', ')}`;
      if (i.path[0] === 'prompt' && i.code === 'invalid_type') return 'prompt must be a string';
      return `${where}: ${i.message}`;
    })
    .join('; ');
}
