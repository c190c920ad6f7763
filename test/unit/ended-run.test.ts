import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { runEndError, runEndFields, type EndedRun } from '../../src/http/ended-run.js';
import { failureLine } from '../../src/http/respond/text-ending.js';
import { readsTrailers } from '../../src/http/respond/trailers.js';
import { missingModelKeys } from '../../src/runner/run/missing-model-keys.js';
import { parseProfiles } from '../../src/settings.js';

const end = (over: Partial<EndedRun>): EndedRun => ({
  sessionId: 'ses_1',
  runId: 'run_1',
  status: 'failed',
  exitCode: 3,
  error: null,
  ...over,
});

describe('a run that did not end in an answer, as HTTP says it', () => {
  it.each([
    [end({}), 502, 'FAILED', 'the run ended failed (exit code 3)'],
    [
      end({
        status: 'timeout',
        exitCode: null,
        error: { code: 'TIMEOUT', message: 'the run exceeded its 1000 ms deadline' },
      }),
      504,
      'TIMEOUT',
      'the run ended timeout: the run exceeded its 1000 ms deadline',
    ],
    [
      end({ status: 'oom', exitCode: 137, error: { code: 'OOM', message: 'over 512 MiB' } }),
      502,
      'OOM',
      'the run ended oom: over 512 MiB',
    ],
    [
      end({ status: 'interrupted', exitCode: null, error: { code: 'SHUTDOWN', message: 'the service shut down' } }),
      503,
      'SHUTDOWN',
      'the run ended interrupted: the service shut down',
    ],
    [
      end({ status: 'output_limit', exitCode: null, error: { code: 'OUTPUT_LIMIT', message: 'too much' } }),
      502,
      'OUTPUT_LIMIT',
      'the run ended output_limit: too much',
    ],
  ])('%j is %i %s', (r, status, code, message) => {
    expect(runEndError(r)).toMatchObject({ status, error: { code, message } });
  });

  it('tells clients that retry any 5xx not to run a failed or timed-out prompt again; an interrupted one may be', () => {
    expect(runEndError(end({})).headers).toEqual({ 'X-Should-Retry': 'false' });
    expect(runEndError(end({ status: 'timeout' })).headers).toEqual({ 'X-Should-Retry': 'false' });
    expect(runEndError(end({ status: 'interrupted' })).headers).toEqual({});
  });

  it("keeps a CLI's or a model's message to one bounded line: no newline or terminal escape gets into it", () => {
    const { message } = runEndError(
      end({ error: { code: 'MODEL_ERROR', message: `bad\nrequest\r\n\u001b[8mhidden\u0007${'x'.repeat(2000)}` } }),
    ).error;
    expect(message).toMatch(/^the run ended failed \(exit code 3\): bad request \[8mhidden x+…$/); // the escape character itself is gone
    expect(message).toHaveLength(500);
  });

  it('gives the end as fields, naming only what the run has', () => {
    expect(runEndFields(end({}))).toEqual({ 'Ephemera-Status': 'failed', 'Ephemera-Exit-Code': '3' });
    expect(runEndFields(end({ status: 'timeout', exitCode: null, error: { code: 'TIMEOUT', message: '' } }))).toEqual({
      'Ephemera-Status': 'timeout',
      'Ephemera-Error-Code': 'TIMEOUT',
    });
  });

  it('writes the failure line on a line of its own', () => {
    expect(failureLine(end({}), true).toString()).toBe('ephemera: the run ended failed (exit code 3) [run_1]\n');
    expect(failureLine(end({}), false).toString()).toBe('\nephemera: the run ended failed (exit code 3) [run_1]\n');
  });
});

describe('TE: trailers', () => {
  const app = new Hono().get('/', (c) => c.text(String(readsTrailers(c))));
  it.each([
    [undefined, false],
    ['trailers', true],
    ['gzip, trailers', true],
    ['Trailers;q=1', true],
    ['gzip', false],
    ['trailersx', false],
  ])('%s -> %s', async (te, reads) => {
    const res = await app.request('/', { headers: te === undefined ? {} : { te } });
    expect(await res.text()).toBe(String(reads));
  });
});

describe('model agents without their key', () => {
  const profiles = parseProfiles({
    default_agent: 'sh',
    profiles: {
      sh: { image: 'x', command: ['sh'] },
      g: { kind: 'gemini', image: 'x' },
      c: { kind: 'claude', image: 'x' },
    },
  });

  it('are named with the setting that would give them one; the others are not', () => {
    const missing = missingModelKeys(profiles, { secrets: { GEMINI_API_KEY: 'k', ANTHROPIC_API_KEY: undefined } });
    expect([...missing.keys()]).toEqual(['c']);
    expect(missing.get('c')).toBe(
      'the service has no ANTHROPIC_API_KEY configured for its model gateway (set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE, or write it to MODEL_KEYS_DIR/anthropic_api_key, then restart the service)',
    );
    expect(missingModelKeys(profiles, { secrets: {} }).size).toBe(2);
  });
});
