// Shape arithmetic shared by every op and backend: sizes, strides, NumPy broadcasting,
// axis normalisation. The error constructor and the shape formatter live in errors.ts
// (re-exported here for the backends).

import { fmtShape, fmtValue, opError } from './errors.ts';

export { fmtShape, opError };

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw opError(op, `shape must be an array of non-negative integers, got ${fmtValue(shape)}`);
  }
  return shape.slice();
}

/** NumPy broadcasting of any number of shapes; throws naming the op and all shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw opError(
          op,
          `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together ` +
            `(dimension ${j - rank} is ${out[j]} vs ${d}); expected equal sizes or 1`,
        );
      }
    }
  }
  return out;
}

/**
 * Strides that read a tensor of `shape` as if it had `outShape` (broadcast): 0 where the
 * tensor's dimension is 1 (or missing), the ordinary stride otherwise.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, j) => {
    const i = j - off;
    return i < 0 || shape[i] === 1 ? 0 : st[i];
  });
}

export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1) || (rank === 0 && axis !== 0 && axis !== -1)) {
    throw opError(op, `axis ${axis} is out of range for a tensor of rank ${rank}; expected an integer in [${-rank}, ${rank - 1}]`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Sorted unique non-negative axes; `undefined` means all axes. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : Array.from(axes);
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw opError(op, `axis ${a} is out of range for a tensor of rank ${rank}; expected integers in [${-rank}, ${rank - 1}]`);
    }
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw opError(op, `axes ${fmtValue(list)} contain a duplicate`);
  return out.sort((a, b) => a - b);
}

export function checkPerm(op: string, perm: readonly number[], rank: number): number[] {
  const p = perm.map((a) => (Number.isInteger(a) && a < 0 ? a + rank : a));
  const ok = p.length === rank && p.every((a) => Number.isInteger(a) && a >= 0 && a < rank) && new Set(p).size === rank;
  if (!ok) throw opError(op, `perm ${fmtValue(perm)} is not a permutation of the ${rank} axes of the input`);
  return p;
}

/**
 * Merge adjacent output dimensions that every operand walks contiguously (or all
 * broadcast), so that `[64,32,28,28] + [64,32,28,28]` becomes a rank-1 loop and a bias
 * `[1,32,1,1]` add becomes rank 3. Returns the merged shape and per-operand strides.
 * Size-1 dimensions are dropped first (their stride never matters).
 */
export function coalesce(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  let outShape = keep.map((i) => shape[i]);
  let outStr = strides.map((st) => keep.map((i) => st[i]));
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  const mShape = [outShape[outShape.length - 1]];
  const mStr = outStr.map((st) => [st[st.length - 1]]);
  for (let i = outShape.length - 2; i >= 0; i--) {
    const inner = mShape[0];
    const mergeable = outStr.every((st, k) => st[i] === mStr[k][0] * inner);
    if (mergeable) {
      mShape[0] *= outShape[i];
    } else {
      mShape.unshift(outShape[i]);
      outStr.forEach((st, k) => mStr[k].unshift(st[i]));
    }
  }
  outShape = mShape;
  outStr = mStr;
  return { shape: outShape, strides: outStr };
}
