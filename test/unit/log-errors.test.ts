import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';

describe('errors in the logs', () => {
  it('keep a failed query and its database error, never its values', () => {
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (l: string) => void lines.push(l) } });
    // A value shaped to end the redaction early, as a hostile prompt could be.
    const prompt = 'my secret prompt\n    at the end, more secrets';
    const err = new DrizzleQueryError(
      'insert into messages (content, x) values ($1, $2)',
      [prompt, 'f3a9c1 key hash'],
      Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' }),
    );
    log.error({ err }, 'could not record the end of a run');
    const line = lines.join('');
    expect(line).not.toContain('secret');
    expect(line).not.toContain('f3a9c1');
    expect(line).toContain('insert into messages (content, x) values ($1, $2)');
    expect(line).toContain('params: [redacted]');
    expect(line).toContain('invalid byte sequence');
  });

  it('leave other errors as they are', () => {
    const lines: string[] = [];
    createLogger({ destination: { write: (l: string) => void lines.push(l) } }).error(
      { err: new Error('engine unreachable') },
      'x',
    );
    expect(JSON.parse(lines[0]!).err).toMatchObject({ type: 'Error', message: 'engine unreachable' });
  });
});
