// Shared test helpers: host read-back, gradcheck over a params tree plus inputs, and a tiny
// deterministic host RNG for test data (independent of the library's RNG).

import * as T from '@tapegrad/tensor';
import { treeFlatten, treeUnflatten, type Tensor } from '@tapegrad/tensor';
import { gradcheck, type GradcheckOptions, type GradcheckReport } from '@tapegrad/autograd';

export async function host(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/**
 * gradcheck of `f(params, ...inputs)` with respect to every tensor leaf of `params` and every
 * input: the leaves are passed to gradcheck as separate arguments and reassembled.
 */
export async function gradcheckTree<P>(
  f: (params: P, ...inputs: Tensor[]) => Tensor,
  params: P,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const [leaves, def] = treeFlatten(params);
  const n = leaves.length;
  return gradcheck((...xs: Tensor[]) => f(treeUnflatten<P>(def, xs.slice(0, n)), ...xs.slice(n)), [...(leaves as Tensor[]), ...inputs], opts);
}

/**
 * A tolerance for the backend that runs: `f32` on the float32 backends, `f64` on the float64
 * reference backend (the suites run on both: vitest.workspace.ts), so reference runs check to
 * float64 rounding instead of float32's.
 */
export function tol(f32: number, f64 = 1e-12): number {
  return T.getBackend() === 'reference' ? f64 : f32;
}

/** mulberry32: a small seeded host generator for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Float32-exact values in [lo, hi) from a seeded generator. */
export function randomValues(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export function randn(seed: number, shape: number[], scale = 1): Tensor {
  return T.tensor(randomValues(seed, shape.reduce((a, b) => a * b, 1), -scale, scale), shape);
}
