import { pack, type Header } from 'tar-stream';

/** A tar made exactly as given, however hostile: names, types, modes and links as written. */
export async function tarOf(
  entries: Array<Partial<Header> & { name: string; body?: string | Buffer }>,
): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const { body, ...header } of entries) {
    if (body !== undefined) p.entry({ ...header, size: Buffer.byteLength(body) }, body);
    else p.entry(header);
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}
