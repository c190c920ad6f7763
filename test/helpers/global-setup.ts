import Docker from 'dockerode';
import type { TestProject } from 'vitest/node';
import { BUILTIN_PROFILES } from '../../src/settings.js';

/**
 * Fails the whole suite early, with the fix, when the engine or the images are missing. Per
 * project, on that project's engine: a project's `env` (the podman projects' DOCKER_HOST) is not
 * this process's, so it is read from the project.
 */
export default async function setup(project: TestProject) {
  const host = project.config.env?.DOCKER_HOST;
  const docker = host?.startsWith('unix://') ? new Docker({ socketPath: host.slice('unix://'.length) }) : new Docker();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`no Docker engine answers (${(err as Error).message}); run \`npm run setup\` first`);
  }
  for (const profile of Object.values(BUILTIN_PROFILES.profiles)) {
    try {
      await docker.getImage(profile.image).inspect();
    } catch {
      throw new Error(`image ${profile.image} is missing; run \`npm run setup\` first`);
    }
  }
  return async () => {
    // The suite's promise: no managed container outlives it.
    const left = await docker.listContainers({ all: true, filters: { label: ['ephemera.managed=true'] } });
    if (left.length > 0) {
      await Promise.all(
        left.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
      throw new Error(
        `${left.length} managed container(s) were left behind: ${left.map((c) => c.Labels['ephemera.run']).join(', ')}`,
      );
    }
  };
}
