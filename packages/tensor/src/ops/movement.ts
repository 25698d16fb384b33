// Shape and data movement: reshape (a view), transpose, broadcastTo, slice, concat, stack,
// pad, gather / scatterAdd, oneHot, flatten, expandDims, squeeze.

import { fmtValue } from '../errors.ts';
import {
  broadcastShapes, checkPerm, checkShape, fmtShape, normalizeAxis, normalizeAxes, opError, shapesEqual, sizeOf,
} from '../shape.ts';
import { runPrimitive, runView } from '../dispatch.ts';
import { tidy } from '../scope.ts';
import { isTensor, type Tensor } from '../tensor.ts';
import { fromFlat, onBackendOf, tensor } from './creation.ts';
import { equal } from './elementwise.ts';

/** Same data, new shape (one dimension may be -1). Shares the buffer: no copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'reshape';
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= -1)) {
    throw opError(op, `shape must be integers >= -1, got ${fmtValue(shape)}`);
  }
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) throw opError(op, `at most one dimension may be -1, got ${fmtShape(shape)}`);
  let target = shape.slice();
  if (unknown === 1) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) {
      throw opError(op, `cannot infer the -1 dimension of ${fmtShape(shape)} for ${x.size} elements (input shape ${fmtShape(x.shape)})`);
    }
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (sizeOf(target) !== x.size) {
    throw opError(op, `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(target)} (${sizeOf(target)} elements); expected the same number of elements`);
  }
  return runView(op, x, target, { shape: target });
}

export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.size]);
}

/** Insert a size-1 dimension at `axis` (in [-rank-1, rank]). */
export function expandDims(x: Tensor, axis = 0): Tensor {
  const a = normalizeAxis('expandDims', axis, x.rank + 1);
  const s = x.shape.slice();
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Remove size-1 dimensions (all of them, or the given axes, which must have size 1). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax = axes === undefined ? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normalizeAxes('squeeze', axes, x.rank);
  for (const a of ax) {
    if (x.shape[a] !== 1) throw opError('squeeze', `axis ${a} of shape ${fmtShape(x.shape)} has size ${x.shape[a]}; expected size 1`);
  }
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

/** Permute axes (default: reverse them). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm === undefined ? x.shape.map((_, i) => x.rank - 1 - i) : checkPerm('transpose', perm, x.rank);
  const out = p.map((a) => x.shape[a]);
  return runPrimitive('transpose', [x], out, { perm: p }, (b, [s]) => b.transpose(s, x.shape, p, out));
}

/** Copy x into `shape` by NumPy broadcasting. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'broadcastTo';
  const target = checkShape(op, shape);
  const ok = (() => {
    try {
      return target.length >= x.rank && shapesEqual(broadcastShapes(op, x.shape, target), target);
    } catch {
      return false;
    }
  })();
  if (!ok) throw opError(op, `cannot broadcast shape ${fmtShape(x.shape)} to ${fmtShape(target)}; expected each dimension to match or be 1`);
  return runPrimitive(op, [x], target, { shape: target }, (b, [s]) => b.broadcastTo(s, x.shape, target));
}

/**
 * TensorFlow.js-style slice: `begin` (negative counts from the end), `size` (-1: to the
 * end), optional positive `step`. A number applies to the first axis.
 */
export function slice(x: Tensor, begin: number | readonly number[], size?: number | readonly number[], step?: readonly number[]): Tensor {
  const op = 'slice';
  const r = x.rank;
  const b0 = typeof begin === 'number' ? [begin] : Array.from(begin);
  const s0 = size === undefined ? [] : typeof size === 'number' ? [size] : Array.from(size);
  const st0 = step === undefined ? [] : Array.from(step);
  if (b0.length > r || s0.length > r || st0.length > r) {
    throw opError(op, `begin ${fmtValue(b0)} / size ${fmtValue(s0)} / step ${fmtValue(st0)} have more entries than the rank ${r} of ${fmtShape(x.shape)}`);
  }
  const bg: number[] = [];
  const sz: number[] = [];
  const stp: number[] = [];
  for (let k = 0; k < r; k++) {
    const d = x.shape[k];
    let b = b0[k] ?? 0;
    const s = st0[k] ?? 1;
    if (!Number.isInteger(s) || s < 1) throw opError(op, `step ${s} on axis ${k} must be a positive integer`);
    if (!Number.isInteger(b) || b < -d || b > d) throw opError(op, `begin ${b} on axis ${k} is out of range for size ${d} (shape ${fmtShape(x.shape)})`);
    if (b < 0) b += d;
    const avail = Math.ceil((d - b) / s);
    let n = s0[k] ?? -1;
    if (n === -1) n = avail;
    if (!Number.isInteger(n) || n < 0 || n > avail) {
      throw opError(op, `size ${s0[k]} on axis ${k} does not fit: begin ${b}, step ${s}, dimension ${d} (shape ${fmtShape(x.shape)}); expected at most ${avail} or -1`);
    }
    bg.push(b);
    sz.push(n);
    stp.push(s);
  }
  return runPrimitive(op, [x], sz, { begin: bg, size: sz, step: stp }, (be, [s]) => be.slice(s, x.shape, bg, sz, stp, sz));
}

/** Join tensors along an existing axis; all other dimensions must agree. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const op = 'concat';
  if (!Array.isArray(xs) || xs.length === 0 || !xs.every(isTensor)) throw opError(op, 'expected a non-empty array of tensors');
  const r = xs[0].rank;
  if (r === 0) throw opError(op, 'cannot concatenate scalars; expected tensors of rank >= 1 (use stack)');
  const a = normalizeAxis(op, axis, r);
  for (const t of xs) {
    const same = t.rank === r && t.shape.every((d, i) => i === a || d === xs[0].shape[i]);
    if (!same) {
      throw opError(op, `shapes ${xs.map((u) => fmtShape(u.shape)).join(', ')} differ outside axis ${a}; expected equal dimensions except along the axis`);
    }
  }
  const out = xs[0].shape.slice();
  out[a] = xs.reduce((s, t) => s + t.shape[a], 0);
  const shapes = xs.map((t) => t.shape);
  return runPrimitive(op, xs.slice(), out, { axis: a, sizes: shapes.map((s) => s[a]) }, (b, ss) => b.concat(ss, shapes, a, out));
}

/** Join tensors of equal shape along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0 || !xs.every(isTensor)) throw opError('stack', 'expected a non-empty array of tensors');
  for (const t of xs) {
    if (!shapesEqual(t.shape, xs[0].shape)) {
      throw opError('stack', `shapes ${xs.map((u) => fmtShape(u.shape)).join(', ')} differ; expected equal shapes`);
    }
  }
  const a = normalizeAxis('stack', axis, xs[0].rank + 1);
  return tidy(() => concat(xs.map((t) => expandDims(t, a)), a));
}

/** Constant padding: `pads[k] = [before, after]` for every axis. */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const op = 'pad';
  const ok = Array.isArray(pads) && pads.length === x.rank && pads.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0));
  if (!ok) throw opError(op, `pads ${fmtValue(pads)} must give [before, after] non-negative integers for each of the ${x.rank} axes of ${fmtShape(x.shape)}`);
  if (typeof value !== 'number') throw opError(op, `value must be a number, got ${typeof value}`);
  const p = pads.map((q) => [q[0], q[1]] as [number, number]);
  const out = x.shape.map((d, k) => d + p[k][0] + p[k][1]);
  return runPrimitive(op, [x], out, { pads: p, value }, (b, [s]) => b.pad(s, x.shape, p, value, out));
}

