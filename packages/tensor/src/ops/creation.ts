// Tensors from host values: tensor, zeros, ones, full, arange, linspace.

import type { Backend } from '../backend.ts';
import { MAX_ELEMENTS } from '../backends/kernels.ts';
import { describeValue, fmtValue } from '../errors.ts';
import { checkShape, fmtShape, opError, sizeOf, type Shape } from '../shape.ts';
import { wrapStorage } from '../dispatch.ts';
import { currentBackend, state } from '../engine.ts';
import { isTensor, Tensor, type NestedArray } from '../tensor.ts';

export type TensorLike = Tensor | number;
type Values = number | NestedArray | ArrayLike<number>;

function inferShape(op: string, v: unknown): number[] {
  if (typeof v === 'number') return [];
  if (ArrayBuffer.isView(v)) return [(v as unknown as ArrayLike<number>).length];
  if (!Array.isArray(v)) throw opError(op, `values must be a number, a (nested) array of numbers or a typed array, got ${describeValue(v)}`);
  if (v.length === 0) return [0];
  const inner = inferShape(op, v[0]);
  for (let i = 1; i < v.length; i++) {
    const s = inferShape(op, v[i]);
    if (s.length !== inner.length || s.some((d, k) => d !== inner[k])) {
      throw opError(op, `nested arrays are ragged: element 0 has shape ${fmtShape(inner)} but element ${i} has shape ${fmtShape(s)}; expected every row to have the same shape`);
    }
  }
  return [v.length, ...inner];
}

function flattenValues(op: string, v: unknown, out: Float64Array, offset: { i: number }): void {
  if (typeof v === 'number') out[offset.i++] = v;
  else if (ArrayBuffer.isView(v)) for (const x of v as unknown as Iterable<number>) out[offset.i++] = Number(x);
  else if (Array.isArray(v)) for (const x of v) flattenValues(op, x, out, offset);
  else throw opError(op, `values must be numbers, got ${describeValue(v)}`);
}

/** @internal A tensor on `backend` from flat float64/float32 values. */
export function fromFlat(backend: Backend, values: Float32Array | Float64Array, shape: Shape): Tensor {
  const n = sizeOf(shape);
  const s = backend.upload(values, n);
  if (state.tracer) state.tracer.uploaded(backend, s, values, n);
  return wrapStorage(backend, s, shape);
}

/**
 * A tensor from a number, nested arrays, or a flat typed array / array with `shape`.
 * IEEE special values (NaN, +-Infinity) are legitimate data here (masks) and are kept.
 */
export function tensor(values: Values, shape?: readonly number[]): Tensor {
  const op = 'tensor';
  const inferred = inferShape(op, values);
  const target = shape === undefined ? inferred : checkShape(op, shape);
  const n = sizeOf(inferred);
  checkSize(op, currentBackend(), n, 'values');
  if (sizeOf(target) !== n) {
    throw opError(op, `${n} values cannot fill shape ${fmtShape(target)} (${sizeOf(target)} elements); expected matching sizes`);
  }
  // typed float arrays go to the backend as they are (one copy), not element by element
  if (values instanceof Float32Array || values instanceof Float64Array) return fromFlat(currentBackend(), values, target);
  const flat = new Float64Array(n);
  flattenValues(op, values, flat, { i: 0 });
  return fromFlat(currentBackend(), flat, target);
}

export function scalar(value: number): Tensor {
  if (typeof value !== 'number') throw opError('scalar', `expected a number, got ${describeValue(value)}`);
  return tensor(value);
}

/**
 * The most elements a tensor may have on `backend`: 2^24 on the gpu.js backends (float32
 * index arithmetic), 2^31 - 1 on the reference backend (a Float64Array of 16 GiB).
 */
export function maxElements(backend: Backend): number {
  return backend.name === 'reference' ? 2 ** 31 - 1 : MAX_ELEMENTS;
}

