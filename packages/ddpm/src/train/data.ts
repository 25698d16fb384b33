// Data sources for the training loop and the seeded per-epoch shuffling. The cursor (epoch,
// position in the epoch's permutation) is part of the resumable state: the permutation of epoch e
// is a pure function of (key, e, size), so a resumed run draws exactly the batches it would have.

import { foldIn, threefry2x32, type RandomKey } from '@tapegrad/tensor';
import { ddpmError } from '../process/coef.ts';

/** A finite data set the loop draws batches from. */
export interface DataSource {
  /** Number of examples. */
  readonly size: number;
  /** Shape of one example, e.g. [2] for 2-D points or [1, 28, 28] for MNIST (C, H, W). */
  readonly shape: readonly number[];
  /** Number of classes when the examples have labels 0..numClasses-1 (class-conditional training). */
  readonly numClasses?: number;
  /**
   * The examples at `indices`, row-major: x has indices.length * prod(shape) values; labels (when
   * numClasses is set) one per index.
   */
  get(indices: Int32Array): { x: Float32Array; labels?: Int32Array };
}

/** Where the loop is in the data: the epoch and the position in that epoch's permutation. */
export interface DataCursor {
  epoch: number;
  index: number;
}

/** A DataSource over arrays in memory (x: size * prod(shape) values, row-major). */
export function arraySource(x: Float32Array | Float64Array, shape: readonly number[], labels?: Int32Array, numClasses?: number): DataSource {
  const fn = 'arraySource';
  const per = shape.reduce((a, b) => a * b, 1);
  if (!shape.length || shape.some((d) => !Number.isInteger(d) || d < 1)) throw ddpmError(fn, `shape must be positive integers, got [${shape.join(', ')}]`);
  if (x.length === 0 || x.length % per) throw ddpmError(fn, `x has ${x.length} values, not a positive multiple of prod(shape) = ${per} (shape [${shape.join(', ')}])`);
  const size = x.length / per;
  if (labels !== undefined) {
    if (labels.length !== size) throw ddpmError(fn, `labels has ${labels.length} entries but x holds ${size} examples`);
    if (numClasses === undefined) numClasses = labels.reduce((m, v) => Math.max(m, v), -1) + 1;
    const bad = labels.findIndex((v) => !(v >= 0 && v < numClasses!));
    if (bad >= 0) throw ddpmError(fn, `labels[${bad}] = ${labels[bad]} is outside [0, ${numClasses - 1}]`);
  }
  const data = x instanceof Float32Array ? x : Float32Array.from(x);
  return {
    size,
    shape: shape.slice(),
    numClasses: labels ? numClasses : undefined,
    get(indices) {
      const out = new Float32Array(indices.length * per);
      indices.forEach((i, k) => out.set(data.subarray(i * per, (i + 1) * per), k * per));
      return labels ? { x: out, labels: Int32Array.from(indices, (i) => labels[i]!) } : { x: out };
    },
  };
}

/** The permutation of 0..size-1 for `epoch` (Fisher-Yates with Threefry draws from foldIn(key, epoch)). */
export function epochPermutation(key: RandomKey, epoch: number, size: number): Int32Array {
  const [k0, k1] = foldIn(key, epoch).words;
  const p = Int32Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor((threefry2x32(k0, k1, i, 3)[0] / 2 ** 32) * (i + 1));
    const tmp = p[i]!; p[i] = p[j]!; p[j] = tmp;
  }
  return p;
}

/**
 * The next `batch` indices from the cursor, crossing into the next epoch (a new permutation)
 * when the current one runs out; returns them and the advanced cursor. `cache` keeps the
 * current epoch's permutation between calls.
 */
export function nextBatchIndices(
  key: RandomKey, size: number, cursor: DataCursor, batch: number,
  cache: { epoch: number; perm: Int32Array } | null = null,
): { indices: Int32Array; cursor: DataCursor; cache: { epoch: number; perm: Int32Array } } {
  const out = new Int32Array(batch);
  let { epoch, index } = cursor;
  let c = cache && cache.epoch === epoch ? cache : { epoch, perm: epochPermutation(key, epoch, size) };
  for (let k = 0; k < batch; k++) {
    if (index >= size) {
      epoch++;
      index = 0;
      c = { epoch, perm: epochPermutation(key, epoch, size) };
    }
    out[k] = c.perm[index++]!;
  }
  return { indices: out, cursor: { epoch, index }, cache: c };
}
