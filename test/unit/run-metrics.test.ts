import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RunRow } from '../../src/db/rows.js';
import { EMPTY_RUN_METRICS, METRIC_NAMES, type StoredRunMetrics } from '../../src/run-metrics.js';

// The runs table spells its metric columns out for the migrations; they must be the declared metrics.
describe('the declared run metrics', () => {
  it("are the runs table's metric columns, with the same nullability", () => {
    expectTypeOf<Pick<RunRow, keyof StoredRunMetrics>>().toEqualTypeOf<StoredRunMetrics>();
  });

  it('start empty: unmeasured ones null, counted ones 0', () => {
    expect(Object.keys(EMPTY_RUN_METRICS)).toEqual(METRIC_NAMES);
    expect(EMPTY_RUN_METRICS).toMatchObject({
      queuedMs: null,
      totalMs: 0,
      bytesOut: 0,
      bytesErr: 0,
      modelErrors: null,
    });
  });
});
