import type { AgentProfile } from '../../../config/profiles.js';
import type { ContainerFile } from '../../runtime.js';
import type { Agent, ModelAccess, Verdict, ParsedOutput } from '../agent.js';
import { numericUid } from '../run-user.js';
import type { GeminiOptions } from './options.js';
import { geminiSessionFile, SESSION_FILE_PATH } from './session-file.js';
import { GeminiStreamParser } from './stream-parser.js';

/** Settings the image's entrypoint copies into $HOME/.gemini. */
const SETTINGS = {
  // With GOOGLE_GEMINI_BASE_URL set, the CLI infers an auth type its own check rejects;
  // naming the API-key method explicitly avoids that, and is right without it too.
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  // Old sessions to clean up need a HOME that outlives its container: ours does not. The
  // cleanup also took the project registry's lock that a --session-file import needs, and
  // the import then slept its 100 ms lock retry, twice (a warm follow-up 700 -> 470 ms).
  general: { sessionRetention: { enabled: false } },
  // The image has no ripgrep: the CLI's own grep tool, chosen outright, is the one it fell back
  // to anyway, without "Ripgrep is not available" heading every run's stderr.
  tools: { useRipgrep: false },
};

// Gemini CLI's documented exit codes.
const EXIT_CODES: Record<number, { code: string; message: string }> = {
  41: { code: 'AUTH_FAILED', message: 'Gemini CLI could not authenticate' },
  42: { code: 'BAD_INPUT', message: 'Gemini CLI rejected the input' },
  53: { code: 'TURN_LIMIT', message: 'Gemini CLI reached its turn limit' },
};

const AUTH_ERROR = /API_KEY_INVALID|API key not valid|UNAUTHENTICATED|PERMISSION_DENIED|\b401\b|\b403\b/;

/**
 * Google's Gemini CLI, headless with `-o stream-json`. The prompt goes to stdin; the
 * CLI talks to the model gateway (GOOGLE_GEMINI_BASE_URL) with the run's own token as its
 * API key, in a file; earlier turns go in as a session file passed with `--session-file`.
 */
export function geminiAgent(
  profile: AgentProfile,
  model: ModelAccess | undefined,
  keyConfigured = model !== undefined,
): Agent {
  const options = profile.options as GeminiOptions;
  const uid = numericUid(profile.user);
  return {
    textEvent: 'delta',
    streamsStderr: false,
    prepare: ({ prompt, history, omitted, steps }) => {
      const files: ContainerFile[] = [
        { path: '/ephemera/gemini/settings.json', content: Buffer.from(JSON.stringify(SETTINGS)), mode: 0o444 },
      ];
      if (model !== undefined) {
        // The run's own token, not the real key (the gateway adds that), readable only by the
        // user the CLI runs as; the CLI needs a key to start.
        files.push({
          path: '/ephemera/gemini/.env',
          content: Buffer.from(`GEMINI_API_KEY=${model.token}\n`),
          mode: 0o400,
          uid,
        });
      }
      const args = [
        ...(profile.command ?? []),
        '--output-format',
        'stream-json',
        '--model',
        options.model,
        '--approval-mode',
        options.approvalMode,
        '--skip-trust',
        ...options.extraArgs,
      ];
      if (profile.replay === 'gemini-session-file' && (history.length > 0 || omitted > 0)) {
        files.push({
          path: SESSION_FILE_PATH,
          content: geminiSessionFile(history, profile.workdir ?? '/workspace', omitted, steps),
          mode: 0o444,
        });
        args.push('--session-file', SESSION_FILE_PATH);
      }
      return {
        command: args,
        files,
        stdin: Buffer.from(prompt, 'utf8'),
        ...(model && { env: { GOOGLE_GEMINI_BASE_URL: model.baseUrl } }),
      };
    },
    parser: () => new GeminiStreamParser(),
    judge: (exitCode, parsed) => judgeGemini(exitCode, parsed, keyConfigured),
  };
}

export function judgeGemini(exitCode: number, parsed: ParsedOutput, hasKey: boolean): Verdict {
  const known = EXIT_CODES[exitCode];
  if (known) {
    const hint = known.code === 'AUTH_FAILED' && !hasKey ? ': the service has no GEMINI_API_KEY configured' : '';
    return { status: 'failed', error: { code: known.code, message: `${known.message}${hint}` } };
  }
  if (parsed.result?.status === 'error') {
    const message = parsed.result.errorMessage ?? 'the model returned an error';
    return { status: 'failed', error: { code: AUTH_ERROR.test(message) ? 'AUTH_FAILED' : 'MODEL_ERROR', message } };
  }
  if (exitCode !== 0) {
    return { status: 'failed', error: { code: 'AGENT_CRASHED', message: `Gemini CLI exited with code ${exitCode}` } };
  }
  if (!parsed.result) {
    return { status: 'failed', error: { code: 'AGENT_CRASHED', message: 'Gemini CLI ended without a result' } };
  }
  return { status: 'succeeded', error: null };
}
