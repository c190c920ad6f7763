import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, TEST_PROFILES, type Harness } from './helpers/harness.js';

// The workspace travels with the session: what a turn leaves in /workspace, the next finds.
const PROFILES = {
  ...TEST_PROFILES,
  profiles: {
    ...TEST_PROFILES.profiles,
    warm: { ...TEST_PROFILES.profiles.shell!, standby: 1 },
    forgetful: { ...TEST_PROFILES.profiles.shell!, keep_workspace: false },
  },
};

let h: Harness;
beforeAll(async () => {
  h = createHarness({ profiles: PROFILES, workspace: { maxBytes: 256 * 1024, maxFiles: 50 } });
  await h.service.startBackground();
});
afterAll(async () => {
  await h.close();
  expect(await h.leftovers()).toEqual([]);
});

const turn = async (prompt: string, session?: string, agent = 'shell') =>
  jsonOf(
    h.app.request(
      post(session ? `/v1/sessions/${session}/messages` : `/v1/run?agent=${agent}`, prompt, {
        accept: 'application/json',
      }),
    ),
  );

/** Writes a subfolder, a non-ASCII name and bytes that are not text. */
const WRITE =
  "mkdir -p src/deep && printf 'print(42)\\n' > src/app.py && printf '\\000\\001\\377' > src/deep/bin && echo ok > 'données été.txt' && echo written";
const READ = "cat src/app.py; od -An -tx1 src/deep/bin; cat 'données été.txt'; printf '%s\\n' *";

describe('the workspace across turns', () => {
  for (const agent of ['shell', 'warm']) {
    it(`carries the files one turn wrote into the next, byte for byte (${agent})`, async () => {
      const first = await turn(WRITE, undefined, agent);
      expect(first).toMatchObject({ status: 'succeeded', output: 'written\n' });
      await new Promise((r) => setTimeout(r, 1100)); // unpacked a second later: times that are not the files' own must not count
      const second = await turn(READ, first.session_id);
      expect(second).toMatchObject({ status: 'succeeded' });
      expect(second.output).toBe('print(42)\n 00 01 ff\nok\ndonnées été.txt\nsrc\n');

      const [r1, r2] = [
        (await h.service.transcripts.getRun(first.run_id))!,
        (await h.service.transcripts.getRun(second.run_id))!,
      ];
      expect(r1).toMatchObject({ workspaceInBytes: null, workspaceOutBytes: expect.any(Number) });
      expect(r2.workspaceInSha256).toBe(r1.workspaceOutSha256); // what turn 1 left is what turn 2 found
      expect(r2.workspaceOutSha256).toBe(r1.workspaceOutSha256); // and it changed nothing
      expect((await h.service.workspaces.get(first.session_id))!.sha256).toBe(r2.workspaceOutSha256);
    });
  }

  it('restores files owned by the run user, and a run sees nothing of another session', async () => {
    const mine = await turn('echo secret > mine.txt; id -u');
    const other = await turn('ls -A; echo end');
    expect(other.output).toBe('end\n');
    const again = await turn('stat -c "%u %a" mine.txt; touch mine.txt && echo writable', mine.session_id);
    expect(again.output).toBe(`${mine.output.trim()} 644\nwritable\n`);
  });

  it('keeps the workspace a run found when the run was stopped, and one over the bound fails the run', async () => {
    const first = await turn('echo v1 > f.txt');
    const stopped = await jsonOf(
      h.app.request(
        post(`/v1/sessions/${first.session_id}/messages?timeout_ms=1500`, 'echo v2 > f.txt; sleep 30', {
          accept: 'application/json',
        }),
      ),
    );
    expect(stopped.status).toBe('timeout');
    const tooBig = await turn('head -c 400000 /dev/zero > big.bin; echo done', first.session_id);
    expect(tooBig).toMatchObject({ status: 'failed', output: 'done\n', error: { code: 'WORKSPACE_TOO_LARGE' } });
    const after = await turn('cat f.txt; ls', first.session_id);
    expect(after.output).toBe('v1\nf.txt\n');
  });

  it('stops reading a workspace over its bound, and ends the run then, not at its deadline', async () => {
    // A 50 GiB sparse file costs the tmpfs nothing and would stream zeros for minutes.
    const huge = await turn('dd if=/dev/zero of=huge bs=1048576 count=0 seek=51200 2>/dev/null; echo done');
    expect(huge).toMatchObject({ status: 'failed', output: 'done\n', error: { code: 'WORKSPACE_TOO_LARGE' } });
    expect(await h.service.workspaces.get(huge.session_id)).toBeUndefined();
  });

  it('is not kept by a profile that says so: each run starts empty', async () => {
    const first = await turn('echo x > a.txt; echo ok', undefined, 'forgetful');
    const second = await turn('ls -A; echo end', first.session_id);
    expect(second.output).toBe('end\n');
    expect(await h.service.workspaces.get(first.session_id)).toBeUndefined();
  });

  it('goes with its session when the session is deleted', async () => {
    const first = await turn('echo x > a.txt');
    expect(await h.service.workspaces.get(first.session_id)).toBeDefined();
    expect((await h.app.request(`/v1/sessions/${first.session_id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await h.service.workspaces.get(first.session_id)).toBeUndefined();
  });
});
