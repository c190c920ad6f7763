import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { EphemeraError, type EphemeraClient, type RunInput } from './ephemera-client.js';

/**
 * Runs a JSONL file of prompts through the API, `concurrency` at a time, and writes one
 * JSON result per input line, in input order. Results are appended as soon as every
 * earlier line has one, so an interrupted batch leaves a valid prefix; starting again
 * with the same output file resumes after it.
 *
 * Input line: {"prompt": "...", "agent"?: "...", "session_id"?: "...", "timeout_ms"?: n, "files"?: {path: text |
 * {base64}}, "id"?: any}
 */
export interface BatchOptions {
  inputPath: string;
  outPath: string;
  /** Runs in flight at once. */
  concurrency: number;
  client: EphemeraClient;
  /** Each run submitted detached and its outcome asked for (EphemeraClient RunOptions.detached). */
  detached?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: BatchProgress) => void;
}

export interface BatchProgress {
  total: number;
  done: number;
  ok: number;
  failed: number;
  resumedFrom: number;
  startedAt: number;
}

export interface BatchResultLine {
  line: number;
  id?: unknown;
  ok: boolean;
  status: string;
  session_id: string | null;
  run_id: string | null;
  exit_code: number | null;
  output: string | null;
  error: { code: string; message: string } | null;
  attempts: number;
  ms: number;
}

export interface BatchSummary extends BatchProgress {
  interrupted: boolean;
  p50Ms: number | null;
  p95Ms: number | null;
}

interface Item {
  line: number;
  input?: RunInput;
  /** The line as written: with the output file and the line number, it makes the run's Idempotency-Key. */
  text?: string;
  id?: unknown;
  problem?: string;
}

/** A line's `files`: an object of path -> text or { base64 }; anything else makes the line a BAD_LINE. */
function filesOf(v: unknown): NonNullable<RunInput['files']> {
  const ok = (f: unknown) =>
    typeof f === 'string' ||
    (typeof f === 'object' && f !== null && typeof (f as { base64?: unknown }).base64 === 'string');
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every(ok)) {
    throw new Error('"files" must map paths to text or {"base64": ...}');
  }
  return v as NonNullable<RunInput['files']>;
}

export function readItems(path: string): Item[] {
  const items: Item[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      const line = i + 1;
      try {
        const v = JSON.parse(text) as Record<string, unknown>;
        if (typeof v !== 'object' || v === null || typeof v.prompt !== 'string')
          throw new Error('needs a string "prompt"');
        const input: RunInput = { prompt: v.prompt };
        if (typeof v.agent === 'string') input.agent = v.agent;
        if (typeof v.session_id === 'string') input.sessionId = v.session_id;
        if (typeof v.timeout_ms === 'number') input.timeoutMs = v.timeout_ms;
        if (v.files !== undefined) input.files = filesOf(v.files);
        items.push({ line, input, text, ...(v.id !== undefined && { id: v.id }) });
      } catch (err) {
        items.push({ line, problem: `line ${line}: ${(err as Error).message}` });
      }
    });
  return items;
}

/** The complete result lines already in the output file; a torn last line is dropped. */
export function readDone(outPath: string): BatchResultLine[] {
  if (!existsSync(outPath)) return [];
  const done: BatchResultLine[] = [];
  for (const text of readFileSync(outPath, 'utf8').split('\n')) {
    if (text === '') break;
    try {
      done.push(JSON.parse(text) as BatchResultLine);
    } catch {
      break;
    }
  }
  return done;
}

