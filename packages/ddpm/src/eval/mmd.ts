// Maximum mean discrepancy with a Gaussian (RBF) kernel, k(x, y) = exp(-|x - y|^2 / (2 h^2)),
// between two point clouds (host float64; O(n m) kernel evaluations).
import { opError } from '@tapegrad/tensor';

/** Check two flat [n, dim] point sets (whole points, at least one each, finite); returns [n, m]. */
export function checkPoints(fn: string, x: ArrayLike<number>, y: ArrayLike<number>, dim: number): [number, number] {
  if (!Number.isInteger(dim) || dim < 1) throw opError(fn, `dim must be an integer >= 1, got ${dim}`);
  if (x.length % dim || y.length % dim) throw opError(fn, `point arrays must hold whole ${dim}-D points, got lengths ${x.length} and ${y.length}`);
  const n = x.length / dim, m = y.length / dim;
  if (n < 1 || m < 1) throw opError(fn, `needs at least one point in each sample, got ${n} and ${m}`);
  for (const [name, arr] of [['x', x], ['y', y]] as const) {
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) throw opError(fn, `${name} has a non-finite coordinate ${arr[i]} at index ${i} (point ${Math.floor(i / dim)})`);
    }
  }
  return [n, m];
}

/** Mean of f(|a_i - b_j|^2) over every pair of rows of a [na, dim] and b [nb, dim] (i = j included). */
export function meanOverPairs(a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number, dim: number, f: (d2: number) => number): number {
  let s = 0;
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      let d2 = 0;
      for (let k = 0; k < dim; k++) {
        const d = a[i * dim + k]! - b[j * dim + k]!;
        d2 += d * d;
      }
      s += f(d2);
    }
  }
  return s / (na * nb);
}

/**
 * The biased (V-statistic) estimate of MMD (Gretton et al. 2012, eq. 5), returned as
 * MMD = sqrt(max(0, mean k(x, x') + mean k(y, y') - 2 mean k(x, y))). Unlike the unbiased
 * estimate it is never negative, so two samples of the same distribution give a small
 * positive "floor" that shrinks like 1/sqrt(n). x, y: flat [n, d] row-major.
 */
export function mmdRbf(x: ArrayLike<number>, y: ArrayLike<number>, bandwidth: number, dim = 2): number {
  if (!(bandwidth > 0) || !Number.isFinite(bandwidth)) throw opError('mmdRbf', `bandwidth must be a finite number > 0, got ${bandwidth}`);
  const [n, m] = checkPoints('mmdRbf', x, y, dim);
  const g = 1 / (2 * bandwidth * bandwidth);
  const mean = (a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number): number => meanOverPairs(a, na, b, nb, dim, (d2) => Math.exp(-g * d2));
  const v = mean(x, n, x, n) + mean(y, m, y, m) - 2 * mean(x, n, y, m);
  return Math.sqrt(Math.max(0, v));
}
