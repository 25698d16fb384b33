// Energy distance (Szekely & Rizzo) between two point clouds, host float64, O(n m) distances.

import { ddpmError } from '../process/coef.ts';
import { checkPoints } from './mmd.ts';

/** Mean Euclidean distance between the rows of a [na, dim] and b [nb, dim] (every pair, i = j included). */
function meanDist(a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number, dim: number): number {
  let s = 0;
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      let d2 = 0;
      for (let k = 0; k < dim; k++) {
        const d = a[i * dim + k]! - b[j * dim + k]!;
        d2 += d * d;
      }
      s += Math.sqrt(d2);
    }
  }
  return s / (na * nb);
}

/**
 * The energy distance sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|) with the expectations replaced by
 * means over all pairs (the V-statistic, never negative), as scipy.stats.energy_distance in 1-D.
 * Zero iff the two empirical distributions are equal. x, y: flat [n, dim] row-major.
 */
export function energyDistance(x: ArrayLike<number>, y: ArrayLike<number>, dim = 2): number {
  const fn = 'energyDistance';
  const [n, m] = checkPoints(fn, x, y, dim);
  const v = 2 * meanDist(x, n, y, m, dim) - meanDist(x, n, x, n, dim) - meanDist(y, m, y, m, dim);
  if (v < -1e-9 * (1 + Math.abs(v))) throw ddpmError(fn, `internal: negative squared distance ${v}`);
  return Math.sqrt(Math.max(0, v));
}
