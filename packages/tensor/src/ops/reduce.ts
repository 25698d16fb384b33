// Reductions over any set of axes (keepDims optional), arg-reductions over one axis, and
// the numerically stable composites built from them (mean, logsumexp, softmax, ...).

import { fmtValue } from '../errors.ts';
import type { ReduceOp } from '../backend.ts';
import { opError, normalizeAxes, normalizeAxis, fmtShape } from '../shape.ts';
import { runPrimitive } from '../dispatch.ts';
import { tidy } from '../scope.ts';
import { markIntegerValued, type Tensor } from '../tensor.ts';
import { reshape } from './movement.ts';
import { abs, div, exp, less, log, mul, sub, add, square, where } from './elementwise.ts';

export type Axes = number | readonly number[];

function reducedShape(shape: readonly number[], axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function reduce(op: ReduceOp) {
  const f = (x: Tensor, axes?: Axes, keepDims = false): Tensor => {
    const ax = normalizeAxes(op, axes, x.rank);
    if (op !== 'sum') {
      const empty = ax.find((a) => x.shape[a] === 0);
      if (empty !== undefined) {
        throw opError(op, `cannot reduce over axis ${empty} of size 0 (input shape ${fmtShape(x.shape)}); expected a non-empty axis`);
      }
    }
    const out = reducedShape(x.shape, ax, keepDims);
    return runPrimitive(op, [x], out, { axes: ax, keepDims }, (b, [s]) => b.reduce(op, s, x.shape, ax, reducedShape(x.shape, ax, false)));
  };
  Object.defineProperty(f, 'name', { value: op });
  return f;
}

/** Sum over `axes` (default: all). */
export const sum = reduce('sum');
/** Maximum over `axes` (default: all). */
export const max = reduce('max');
/** Minimum over `axes` (default: all). */
export const min = reduce('min');

function count(op: string, x: Tensor, axes?: Axes): { ax: number[]; n: number } {
  const ax = normalizeAxes(op, axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  if (n === 0) throw opError(op, `cannot average over an empty set of elements (input shape ${fmtShape(x.shape)}, axes ${fmtValue(ax)})`);
  return { ax, n };
}

export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const { ax, n } = count('mean', x, axes);
  return tidy(() => mul(sum(x, ax, keepDims), 1 / n));
}

/** Population variance (divides by n), as jnp.var and tf.moments. */
export function variance(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const { ax } = count('variance', x, axes);
  return tidy(() => mean(square(sub(x, mean(x, ax, true))), ax, keepDims));
}

/**
 * log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m = max(x), where a non-finite
 * m is replaced by 0 (as PyTorch): logsumexp([-Inf, -Inf]) = -Inf, logsumexp([Inf, 1]) = Inf.
 */
export function logsumexp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes('logsumexp', axes, x.rank);
  return tidy(() => {
    const mx = max(x, ax, true);
    const m = where(less(abs(mx), Infinity), mx, 0);
    const lse = add(log(sum(exp(sub(x, m)), ax, true)), m);
    return keepDims ? lse : reshape(lse, reducedShape(x.shape, ax, false));
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normalizeAxis('softmax', axis, x.rank);
  return tidy(() => {
    const e = exp(sub(x, max(x, a, true)));
    return div(e, sum(e, a, true));
  });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  return tidy(() => sub(x, logsumexp(x, a, true)));
}

function argReduce(op: 'argmax' | 'argmin') {
  const f = (x: Tensor, axis?: number, keepDims = false): Tensor => {
    if (axis === undefined) {
      // NumPy/PyTorch: over the flattened tensor; keepDims gives x's rank in ones, as NumPy
      return tidy(() => {
        const r = f(reshape(x, [x.size]), 0, false);
        return keepDims ? reshape(r, x.shape.map(() => 1)) : r;
      });
    }
    const a = normalizeAxis(op, axis, x.rank);
    if (x.rank === 0) throw opError(op, 'expected a tensor of rank >= 1, got a scalar');
    if (x.shape[a] === 0) throw opError(op, `axis ${a} of shape ${fmtShape(x.shape)} is empty; expected a non-empty axis`);
    const out = reducedShape(x.shape, [a], keepDims);
    return markIntegerValued(runPrimitive(op, [x], out, { axis: a, keepDims }, (b, [s]) => b.argReduce(op, s, x.shape, a, reducedShape(x.shape, [a], false))));
  };
  Object.defineProperty(f, 'name', { value: op });
  return f;
}

/** Index (as a float) of the first maximum along `axis` (default: of the flattened tensor). */
export const argmax = argReduce('argmax');
export const argmin = argReduce('argmin');
