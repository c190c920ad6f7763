import { z } from 'zod';
import type { ModelBudget } from '../../gateway/run-tokens.js';

/**
 * A model agent's `budget` option: what one run may spend through the model gateway; past
 * it the run ends failed, BUDGET_EXCEEDED.
 */
export const BudgetSchema = z
  .object({ model_calls: z.number().int().positive().optional(), tokens: z.number().int().positive().optional() })
  .strict()
  .default({})
  .transform(
    (b): ModelBudget => ({
      ...(b.model_calls !== undefined && { modelCalls: b.model_calls }),
      ...(b.tokens !== undefined && { tokens: b.tokens }),
    }),
  );
