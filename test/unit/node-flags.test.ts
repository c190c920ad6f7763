import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '../../scripts/node-flags.mjs';

// npm start, the Docker image and the benches start the service with the same node flags.
describe('the node flags the service runs with', () => {
  it('are in npm start and in the image CMD, before the bundle', () => {
    const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts
      .start!;
    expect(start).toContain(`node ${SERVICE_NODE_FLAGS.join(' ')} dist/bundle/index.js`);
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync('Dockerfile', 'utf8'))![1]!;
    expect(JSON.parse(cmd)).toEqual(['node', ...SERVICE_NODE_FLAGS, 'dist/bundle/index.js']);
  });
});
