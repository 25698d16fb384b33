// Energy distance (Szekely & Rizzo) between two point clouds, host float64, O(n m) distances.

import { opError } from '@tapegrad/tensor';
import { checkPoints, meanOverPairs } from './mmd.ts';

/** Mean Euclidean distance between the rows of a [na, dim] and b [nb, dim] (every pair, i = j included). */
const meanDist = (a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number, dim: number): number => meanOverPairs(a, na, b, nb, dim, Math.sqrt);

/**
 * The energy distance sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|) with the expectations replaced by
 * means over all pairs (the V-statistic, never negative), as scipy.stats.energy_distance in 1-D.
 * Zero iff the two empirical distributions are equal. x, y: flat [n, dim] row-major.
 */
export function energyDistance(x: ArrayLike<number>, y: ArrayLike<number>, dim = 2): number {
  const fn = 'energyDistance';
  const [n, m] = checkPoints(fn, x, y, dim);
  const v = 2 * meanDist(x, n, y, m, dim) - meanDist(x, n, x, n, dim) - meanDist(y, m, y, m, dim);
  if (v < -1e-9 * (1 + Math.abs(v))) throw opError(fn, `internal: negative squared distance ${v}`);
  return Math.sqrt(Math.max(0, v));
}
