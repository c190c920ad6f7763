import { describe, expect, it } from 'vitest';
import { negotiateMode } from '../../src/http/negotiate.js';

describe('negotiateMode', () => {
  it.each([
    [undefined, 'text'],
    ['*/*', 'text'],
    ['text/plain', 'text'],
    ['text/event-stream', 'sse'],
    ['application/json', 'json'],
    ['application/json, text/plain;q=0.5', 'json'],
    ['text/plain;q=0.2, text/event-stream', 'sse'],
    ['image/png', 'text'],
    ['application/json;q=0', 'text'],
    ['TEXT/EVENT-STREAM', 'sse'],
  ])('%s -> %s', (accept, mode) => {
    expect(negotiateMode(accept)).toBe(mode);
  });
});
