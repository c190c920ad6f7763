import { describe, expect, it } from 'vitest';
import { ChatRequestSchema, chatTurn } from '../../src/http/openai/chat-request.js';

const turn = (body: unknown) => chatTurn(ChatRequestSchema.parse(body));

describe('a chat completion request as a turn', () => {
  it('takes the last user message as the prompt and the rest as history, a system message as a user one', () => {
    expect(
      turn({
        model: 'shell',
        temperature: 0.2,
        messages: [
          { role: 'system', content: 'be brief' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'echo ' },
              { type: 'text', text: 'one' },
            ],
          },
          { role: 'assistant', content: 'one\n' },
          { role: 'user', content: 'echo two' },
        ],
      }),
    ).toEqual({
      prompt: 'echo two',
      earlier: [
        { role: 'user', content: 'be brief' },
        { role: 'user', content: 'echo one' },
        { role: 'assistant', content: 'one\n' },
      ],
    });
  });

  it('refuses what one run cannot answer, saying why', () => {
    const m = [{ role: 'user', content: 'hi' }];
    expect(() => turn({ model: 's', messages: m, n: 2 })).toThrow(/n must be 1/);
    expect(() => turn({ model: 's', messages: m, tools: [{ type: 'function' }] })).toThrow(/tools are not supported/);
    expect(() =>
      turn({
        model: 's',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      }),
    ).toThrow(/last message must be the user's/);
    expect(() => turn({ model: 's', messages: [{ role: 'tool', content: 'x' }, ...m] })).toThrow(
      /tool messages are not supported/,
    );
    expect(() =>
      turn({ model: 's', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }),
    ).toThrow(/only text parts/);
    expect(() => turn({ model: 's', messages: [{ role: 'assistant', content: null }, ...m] })).toThrow(
      /content is missing/,
    );
    expect(() => turn({ model: 's', messages: [{ role: 'user', content: '  ' }] })).toThrow(/empty/);
    expect(ChatRequestSchema.safeParse({ model: 's', messages: [] }).success).toBe(false);
  });
});
