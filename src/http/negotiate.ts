export type ResponseMode = 'text' | 'sse' | 'json';

const MODES: Array<[string, ResponseMode]> = [
  ['text/plain', 'text'],
  ['text/event-stream', 'sse'],
  ['application/json', 'json'],
];

/**
 * Picks the response mode from the Accept header by quality, then by the order
 * above. A missing, wildcard or unsupported Accept gets plain text, which is what
 * `curl -N` users want.
 */
export function negotiateMode(accept: string | undefined): ResponseMode {
  return pickMedia(accept, MODES, 'text');
}

/** The choice whose media type the Accept header ranks highest (ties: the first listed); `fallback` if none. */
export function pickMedia<M extends string>(
  accept: string | undefined,
  choices: ReadonlyArray<readonly [string, M]>,
  fallback: M,
): M {
  if (!accept) return fallback;
  let best: { mode: M; q: number; rank: number } | undefined;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.split(';');
    const type = rawType!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((s) => s.trim());
      if (k === 'q' && v !== undefined) q = Number.isFinite(Number(v)) ? Number(v) : 0;
    }
    if (q <= 0) continue;
    choices.forEach(([media, mode], rank) => {
      if (type !== media) return;
      if (!best || q > best.q || (q === best.q && rank < best.rank)) best = { mode, q, rank };
    });
  }
  return best?.mode ?? fallback;
}
