import type { Context } from 'hono';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { RunRequestSchema } from './schemas.js';
import type { GivenFile } from '../workspace/edit.js';

export interface RunInput {
  prompt: string;
  agent?: string;
  timeoutMs?: number;
  /** Files for the session's workspace, added before the turn runs. */
  files?: Record<string, GivenFile>;
}

const agentName = z.string().min(1).max(64);
const timeoutMs = z.number().int().positive().max(2_147_483_647);
// The JSON body's schema is the one /openapi.json documents.
const JsonBody = RunRequestSchema;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a run request: a JSON body `{ prompt, agent?, timeout_ms?, files? }`, or any other
 * body as the prompt itself (curl -d sends form-urlencoded: it is taken as is, not decoded).
 * `?agent=` and `?timeout_ms=` apply to both; JSON fields win.
 */
export async function readRunInput(c: Context): Promise<RunInput> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AppError('INVALID_UTF8', 'the request body is not valid UTF-8');
  }

  const input: RunInput = { prompt: text, ...fromQuery(c) };
  if (isJson(c.req.header('content-type'))) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('INVALID_JSON', 'the request body is not valid JSON');
    }
    const parsed = JsonBody.safeParse(json);
    if (!parsed.success) throw new AppError('INVALID_BODY', describe(parsed.error));
    input.prompt = parsed.data.prompt;
    if (parsed.data.agent !== undefined) input.agent = parsed.data.agent;
    if (parsed.data.timeout_ms !== undefined) input.timeoutMs = parsed.data.timeout_ms;
    if (parsed.data.files !== undefined) input.files = parsed.data.files;
  }
  if (input.prompt.trim() === '') throw new AppError('EMPTY_PROMPT', 'the prompt is empty');
  return input;
}

function fromQuery(c: Context): Partial<RunInput> {
  const out: Partial<RunInput> = {};
  const agent = c.req.query('agent');
  if (agent !== undefined) {
    const a = agentName.safeParse(agent);
    if (!a.success) throw new AppError('INVALID_BODY', 'query parameter agent must be a non-empty name');
    out.agent = a.data;
  }
  const t = c.req.query('timeout_ms');
  if (t !== undefined) {
    const n = timeoutMs.safeParse(/^\d+$/.test(t) ? Number(t) : NaN);
    if (!n.success) throw new AppError('INVALID_BODY', 'query parameter timeout_ms must be a positive integer');
    out.timeoutMs = n.data;
  }
  return out;
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
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
