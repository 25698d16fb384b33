// Maximum mean discrepancy with a Gaussian (RBF) kernel, k(x, y) = exp(-|x - y|^2 / (2 h^2)),
// between two 2-D point clouds (host float64; O(n m) kernel evaluations).

/**
 * The biased (V-statistic) estimate of MMD (Gretton et al. 2012, eq. 5), returned as
 * MMD = sqrt(max(0, mean k(x, x') + mean k(y, y') - 2 mean k(x, y))). Unlike the unbiased
 * estimate it is never negative, so two samples of the same distribution give a small
 * positive "floor" that shrinks like 1/sqrt(n). x, y: flat [n, d] row-major.
 */
export function mmdRbf(x: ArrayLike<number>, y: ArrayLike<number>, bandwidth: number, dim = 2): number {
  if (!(bandwidth > 0)) throw new Error(`mmdRbf: bandwidth must be > 0, got ${bandwidth}`);
  if (x.length % dim || y.length % dim) throw new Error(`mmdRbf: point arrays must hold whole ${dim}-D points, got lengths ${x.length} and ${y.length}`);
  const n = x.length / dim, m = y.length / dim;
  if (n < 1 || m < 1) throw new Error('mmdRbf: needs at least one point in each sample');
  const g = 1 / (2 * bandwidth * bandwidth);
  const mean = (a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number): number => {
    let s = 0;
    for (let i = 0; i < na; i++) {
      for (let j = 0; j < nb; j++) {
        let d2 = 0;
        for (let k = 0; k < dim; k++) {
          const d = a[i * dim + k]! - b[j * dim + k]!;
          d2 += d * d;
        }
        s += Math.exp(-g * d2);
      }
    }
    return s / (na * nb);
  };
  for (const arr of [x, y]) {
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) throw new Error(`mmdRbf: non-finite coordinate ${arr[i]} at index ${i}`);
    }
  }
  const v = mean(x, n, x, n) + mean(y, m, y, m) - 2 * mean(x, n, y, m);
  return Math.sqrt(Math.max(0, v));
}
