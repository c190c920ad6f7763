import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { removeQuietly } from '../src/runner/docker/docker-container.js';
import { SHELL_IMAGE } from './helpers/harness.js';

// Two removals of one container at once (a standby pool's close and the reaper's sweep, say):
// each returns only once the container is gone, so a shutdown leaves nothing behind.

const docker = new Docker();
const instance = `test-removal-${process.pid}-${Date.now().toString(36)}`;
const left = () => docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${instance}`] } });
afterEach(async () => expect(await left()).toEqual([]));

describe('removeQuietly', () => {
  it('returns once the container is gone, also when another removal of it is under way', async () => {
    for (let round = 0; round < 5; round++) {
      const container = await docker.createContainer({
        Image: SHELL_IMAGE,
        Cmd: ['sleep', '30'],
        Labels: { 'ephemera.managed': 'true', 'ephemera.instance': instance },
        HostConfig: { Init: true, LogConfig: { Type: 'none', Config: {} } },
      });
      await container.start();
      // Whichever of the two returns first, the container must be gone by then.
      const first = await Promise.race([removeQuietly(container), removeQuietly(container)]);
      expect(first).toBeUndefined();
      expect(await left(), `round ${round}`).toEqual([]);
    }
  });
});
