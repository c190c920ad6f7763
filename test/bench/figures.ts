// What every bench reports its samples with.

/** The p-th percentile (0-100) by nearest rank; NaN for no samples. */
export const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

/** Rounded to two decimals, as the tables and JSON show figures. */
export const r2 = (x: number): number => Math.round(x * 100) / 100;
