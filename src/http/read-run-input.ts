import type { Context } from 'hono';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { RunRequestSchema } from './schemas.js';
import { parseJsonAs } from './json-input.js';
import type { GivenFile } from '../workspace/edit.js';

export interface RunInput {
  prompt: string;
  agent?: string;
  timeoutMs?: number;
  /** Files for the session's workspace, added before the turn runs. */
  files?: Record<string, GivenFile>;
  /** Where to call back when the run ends (checked against WEBHOOK_ALLOWED_ORIGINS by the run service). */
  webhookUrl?: string;
}

const agentName = z.string().min(1).max(64);
const timeoutMs = z.number().int().positive().max(2_147_483_647);
// The JSON body's schema is the one /openapi.json documents.
const JsonBody = RunRequestSchema;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a run request: a JSON body `{ prompt, agent?, timeout_ms?, files? }`, a
 * multipart/form-data body's `prompt` field, or any other body as the prompt itself (curl -d
 * sends form-urlencoded: it is taken as is, not decoded, so `prompt=1; echo $prompt` runs as written).
 * `?agent=` and `?timeout_ms=` apply to both; JSON fields win.
 */
export async function readRunInput(c: Context): Promise<RunInput> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const contentType = c.req.header('content-type');
  if (mediaType(contentType) === 'multipart/form-data')
    return checked({ ...fromQuery(c), ...(await fromForm(bytes, contentType!)) });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AppError('INVALID_UTF8', 'the request body is not valid UTF-8');
  }

  const input: RunInput = { prompt: text, ...fromQuery(c) };
  if (isJson(c.req.header('content-type'))) {
    const body = parseJsonAs(text, JsonBody);
    input.prompt = body.prompt;
    if (body.agent !== undefined) input.agent = body.agent;
    if (body.timeout_ms !== undefined) input.timeoutMs = body.timeout_ms;
    if (body.files !== undefined) input.files = body.files;
    if (body.webhook_url !== undefined) input.webhookUrl = body.webhook_url;
  }
  return checked(input);
}

function checked(input: RunInput): RunInput {
  if (input.prompt.trim() === '') throw new AppError('EMPTY_PROMPT', 'the prompt is empty');
  return input;
}

const FORM_FIELDS = new Set(['prompt', 'agent', 'timeout_ms']);

/**
 * `curl -F prompt=...` (or `-F prompt=@script.sh`): the form's `prompt` field is the prompt,
 * as the service's first design took it; `agent` and `timeout_ms` may come as fields too.
 */
async function fromForm(bytes: Uint8Array, contentType: string): Promise<RunInput> {
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new AppError('INVALID_BODY', 'the multipart/form-data body does not parse');
  }
  const unknown = [...new Set(form.keys())].filter((k) => !FORM_FIELDS.has(k));
  if (unknown.length > 0)
    throw new AppError(
      'INVALID_BODY',
      `unknown form field(s): ${unknown.join(', ')}; send prompt, and agent or timeout_ms if needed`,
    );
  const field = async (name: string) => {
    const values = form.getAll(name);
    if (values.length > 1) throw new AppError('INVALID_BODY', `form field ${name} is given more than once`);
    const v = values[0];
    if (v === undefined || typeof v === 'string') return v;
    try {
      return utf8.decode(new Uint8Array(await v.arrayBuffer()));
    } catch {
      throw new AppError('INVALID_UTF8', `form field ${name} is not valid UTF-8`);
    }
  };
  const prompt = await field('prompt');
  if (prompt === undefined) throw new AppError('INVALID_BODY', 'the form has no prompt field: curl -F prompt=...');
  const input: RunInput = { prompt };
  const agent = await field('agent');
  if (agent !== undefined) input.agent = parseAgent(agent, 'form field agent');
  const timeout = await field('timeout_ms');
  if (timeout !== undefined) input.timeoutMs = parseTimeout(timeout, 'form field timeout_ms');
  return input;
}

function fromQuery(c: Context): Partial<RunInput> {
  const out: Partial<RunInput> = {};
  const agent = c.req.query('agent');
  if (agent !== undefined) out.agent = parseAgent(agent, 'query parameter agent');
  const t = c.req.query('timeout_ms');
  if (t !== undefined) out.timeoutMs = parseTimeout(t, 'query parameter timeout_ms');
  return out;
}

function parseAgent(value: string, what: string): string {
  const a = agentName.safeParse(value);
  if (!a.success) throw new AppError('INVALID_BODY', `${what} must be a non-empty name`);
  return a.data;
}

function parseTimeout(value: string, what: string): number {
  const n = timeoutMs.safeParse(/^\d+$/.test(value) ? Number(value) : NaN);
  if (!n.success) throw new AppError('INVALID_BODY', `${what} must be a positive integer`);
  return n.data;
}

const mediaType = (contentType: string | undefined) => contentType?.split(';')[0]?.trim().toLowerCase();

function isJson(contentType: string | undefined): boolean {
  const type = mediaType(contentType);
  return type === 'application/json' || (type?.endsWith('+json') ?? false);
}
