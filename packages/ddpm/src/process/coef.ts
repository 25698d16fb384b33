// Host-side coefficient handling for the tensor formulas. Schedules are float64 host arrays and
// timesteps are known on the host (sampling loops and training batches choose them there), so a
// per-sample coefficient is gathered on the host and uploaded once as a [B, 1, ..., 1] tensor
// that broadcasts against [B, ...] data; a coefficient shared by the whole batch stays a number.

import * as T from '@tapegrad/tensor';
import type { Tensor, TensorLike } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';

/** One timestep for the whole batch, or one per batch element (0-based, 0..T-1). */
export type Timesteps = number | ArrayLike<number>;

/** A coefficient: one number for the whole batch, or one per batch element. */
export type Coef = number | ArrayLike<number>;

export function ddpmError(fn: string, msg: string): Error {
  return new Error(`${fn}: ${msg}`);
}

export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Throw unless `x` is a live tensor. */
export function checkTensor(fn: string, name: string, x: unknown): Tensor {
  if (!T.isTensor(x)) {
    throw ddpmError(fn, `${name} must be a Tensor, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
  }
  if (x.isDisposed) throw ddpmError(fn, `${name} (shape ${fmtShape(x.shape)}) was already disposed; expected a live tensor`);
  return x;
}

/** Throw unless `a` and `b` have the same shape. */
export function checkSameShape(fn: string, aName: string, a: Tensor, bName: string, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw ddpmError(fn, `${bName} has shape ${fmtShape(b.shape)} but ${aName} has shape ${fmtShape(a.shape)}; expected equal shapes`);
  }
}

/** Validate host timesteps against a schedule and a batch size; returns them as a number or number[]. */
export function checkTimesteps(fn: string, schedule: Schedule, t: Timesteps, batch: number): number | number[] {
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < schedule.T;
  if (typeof t === 'number') {
    if (!ok(t)) throw ddpmError(fn, `t must be an integer in [0, ${schedule.T - 1}] (0-based), got ${String(t)}`);
    return t;
  }
  if (T.isTensor(t)) {
    throw ddpmError(fn, `t must be host timesteps (a number or an array of numbers), got a Tensor; timesteps are chosen on the host, so pass that array`);
  }
  if (t === null || typeof t !== 'object' || typeof (t as ArrayLike<number>).length !== 'number') {
    throw ddpmError(fn, `t must be a number or an array of numbers, got ${t === null ? 'null' : typeof t}`);
  }
  const arr = Array.from(t as ArrayLike<number>);
  if (arr.length !== batch) {
    throw ddpmError(fn, `t has ${arr.length} entries but the batch has ${batch}; expected one timestep per batch element (or a single number)`);
  }
  const bad = arr.findIndex((v) => !ok(v));
  if (bad >= 0) throw ddpmError(fn, `t[${bad}] must be an integer in [0, ${schedule.T - 1}] (0-based), got ${String(arr[bad])}`);
  return arr;
}

/** table[t] for a single t, or [table[t_b]] per batch element. */
export function gatherCoef(table: ArrayLike<number>, t: number | readonly number[]): Coef {
  if (typeof t === 'number') return table[t]!;
  return Float64Array.from(t, (v) => table[v]!);
}

/** Apply `f` to a coefficient elementwise on the host (float64). */
export function mapCoef(c: Coef, f: (v: number) => number): Coef {
  return typeof c === 'number' ? f(c) : Float64Array.from(c as ArrayLike<number>, f);
}

/** Check a coefficient: finite (or allowed) values and, if per-sample, one per batch element. */
export function checkCoef(fn: string, name: string, c: Coef, like: Tensor, valid: (v: number) => boolean, expected: string): void {
  const values = typeof c === 'number' ? [c] : Array.from(c as ArrayLike<number>);
  if (typeof c !== 'number') {
    if (like.rank === 0) throw ddpmError(fn, `${name} has one value per sample but the data is a scalar tensor; expected a number`);
    if (values.length !== like.shape[0]) {
      throw ddpmError(fn, `${name} has ${values.length} values but the batch (first dimension of ${fmtShape(like.shape)}) has ${like.shape[0]}; expected one per batch element or a single number`);
    }
  }
  const bad = values.findIndex((v) => typeof v !== 'number' || !valid(v));
  if (bad >= 0) throw ddpmError(fn, `${name}${typeof c === 'number' ? '' : `[${bad}]`} must be ${expected}, got ${String(values[bad])}`);
}

/**
 * A coefficient as an op argument for data shaped like `like`: a number stays a number (the op
 * makes a scalar), per-sample values become a [B, 1, ..., 1] tensor on like's backend. Call
 * inside `tidy` (the tensor is a temporary).
 */
export function coefArg(c: Coef, like: Tensor): TensorLike {
  if (typeof c === 'number') return c;
  const shape = [like.shape[0]!, ...like.shape.slice(1).map(() => 1)];
  return T.useBackend(like.backend, () => T.tensor(Float64Array.from(c as ArrayLike<number>), shape));
}

/** A [n] tensor of the value `t` (the timestep tensor models receive), on `like`'s backend. */
export function timestepTensor(t: number | ArrayLike<number>, n: number, like: Tensor): Tensor {
  const values = typeof t === 'number' ? new Float64Array(n).fill(t) : Float64Array.from(t);
  return T.useBackend(like.backend, () => T.tensor(values, [n]));
}
