// Elementwise ops with NumPy broadcasting. Every op here is a primitive (one kernel, one
// VJP rule in the autograd package) except clip, which is maximum then minimum.

import type { BinaryOp, UnaryOp } from '../backend.ts';
import { broadcastShapes, opError } from '../shape.ts';
import { runPrimitive } from '../dispatch.ts';
import type { Tensor } from '../tensor.ts';
import { asTensors, type TensorLike } from './creation.ts';

function unary(op: UnaryOp) {
  const f = (x: Tensor): Tensor => {
    const { ts, temps } = asTensors(op, [x], ['x']);
    try {
      const t = ts[0];
      return runPrimitive(op, [t], t.shape, {}, (b, [s]) => b.unary(op, s, t.size, t.shape));
    } finally {
      temps.forEach((t) => t.dispose());
    }
  };
  Object.defineProperty(f, 'name', { value: op });
  return f;
}

export const neg = unary('neg');
export const abs = unary('abs');
/** -1, 0 or 1 (not differentiable: zero gradient). */
export const sign = unary('sign');
export const exp = unary('exp');
export const log = unary('log');
export const sqrt = unary('sqrt');
export const rsqrt = unary('rsqrt');
export const square = unary('square');
export const reciprocal = unary('reciprocal');
export const sin = unary('sin');
export const cos = unary('cos');
export const tanh = unary('tanh');
export const sigmoid = unary('sigmoid');
export const relu = unary('relu');
/** x * sigmoid(x) (a.k.a. swish). */
export const silu = unary('silu');
/** The exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default. */
export const gelu = unary('gelu');
export const erf = unary('erf');
/** Not differentiable: zero gradient. */
export const floor = unary('floor');
/** Heaviside step, 1 where x > 0 (the derivative of relu); zero gradient. */
export const step = unary('step');

function binary(op: BinaryOp) {
  const f = (a: TensorLike, b: TensorLike): Tensor => {
    const { ts, temps } = asTensors(op, [a, b], ['a', 'b']);
    try {
      const [ta, tb] = ts;
      const out = broadcastShapes(op, ta.shape, tb.shape);
      return runPrimitive(op, [ta, tb], out, {}, (be, [sa, sb]) => be.binary(op, sa, ta.shape, sb, tb.shape, out));
    } finally {
      temps.forEach((t) => t.dispose());
    }
  };
  Object.defineProperty(f, 'name', { value: op });
  return f;
}

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
/** a ** b; negative bases give real results only for integer exponents (NaN otherwise). */
export const pow = binary('pow');
export const maximum = binary('maximum');
export const minimum = binary('minimum');
/** Comparisons return 0/1 floats and have zero gradient. */
export const greater = binary('greater');
export const greaterEqual = binary('greaterEqual');
export const less = binary('less');
export const lessEqual = binary('lessEqual');
export const equal = binary('equal');
export const notEqual = binary('notEqual');

/** Elementwise `cond != 0 ? a : b`, all three broadcast together. */
export function where(cond: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  const { ts, temps } = asTensors('where', [cond, a, b], ['cond', 'a', 'b']);
  try {
    const [tc, ta, tb] = ts;
    const out = broadcastShapes('where', tc.shape, ta.shape, tb.shape);
    return runPrimitive('where', [tc, ta, tb], out, {}, (be, [sc, sa, sb]) =>
      be.where(sc, tc.shape, sa, ta.shape, sb, tb.shape, out),
    );
  } finally {
    temps.forEach((t) => t.dispose());
  }
}

/** Limit x to [lo, hi] (maximum, then minimum). */
export function clip(x: Tensor, lo: TensorLike, hi: TensorLike): Tensor {
  if (typeof lo === 'number' && typeof hi === 'number' && !(lo <= hi)) {
    throw opError('clip', `lo (${lo}) must be <= hi (${hi})`);
  }
  const m = maximum(x, lo);
  try {
    return minimum(m, hi);
  } finally {
    m.dispose();
  }
}
