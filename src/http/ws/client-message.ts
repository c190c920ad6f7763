import { z } from 'zod';
import { AppError } from '../../errors.js';
import { parseJsonAs } from '../json-input.js';

const Prompt = z.strictObject({
  type: z.literal('prompt'),
  prompt: z.string(),
  agent: z.string().min(1).max(64).optional(),
  timeout_ms: z.number().int().positive().max(2_147_483_647).optional(),
});
const Cancel = z.strictObject({ type: z.literal('cancel') });
const ClientMessage = z.discriminatedUnion('type', [Prompt, Cancel]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** One message from the client: JSON text, `{type:"prompt",...}` or `{type:"cancel"}`; an AppError otherwise. */
export function parseClientMessage(data: unknown): ClientMessage {
  if (typeof data !== 'string') throw new AppError('INVALID_BODY', 'send text messages holding JSON, not binary ones');
  const msg = parseJsonAs(data, ClientMessage, {
    what: 'the message',
    usage: 'a message is {"type":"prompt","prompt":"...","agent"?:"...","timeout_ms"?:n} or {"type":"cancel"}',
  });
  if (msg.type === 'prompt' && msg.prompt.trim() === '') throw new AppError('EMPTY_PROMPT', 'the prompt is empty');
  return msg;
}
