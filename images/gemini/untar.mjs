// The gemini image gate's unpacking of the run's files (gate.mjs): the ustar archive the service
// writes (src/runner/docker/docker-container.ts tarOf), checked by test/unit/gemini-gate.test.ts.
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Unpacks a ustar archive (as the service writes it: folders and plain files) under `root`, then makes it read-only.
 */
export function untar(buf, root) {
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a, b) => h.toString('utf8', a, b).replace(/\0[\s\S]*$/, '');
    const name = [field(345, 500), field(0, 100)].filter(Boolean).join('/');
    const mode = parseInt(field(100, 108).trim() || '0', 8);
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(h[156]);
    off += 512;
    const path = resolve(root, name);
    if (path !== root && !path.startsWith(`${root}/`)) throw new Error(`a file outside ${root}: ${name}`);
    if (type === '5') mkdirSync(path, { recursive: true });
    else if (type === '0' || type === '\0') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, buf.subarray(off, off + size));
      chmodSync(path, mode & 0o7777);
    }
    off += Math.ceil(size / 512) * 512;
  }
  const readOnly = (p) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) readOnly(join(p, e));
    chmodSync(p, st.mode & 0o7555);
  };
  readOnly(root);
}