export async function runBatch(o: BatchOptions): Promise<BatchSummary> {
  const items = readItems(o.inputPath);
  const previous = readDone(o.outPath);
  // Rewrite the file as exactly its valid prefix before appending.
  writeFileSync(o.outPath, previous.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const fd = openSync(o.outPath, 'a');
  const progress: BatchProgress = {
    total: items.length,
    done: previous.length,
    ok: previous.filter((r) => r.ok).length,
    failed: previous.filter((r) => !r.ok).length,
    resumedFrom: previous.length,
    startedAt: Date.now(),
  };
  const times = previous.map((r) => r.ms);
  const finished = new Map<number, BatchResultLine>();
  let nextToWrite = previous.length;
  let nextToStart = previous.length;

  const flush = () => {
    while (finished.has(nextToWrite)) {
      const r = finished.get(nextToWrite)!;
      finished.delete(nextToWrite);
      writeSync(fd, `${JSON.stringify(r)}\n`);
      nextToWrite++;
    }
  };

  const one = async (index: number) => {
    const result = await runItem(items[index]!, o, resolve(o.outPath));
    if (!result) return; // not finished: a resumed batch runs it again
    finished.set(index, result);
    times.push(result.ms);
    progress.done++;
    if (result.ok) progress.ok++;
    else progress.failed++;
    flush();
    o.onProgress?.({ ...progress });
  };

  try {
    await Promise.all(
      Array.from({ length: Math.max(1, o.concurrency) }, async () => {
        while (nextToStart < items.length && !o.signal?.aborted) await one(nextToStart++);
      }),
    );
  } finally {
    flush();
    closeSync(fd);
  }
  return { ...progress, done: nextToWrite, interrupted: nextToWrite < items.length, ...percentiles(times) };
}

/** One input line's result; undefined when the batch was interrupted before the line's run ended. */
/**
 * A line's Idempotency-Key: the same for the same line of a batch writing the same file, so a
 * resumed batch (after Ctrl-C: keyed runs go on) gets the outcome of a run already begun
 * instead of running the prompt again.
 */
const keyOf = (outPath: string, item: Item) =>
  `batch-${createHash('sha256').update(`${outPath}\0${item.line}\0${item.text}`).digest('hex').slice(0, 40)}`;

async function runItem(
  item: Item,
  { client, signal, detached }: Pick<BatchOptions, 'client' | 'signal' | 'detached'>,
  outPath: string,
): Promise<BatchResultLine | undefined> {
  const started = performance.now();
  const base = { line: item.line, ...(item.id !== undefined && { id: item.id }) };
  if (item.problem !== undefined) {
    return {
      ...base,
      ok: false,
      status: 'invalid_input',
      session_id: null,
      run_id: null,
      exit_code: null,
      output: null,
      error: { code: 'BAD_LINE', message: item.problem },
      attempts: 0,
      ms: 0,
    };
  }
  try {
    const r = await client.run(
      { ...item.input!, idempotencyKey: keyOf(outPath, item) },
      { ...(signal && { signal }), ...(detached && { detached }) },
    );
    return {
      ...base,
      ok: r.status === 'succeeded',
      status: r.status,
      session_id: r.session_id,
      run_id: r.run_id,
      exit_code: r.exit_code,
      output: r.output,
      error: r.error,
      attempts: r.attempts,
      ms: Math.round(performance.now() - started),
    };
  } catch (err) {
    if (signal?.aborted) return undefined;
    const e = err instanceof EphemeraError ? err : new EphemeraError(0, 'CLIENT', String(err), 1);
    return {
      ...base,
      ok: false,
      status: 'error',
      session_id: null,
      run_id: null,
      exit_code: null,
      output: null,
      error: { code: e.code, message: e.message },
      attempts: e.attempts,
      ms: Math.round(performance.now() - started),
    };
  }
}

/** p50 and p95 of the lines' times; lines that ran no request (0 ms) do not count. */
function percentiles(times: number[]): { p50Ms: number | null; p95Ms: number | null } {
  const sorted = times.filter((t) => t > 0).sort((a, b) => a - b);
  const rank = (p: number) => (sorted.length ? sorted[Math.ceil((p / 100) * sorted.length) - 1]! : null);
  return { p50Ms: rank(50), p95Ms: rank(95) };
}
