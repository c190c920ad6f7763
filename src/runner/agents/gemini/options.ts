import { z } from 'zod';
import { BudgetSchema } from '../budget.js';

/** A gemini profile's `"gemini": {...}` block. */
export const GeminiOptionsSchema = z
  .object({
    model: z.string().min(1).default('gemini-2.5-flash'),
    /** `yolo` approves every tool call: only when the operator chooses it. */
    approval_mode: z.enum(['default', 'auto_edit', 'plan', 'yolo']).default('default'),
    extra_args: z.array(z.string()).default([]),
    budget: BudgetSchema,
  })
  .strict()
  .transform((o) => ({ model: o.model, approvalMode: o.approval_mode, extraArgs: o.extra_args, budget: o.budget }));

export type GeminiOptions = z.output<typeof GeminiOptionsSchema>;