/** Refuse a size the backend cannot hold, before anything is allocated. */
export function checkSize(op: string, backend: Backend, n: number, what: string): void {
  const max = maxElements(backend);
  if (!(n <= max)) {
    throw opError(op, `${what} has ${n} elements; expected at most ${max} on backend '${backend.name}'${backend.name === 'reference' ? '' : ' (2^24, the largest size gpu.js indexes exactly)'}`);
  }
}

/** A tensor of `shape` filled with `value`, on `backend`. */
function fullOn(op: string, backend: Backend, shape: readonly number[], value: number): Tensor {
  const s = checkShape(op, shape);
  if (typeof value !== 'number') throw opError(op, `fill value must be a number, got ${describeValue(value)}`);
  checkSize(op, backend, sizeOf(s), `shape ${fmtShape(s)}`);
  return fromFlat(backend, new Float64Array(sizeOf(s)).fill(value), s);
}

export const full = (shape: readonly number[], value: number): Tensor => fullOn('full', currentBackend(), shape, value);
export const zeros = (shape: readonly number[]): Tensor => fullOn('zeros', currentBackend(), shape, 0);
export const ones = (shape: readonly number[]): Tensor => fullOn('ones', currentBackend(), shape, 1);
// the *Like creators use the backend that holds `t`, whichever backend is current
const likeOn = (op: string, t: Tensor, value: number): Tensor => fullOn(op, t.live(op).backend, t.shape, value);
export const fullLike = (t: Tensor, value: number): Tensor => likeOn('fullLike', t, value);
export const zerosLike = (t: Tensor): Tensor => likeOn('zerosLike', t, 0);
export const onesLike = (t: Tensor): Tensor => likeOn('onesLike', t, 1);

/** @internal Create tensors on the backend that holds `t` (not the current one). */
export function onBackendOf<T>(t: Tensor, fn: (backend: Backend) => T): T {
  return fn(t.live('create').backend);
}

function checkFinite(op: string, names: string[], values: number[]): void {
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw opError(op, `${names[i]} must be a finite number, got ${typeof v === 'number' ? fmtValue(v) : describeValue(v)}`);
    }
  });
}

/** Values start, start+step, ... below stop (NumPy's arange). */
export function arange(start: number, stop?: number, step = 1): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  checkFinite('arange', ['start', 'stop', 'step'], [start, stop, step]);
  if (step === 0) throw opError('arange', 'step must be non-zero, got 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  checkSize('arange', currentBackend(), n, `arange(${start}, ${stop}, ${step})`);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = start + i * step;
  return fromFlat(currentBackend(), v, [n]);
}

/** `num` evenly spaced values from start to stop inclusive (NumPy's linspace). */
export function linspace(start: number, stop: number, num: number): Tensor {
  checkFinite('linspace', ['start', 'stop'], [start, stop]);
  if (!Number.isInteger(num) || num < 0) throw opError('linspace', `num must be a non-negative integer, got ${fmtValue(num)}`);
  checkSize('linspace', currentBackend(), num, `linspace(${start}, ${stop}, ${num})`);
  const v = new Float64Array(num);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) v[i] = start + i * step;
  if (num > 1) v[num - 1] = stop;
  return fromFlat(currentBackend(), v, [num]);
}

/**
 * @internal Turn numbers among op arguments into scalar tensors on the tensors' backend.
 * Returns the tensors and the temporaries the caller must dispose.
 */
export function asTensors(op: string, args: TensorLike[], names: string[]): { ts: Tensor[]; temps: Tensor[] } {
  const anchor = args.find(isTensor) as Tensor | undefined;
  const backend = anchor ? anchor.live(op).backend : currentBackend();
  const temps: Tensor[] = [];
  const ts = args.map((a, i) => {
    if (isTensor(a)) return a;
    if (typeof a !== 'number') {
      throw opError(op, `argument '${names[i]}' must be a Tensor or a number, got ${describeValue(a)}`);
    }
    const t = fromFlat(backend, Float64Array.of(a), []);
    temps.push(t);
    return t;
  });
  return { ts, temps };
}
