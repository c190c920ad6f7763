import { cutAtCharEnd, cutAtCharStart } from '../run/output-buffer.js';

/**
 * A text cut to about `maxBytes`, its head and tail kept around a note of what was left out,
 * cut between characters as a stored reply is (output-buffer.ts): what the log does to a long
 * tool result, and a replay to a long tool result or stderr.
 */
export function cutMiddle(text: string, maxBytes: number): string {
  const buf = Buffer.from(text);
  if (buf.length <= maxBytes) return text;
  const half = Math.floor(maxBytes / 2);
  const head = cutAtCharEnd(buf.subarray(0, half));
  const tail = cutAtCharStart(buf.subarray(buf.length - half));
  const left = buf.length - head.length - tail.length;
  return `${head.toString()}\n[ephemera: ${left} bytes left out]\n${tail.toString()}`;
}
