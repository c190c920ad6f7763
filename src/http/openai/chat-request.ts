import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { MessageRole } from '../../db/rows.js';

const Part = z.looseObject({ type: z.string(), text: z.string().optional() });
const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z
    .union([z.string(), z.array(Part)])
    .nullable()
    .optional(),
});

/**
 * A chat completion request: what the service reads of it. Sampling settings (temperature,
 * max_tokens, ...) are accepted and ignored: the agent's CLI picks its own.
 */
export const ChatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(Message).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z.number().int().nullable().optional(),
  tools: z.array(z.unknown()).nullable().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export interface ChatTurn {
  prompt: string;
  /** Everything before the last user message, as a new session's history. */
  earlier: { role: MessageRole; content: string }[];
}

/**
 * The turn a request asks for: the last message (a user's) is the prompt; the ones before
 * it are the history. A system or developer message is kept as a user message: an agent's
 * CLI brings its own system prompt, and the instructions still reach the model as text.
 */
export function chatTurn(req: ChatRequest): ChatTurn {
  if ((req.n ?? 1) !== 1) throw new AppError('INVALID_BODY', 'n must be 1: each completion is one run of the agent');
  if (req.tools && req.tools.length > 0)
    throw new AppError('INVALID_BODY', 'tools are not supported: the agent runs its own tools');
  const texts = req.messages.map((m, i) => {
    if (m.role === 'tool' || m.role === 'function')
      throw new AppError(
        'INVALID_BODY',
        `messages[${i}]: ${m.role} messages are not supported: the agent runs its own tools`,
      );
    return { role: m.role, content: textOf(m.content, i) };
  });
  const last = texts.at(-1)!;
  if (last.role !== 'user') throw new AppError('INVALID_BODY', "the last message must be the user's: it is the prompt");
  if (last.content.trim() === '') throw new AppError('EMPTY_PROMPT', 'the last user message is empty');
  return {
    prompt: last.content,
    earlier: texts
      .slice(0, -1)
      .map((m) => ({ role: m.role === 'assistant' ? 'assistant' : 'user', content: m.content })),
  };
}

function textOf(content: z.infer<typeof Message>['content'], i: number): string {
  if (content === null || content === undefined)
    throw new AppError('INVALID_BODY', `messages[${i}]: content is missing`);
  if (typeof content === 'string') return content;
  return content
    .map((p, j) => {
      if (p.type !== 'text' || p.text === undefined)
        throw new AppError(
          'INVALID_BODY',
          `messages[${i}].content[${j}]: only text parts are supported, not ${p.type}`,
        );
      return p.text;
    })
    .join('');
}
