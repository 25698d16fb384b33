// The backend the tensor suites of this package run on: webasm (float32) by default, the
// float64 reference backend in the 'reference' project of vitest.workspace.ts
// (TAPEGRAD_BACKEND=reference), where tolerances tighten to float64 rounding via tol().
import type { BackendName } from '@tapegrad/tensor';

export const TEST_BACKEND: BackendName = process.env.TAPEGRAD_BACKEND === 'reference' ? 'reference' : 'webasm';

/** `f32` on webasm, `f64` on the reference backend. */
export function tol(f32: number, f64 = 1e-12): number {
  return TEST_BACKEND === 'reference' ? f64 : f32;
}
