import type { AgentProfile } from '../../../config/profiles.js';
import type { Agent, AgentEvent, OutputParser, ParsedOutput } from '../agent.js';
import { historyFile } from './history-file.js';

/** Any command that reads the prompt on stdin; its stdout is the reply, byte for byte. */
export function commandAgent(profile: AgentProfile): Agent {
  return {
    textEvent: 'stdout',
    streamsStderr: true,
    prepare: ({ prompt, history, omitted, steps }) => ({
      command: profile.command,
      files: profile.replay === 'history-file' ? [historyFile(history, omitted, steps)] : [],
      stdin: Buffer.from(prompt, 'utf8'),
    }),
    parser: () => new StdoutParser(),
    judge: (exitCode) => ({ status: exitCode === 0 ? 'succeeded' : 'failed', error: null }),
  };
}

/** Stdout is the reply as is: each chunk is a text event. */
class StdoutParser implements OutputParser {
  push(chunk: Buffer): AgentEvent[] {
    return [{ type: 'text', data: chunk }];
  }

  end(): AgentEvent[] {
    return [];
  }

  get parsed(): ParsedOutput {
    return { toolCalls: [], usage: null, result: null };
  }
}
