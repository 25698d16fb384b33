// Frechet distance between Gaussians fitted to two feature sets (FID's formula, Heusel et al.
// 2017; pytorch-fid's calculate_frechet_distance), all in float64 on the host:
//   d^2 = |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)
// The matrix square roots come from a symmetric eigendecomposition (cyclic Jacobi), exact for
// PSD matrices up to rounding and fine for feature dimensions up to a few hundred.

import { ddpmError } from '../process/coef.ts';

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major): A = V diag(values) V^T, the
 * columns of V (row-major n x n) orthonormal. Cyclic Jacobi rotations until the off-diagonal
 * mass is below 1e-30 of the total (or 100 sweeps).
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const fn = 'symmetricEigen';
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) throw ddpmError(fn, `expected an n x n matrix (n = ${n}) of ${n * n} values, got ${a.length}`);
  const A = Float64Array.from(a);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const d = Math.abs(A[i * n + j]! - A[j * n + i]!);
      if (!(d <= 1e-9 * (1 + Math.abs(A[i * n + j]!)))) throw ddpmError(fn, `the matrix is not symmetric: A[${i}][${j}] = ${A[i * n + j]} but A[${j}][${i}] = ${A[j * n + i]}`);
    }
  }
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += A[i]! * A[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += 2 * A[i * n + j]! * A[i * n + j]!;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const app = A[p * n + p]!, aqq = A[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // A <- A J (columns p, q)
          const akp = A[k * n + p]!, akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // A <- J^T A (rows p, q)
          const apk = A[p * n + k]!, aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) { // V <- V J
          const vkp = V[k * n + p]!, vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = Float64Array.from({ length: n }, (_, i) => A[i * n + i]!);
  return { values, vectors: V };
}

/** The PSD square root of a symmetric PSD matrix (negative rounding-level eigenvalues clamped to 0). */
export function sqrtPsd(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]!));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = V[i * n + k]! * s;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * V[j * n + k]!;
    }
  }
  return out;
}

/** Mean and covariance (n - 1 normalisation, as numpy.cov / pytorch-fid) of n feature rows of dimension d. */
export function featureStats(features: ArrayLike<number>, d: number): { mean: Float64Array; cov: Float64Array; n: number } {
  const fn = 'featureStats';
  if (!Number.isInteger(d) || d < 1 || features.length % d) throw ddpmError(fn, `features must hold whole rows of dimension ${d}, got ${features.length} values`);
  const n = features.length / d;
  if (n < 2) throw ddpmError(fn, `needs at least 2 feature rows for a covariance, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < features.length; i++) {
    const v = features[i]!;
    if (!Number.isFinite(v)) throw ddpmError(fn, `feature ${i % d} of row ${Math.floor(i / d)} is ${v}; expected finite values`);
    mean[i % d] += v / n;
  }
  const cov = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      const di = features[r * d + i]! - mean[i]!;
      for (let j = i; j < d; j++) cov[i * d + j] += di * (features[r * d + j]! - mean[j]!);
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      cov[i * d + j] /= n - 1;
      cov[j * d + i] = cov[i * d + j]!;
    }
  }
  return { mean, cov, n };
}

/**
 * The Frechet distance d^2 = |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2) between
 * N(mu1, C1) and N(mu2, C2) (FID reports this squared distance). C1^1/2 C2 C1^1/2 is symmetric
 * PSD and has the eigenvalues of C1 C2, so its trace square root is scipy.linalg.sqrtm(C1 C2)'s trace.
 */
export function frechetDistance(mu1: ArrayLike<number>, cov1: ArrayLike<number>, mu2: ArrayLike<number>, cov2: ArrayLike<number>): number {
  const fn = 'frechetDistance';
  const d = mu1.length;
  if (mu2.length !== d || cov1.length !== d * d || cov2.length !== d * d) {
    throw ddpmError(fn, `expected means of one length d and d x d covariances, got ${mu1.length}, ${mu2.length}, ${cov1.length}, ${cov2.length} values`);
  }
  let dm = 0;
  for (let i = 0; i < d; i++) dm += (mu1[i]! - mu2[i]!) ** 2;
  const s1 = sqrtPsd(cov1, d);
  // M = S1 C2 S1
  const tmp = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) { const a = s1[i * d + k]!; if (a) for (let j = 0; j < d; j++) tmp[i * d + j] += a * cov2[k * d + j]!; }
  const M = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) { const a = tmp[i * d + k]!; if (a) for (let j = 0; j < d; j++) M[i * d + j] += a * s1[k * d + j]!; }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) { const avg = (M[i * d + j]! + M[j * d + i]!) / 2; M[i * d + j] = avg; M[j * d + i] = avg; }
  const { values } = symmetricEigen(M, d);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(0, v));
  let tr = 0;
  for (let i = 0; i < d; i++) tr += cov1[i * d + i]! + cov2[i * d + i]!;
  return Math.max(0, dm + tr - 2 * trSqrt);
}

/** Frechet distance between the Gaussians fitted (featureStats) to two feature sets of dimension d. */
export function frechetDistanceOfFeatures(a: ArrayLike<number>, b: ArrayLike<number>, d: number): number {
  const x = featureStats(a, d), y = featureStats(b, d);
  return frechetDistance(x.mean, x.cov, y.mean, y.cov);
}