/**
 * @internal The index check of gather / scatterAdd: every value an integer in [0, n). Also
 * what a compiled step (@tapegrad/compile) runs on an index argument at every replay.
 */
export function checkIndexValues(op: string, v: ArrayLike<number>, n: number): void {
  for (let k = 0; k < v.length; k++) {
    const i = v[k];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw opError(op, `index ${i} at position ${k} is not an integer in [0, ${n})`);
  }
}

/** Check indices (host array or tensor) are integers in [0, n) and return them as a tensor. */
function indexTensor(op: string, like: Tensor, indices: Tensor | readonly number[], n: number): { idx: Tensor; temp: boolean } {
  if (isTensor(indices)) {
    const ref = indices.live(op);
    if (ref.backend.downloadSync) checkIndexValues(op, ref.backend.downloadSync(ref.storage, indices.size), n);
    return { idx: indices, temp: false };
  }
  if (!Array.isArray(indices) && !ArrayBuffer.isView(indices)) throw opError(op, 'indices must be a tensor or an array of integers');
  const arr = Float64Array.from(indices as ArrayLike<number>);
  checkIndexValues(op, arr, n);
  return { idx: onBackendOf(like, (b) => fromFlat(b, arr, [arr.length])), temp: true };
}

/**
 * Rows of `x` along `axis` picked by `indices`: output shape is
 * x.shape[:axis] + indices.shape + x.shape[axis+1:]. Indices are validated on the host
 * where the backend can read them synchronously (not for webgpu tensors).
 */
