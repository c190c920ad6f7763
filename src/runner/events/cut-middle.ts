/**
 * A text cut to about `maxBytes`, its head and tail kept around a note of what was left out:
 * what the log does to a long tool result, and a replay to a long tool result or stderr.
 */
export function cutMiddle(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  const half = Math.floor(maxBytes / 2);
  const buf = Buffer.from(text);
  // Cut between characters: a continuation byte (10xxxxxx) never starts or ends a piece.
  let headEnd = half;
  while (headEnd > 0 && (buf[headEnd]! & 0xc0) === 0x80) headEnd--;
  let tailStart = bytes - half;
  while (tailStart < bytes && (buf[tailStart]! & 0xc0) === 0x80) tailStart++;
  const left = tailStart - headEnd;
  return `${buf.subarray(0, headEnd).toString()}\n[ephemera: ${left} bytes left out]\n${buf.subarray(tailStart).toString()}`;
}
