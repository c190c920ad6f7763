import { z } from 'zod';
import { BudgetSchema } from '../budget.js';

/** A claude profile's `"claude": {...}` block. */
export const ClaudeOptionsSchema = z
  .object({
    /** A model name or one of the CLI's aliases (`sonnet`, `opus`, `haiku`: the pinned CLI's current ones). */
    model: z.string().min(1).default('sonnet'),
    /**
     * Which tool calls run without asking (headless, nobody can answer): `default` runs only
     * read-only ones; `dontAsk` refuses all but `allowed_tools`; `acceptEdits` and `auto` also
     * let it write; `bypassPermissions` runs everything (the operator's choice alone).
     */
    permission_mode: z
      .enum(['default', 'dontAsk', 'plan', 'acceptEdits', 'auto', 'bypassPermissions'])
      .default('default'),
    /** Tools (or rules such as `Bash(npm test:*)`) allowed on top of the mode. */
    allowed_tools: z.array(z.string().min(1)).default([]),
    extra_args: z.array(z.string()).default([]),
    budget: BudgetSchema,
  })
  .strict()
  .transform((o) => ({
    model: o.model,
    permissionMode: o.permission_mode,
    allowedTools: o.allowed_tools,
    extraArgs: o.extra_args,
    budget: o.budget,
  }));

export type ClaudeOptions = z.output<typeof ClaudeOptionsSchema>;
