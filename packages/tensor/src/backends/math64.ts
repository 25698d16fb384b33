// Float64 scalar definitions of the elementwise ops: the semantics the reference backend
// implements and the gpu.js kernels approximate in float32.

import type { BinaryOp, UnaryOp } from '../backend.ts';

/** erf to ~1e-13: Maclaurin series below |x| = 3, Lentz continued fraction for erfc above. */
export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  if (ax > 27) return Math.sign(x);
  // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = ax + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = ax + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

// Special values (README "Special values"): NaN in, NaN out for every op; limits where the
// formula would give Inf * 0 (silu, gelu at -Inf) are written out; sign(+-0) = +0.

const sigmoid64 = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const UNARY64: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: sigmoid64,
  relu: (x) => (x > 0 ? x : x <= 0 ? 0 : NaN),
  silu: (x) => (x === -Infinity ? 0 : x * sigmoid64(x)),
  gelu: (x) => (x === -Infinity ? 0 : 0.5 * x * (1 + erf64(x / Math.SQRT2))),
  erf: erf64,
  floor: Math.floor,
  step: (x) => (x > 0 ? 1 : x <= 0 ? 0 : NaN),
};

/**
 * C99 / IEEE 754 pow, as NumPy and PyTorch: JS Math.pow differs only in pow(1, y) (1 for every
 * y, NaN included) and pow(-1, +-Inf) (1).
 */
function pow64(a: number, b: number): number {
  if (b === 0 || a === 1) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}

export const BINARY64: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: pow64,
  // NaN from either side, as torch.maximum / np.maximum
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
  notEqual: (a, b) => (a !== b ? 1 : 0),
};