export function gather(x: Tensor, indices: Tensor | readonly number[], axis = 0): Tensor {
  const op = 'gather';
  const a = normalizeAxis(op, axis, x.rank);
  const { idx, temp } = indexTensor(op, x, indices, x.shape[a]);
  try {
    const nI = idx.size;
    const flatShape = [...x.shape.slice(0, a), nI, ...x.shape.slice(a + 1)];
    const outShape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
    const g = runPrimitive(op, [x, idx], flatShape, { axis: a }, (b, [s, si]) => b.gather(s, x.shape, si, nI, a, flatShape));
    if (shapesEqual(flatShape, outShape)) return g;
    try {
      return reshape(g, outShape);
    } finally {
      g.dispose();
    }
  } finally {
    if (temp) idx.dispose();
  }
}

/**
 * The transpose of gather along `axis` with 1-D indices: an output with `dimSize` rows
 * along `axis`, row d the sum of the rows of `g` whose index is d.
 */
export function scatterAdd(g: Tensor, indices: Tensor | readonly number[], axis: number, dimSize: number): Tensor {
  const op = 'scatterAdd';
  const a = normalizeAxis(op, axis, g.rank);
  if (!Number.isInteger(dimSize) || dimSize < 0) throw opError(op, `dimSize must be a non-negative integer, got ${dimSize}`);
  const { idx, temp } = indexTensor(op, g, indices, dimSize);
  try {
    if (idx.size !== g.shape[a]) {
      throw opError(op, `${idx.size} indices for axis ${a} of size ${g.shape[a]} (shape ${fmtShape(g.shape)}); expected one index per row`);
    }
    const out = g.shape.slice();
    out[a] = dimSize;
    return runPrimitive(op, [g, idx], out, { axis: a, dimSize }, (b, [s, si]) => b.scatterAdd(s, g.shape, si, idx.size, a, dimSize, out));
  } finally {
    if (temp) idx.dispose();
  }
}

/** One-hot rows of length `depth` (all-zero for indices outside [0, depth)). */
export function oneHot(indices: Tensor | readonly number[], depth: number): Tensor {
  if (!Number.isInteger(depth) || depth < 1) throw opError('oneHot', `depth must be a positive integer, got ${depth}`);
  return tidy(() => {
    const idx = isTensor(indices) ? indices : tensor(Array.from(indices as ArrayLike<number>));
    const classes = onBackendOf(idx, (b) => fromFlat(b, Float64Array.from({ length: depth }, (_, i) => i), [depth]));
    return equal(expandDims(idx, -1), classes);
  });
}
