// Shared helpers for the golden-file tests. The golden file lives in ../shared/ beside the
// repository root (see shared/DESIGN.md); it is resolved relative to this file.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const GOLDEN: Json = JSON.parse(
  readFileSync(new URL('../../../../shared/ddpm-golden.json', import.meta.url), 'utf8'),
);

/** float64_impl_vs_golden_rel from the golden file's meta.recommended_tolerances. */
export const REL: number = GOLDEN.meta.recommended_tolerances.float64_impl_vs_golden_rel;

/**
 * Compare with the golden value: relative tolerance `rel`; JSON null means +-Infinity (the golden
 * cannot say which), so only |actual| = Infinity is required; an expected exact 0 allows |actual| <= abs0
 * (a relative tolerance around 0 would demand bit-exact cancellation).
 */
export function close(actual: number, expected: number | null, label: string, rel = REL, abs0 = 1e-15): void {
  if (expected === null) {
    expect(Math.abs(actual), `${label}: expected +-Infinity (JSON null), got ${actual}`).toBe(Infinity);
    return;
  }
  expect(typeof expected, `${label}: golden value is not a number`).toBe('number');
  const ok = expected === 0 ? Math.abs(actual) <= abs0 : Math.abs(actual - expected) <= rel * Math.abs(expected);
  expect(ok, `${label}: got ${actual}, expected ${expected} (rel err ${Math.abs(actual - expected) / Math.abs(expected)})`).toBe(true);
}

export function closeArray(actual: ArrayLike<number>, expected: readonly (number | null)[], label: string, rel = REL, abs0 = 1e-15): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) close(actual[i]!, expected[i]!, `${label}[${i}]`, rel, abs0);
}
