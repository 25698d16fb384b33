// Sample-quality metrics against closed forms: energy distance (hand-computed sets, Gaussian
// limit), the Frechet distance (1-D / diagonal / commuting / 2x2 closed forms), the Jacobi
// eigendecomposition (reconstruction, orthogonality), and bits/dim over a data source.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { randomKey } from '@tapegrad/tensor';
import { energyDistance } from '../src/eval/energy.ts';
import { featureStats, frechetDistance, frechetDistanceOfFeatures, sqrtPsd, symmetricEigen } from '../src/eval/frechet.ts';
import { bitsPerDim, boundStrata } from '../src/eval/bpd.ts';
import { hostNormal } from '../src/data/toy2d.ts';
import { arraySource } from '../src/train/data.ts';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { variationalBound } from '../src/process/vlb.ts';
import { deltaDenoiser } from './models.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

beforeAll(async () => {
  await T.setBackend('webasm');
});

const NORMAL_CDF = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
function erf(x: number): number { // Numerical Recipes erfc Chebyshev fit (fractional error < 1.2e-7)
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : -y;
}

describe('energyDistance', () => {
  it('matches hand-computed values (scipy.stats.energy_distance in 1-D)', () => {
    // x = {0, 1}, y = {0}: 2 * 0.5 - 0.5 - 0 = 0.5.
    expect(energyDistance([0, 1], [0], 1)).toBeCloseTo(Math.sqrt(0.5), 14);
    // Two point masses a, b: sqrt(2 |a - b|), in any dimension (distance 5 here).
    expect(energyDistance([0, 0], [3, 4], 2)).toBeCloseTo(Math.sqrt(10), 14);
    // x = {0, 2}, y = {1, 3}: E|X-Y| = (1+3+1+1)/4 = 1.5, E|X-X'| = 1, E|Y-Y'| = 1: 3 - 2 = 1.
    expect(energyDistance([0, 2], [1, 3], 1)).toBeCloseTo(1, 14);
  });

  it('is 0 for identical sets, symmetric, translation invariant, positive otherwise (property)', () => {
    const pts = fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 16 }).map((a) => (a.length % 2 ? a.slice(1) : a));
    fc.assert(fc.property(pts, pts, fc.double({ min: -3, max: 3, noNaN: true }), (x, y, shift) => {
      expect(energyDistance(x, x)).toBeLessThan(1e-6);
      // equal up to float64 summation order, compared squared: near 0 the square root
      // amplifies rounding (|E(x,y) - E(y,x)| reached 7e-11 for FC_SEED=430062841); an
      // asymmetric formula is off by O(0.01) in the square
      expect(Math.abs(energyDistance(x, y) ** 2 - energyDistance(y, x) ** 2)).toBeLessThan(1e-11);
      const xs = x.map((v) => v + shift), ys = y.map((v) => v + shift);
      expect(Math.abs(energyDistance(xs, ys) - energyDistance(x, y))).toBeLessThan(1e-6);
    }), { numRuns: fcRuns(100) });
  });

  it('approaches the closed form for N(0, 1) vs N(mu, 1)', () => {
    const n = 1500;
    const mu = 1;
    const x = hostNormal(randomKey(1), n);
    const y = hostNormal(randomKey(2), n).map((v) => v + mu);
    // X - Y ~ N(-mu, 2): E|X - Y| = s sqrt(2/pi) exp(-mu^2 / (2 s^2)) + mu (1 - 2 Phi(-mu/s)), s = sqrt(2); E|X - X'| = 2/sqrt(pi).
    const s = Math.SQRT2;
    const exy = s * Math.sqrt(2 / Math.PI) * Math.exp(-(mu * mu) / (2 * s * s)) + mu * (1 - 2 * NORMAL_CDF(-mu / s));
    const exact = Math.sqrt(2 * exy - 2 * (2 / Math.sqrt(Math.PI)));
    expect(Math.abs(energyDistance(x, y, 1) - exact)).toBeLessThan(0.05);
  });

  it('rejects bad input naming the problem', () => {
    expect(() => energyDistance([0, 1, 2], [0, 0], 2)).toThrow(/^energyDistance: point arrays must hold whole 2-D points/);
    expect(() => energyDistance([0, Infinity], [0, 0], 2)).toThrow(/^energyDistance: x has a non-finite coordinate Infinity at index 1/);
    expect(() => energyDistance([], [0, 0], 2)).toThrow(/at least one point/);
  });
});

/** A random symmetric PSD matrix G G^T (+ eps I) of size n from a flat array of n*n values. */
function psd(g: number[], n: number, eps = 0): number[] {
  const out = new Array<number>(n * n).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) out[i * n + j] += g[i * n + k]! * g[j * n + k]!;
    if (i === j) out[i * n + j] += eps;
  }
  return out;
}

describe('symmetricEigen / sqrtPsd', () => {
  it('A = V diag(values) V^T with V orthonormal; sqrtPsd(A)^2 = A (property, n <= 6)', () => {
    const mat = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n * n, maxLength: n * n })));
    fc.assert(fc.property(mat, ([n, g]) => {
      const a = psd(g, n, 0.01);
      const { values, vectors: V } = symmetricEigen(a, n);
      const scale = 1 + Math.max(...a.map(Math.abs));
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let rec = 0, orth = 0;
        for (let k = 0; k < n; k++) { rec += V[i * n + k]! * values[k]! * V[j * n + k]!; orth += V[k * n + i]! * V[k * n + j]!; }
        expect(Math.abs(rec - a[i * n + j]!)).toBeLessThan(1e-9 * scale);
        expect(Math.abs(orth - (i === j ? 1 : 0))).toBeLessThan(1e-10);
      }
      const s = sqrtPsd(a, n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let sq = 0;
        for (let k = 0; k < n; k++) sq += s[i * n + k]! * s[k * n + j]!;
        expect(Math.abs(sq - a[i * n + j]!)).toBeLessThan(1e-8 * scale);
      }
    }), { numRuns: fcRuns(60) });
  });

  it('rejects a non-symmetric or mis-sized matrix', () => {
    expect(() => symmetricEigen([1, 2, 3, 4], 2)).toThrow(/^symmetricEigen: the matrix is not symmetric: A\[1\]\[0\] = 3 but A\[0\]\[1\] = 2/);
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/^symmetricEigen: expected an n x n matrix/);
  });
});

describe('frechetDistance', () => {
  it('1-D and diagonal Gaussians: |mu1 - mu2|^2 + sum (s1 - s2)^2', () => {
    expect(frechetDistance([1], [4], [3], [9])).toBeCloseTo(4 + 1, 12);
    expect(frechetDistance([0, 1, 2], [1, 0, 0, 0, 4, 0, 0, 0, 0.25], [1, 1, 0], [9, 0, 0, 0, 1, 0, 0, 0, 1])).toBeCloseTo(1 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2 + (0.5 - 1) ** 2, 12);
  });

  it('commuting covariances R D R^T: the diagonal formula on their eigenvalues; any 2x2 pair: the trace formula (property)', () => {
    fc.assert(fc.property(
      fc.double({ min: 0, max: Math.PI, noNaN: true }),
      fc.array(fc.double({ min: 0.01, max: 4, noNaN: true }), { minLength: 4, maxLength: 4 }),
      fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 8, maxLength: 8 }),
      (th, d, g) => {
        const c = Math.cos(th), s = Math.sin(th);
        const rot = (a: number, b: number) => [c * c * a + s * s * b, c * s * (a - b), c * s * (a - b), s * s * a + c * c * b];
        const fd = frechetDistance([0, 0], rot(d[0]!, d[1]!), [0, 0], rot(d[2]!, d[3]!));
        expect(fd).toBeCloseTo((Math.sqrt(d[0]!) - Math.sqrt(d[2]!)) ** 2 + (Math.sqrt(d[1]!) - Math.sqrt(d[3]!)) ** 2, 9);
        // Non-commuting 2x2: tr sqrt(C1 C2) = sqrt(tr(C1 C2) + 2 sqrt(det C1 det C2)).
        const c1 = psd(g.slice(0, 4), 2, 0.01), c2 = psd(g.slice(4), 2, 0.01);
        const tr12 = c1[0]! * c2[0]! + c1[1]! * c2[2]! + c1[2]! * c2[1]! + c1[3]! * c2[3]!;
        const det = (m: number[]) => m[0]! * m[3]! - m[1]! * m[2]!;
        const exact = c1[0]! + c1[3]! + c2[0]! + c2[3]! - 2 * Math.sqrt(tr12 + 2 * Math.sqrt(Math.max(0, det(c1) * det(c2))));
        expect(Math.abs(frechetDistance([1, 2], c1, [1, 2], c2) - Math.max(0, exact))).toBeLessThan(1e-8 * (1 + tr12));
      },
    ), { numRuns: fcRuns(100) });
  });

  it('of feature sets: featureStats is numpy mean / cov (n - 1); identical sets give 0', () => {
    const f = [1, 2, 3, 5, 5, 11, 7, 2];
    const { mean, cov, n } = featureStats(f, 2);
    expect(n).toBe(4);
    expect(Array.from(mean)).toEqual([4, 5]);
    // x = 1,3,5,7 (var 20/3); y = 2,5,11,2 (var 54/3 = 18); cov = ((-3)(-3) + (-1)(0) + (1)(6) + (3)(-3))/3 = 2.
    expect(Array.from(cov).map((v) => +v.toFixed(12))).toEqual([20 / 3, 2, 2, 18].map((v) => +v.toFixed(12)));
    expect(frechetDistanceOfFeatures(f, f, 2)).toBeLessThan(1e-9);
    expect(() => featureStats([1, 2], 2)).toThrow(/^featureStats: needs at least 2 feature rows/);
    expect(() => frechetDistance([0], [1], [0, 0], [1])).toThrow(/^frechetDistance: expected means of one length d/);
  });
});

describe('bitsPerDim', () => {
  it('is the mean of variationalBound over the examples, batch by batch (limit, labels)', async () => {
    const sched = makeSchedule('linear', 10, { betaStart: 0.01, betaEnd: 0.3 });
    const c = [0.25, -0.5];
    const x = Float32Array.from({ length: 5 * 2 }, (_, i) => c[i % 2]!);
    const data = arraySource(x, [2], Int32Array.from([0, 1, 0, 1, 1]));
    const model = deltaDenoiser(sched, c, 'epsilon');
    const seen: number[][] = [];
    const spy: typeof model = (xt, t, cond) => { if (cond) seen.push(Array.from(cond.dataSync())); return model(xt, t); };
    const r = await bitsPerDim(spy, data, { schedule: sched, key: randomKey(4), batchSize: 2, limit: 5, labels: 'data' });
    expect(r.n).toBe(5);
    expect(seen[0]).toEqual([0, 1]);
    // By hand: batches [0, 1], [2, 3], [4] with keys foldIn(key, b).
    const expected: number[] = [];
    for (const [b, idx] of [[0, [0, 1]], [1, [2, 3]], [2, [4]]] as const) {
      const x0 = T.tensor(Float32Array.from(idx.flatMap((i) => [x[2 * i]!, x[2 * i + 1]!])), [idx.length, 2]);
      const vb = variationalBound(model, x0, { schedule: sched, key: T.foldIn(randomKey(4), b) });
      expected.push(...Array.from(await vb.total.data()));
      T.dispose([x0, vb]);
    }
    expect(Array.from(r.perExample)).toEqual(expected);
    expect(r.bitsPerDim).toBeCloseTo(expected.reduce((a, v) => a + v, 0) / 5, 12);
    const bad = await bitsPerDim((xt) => T.mul(xt, NaN), data, { schedule: sched, key: randomKey(4), limit: 2, clip: false }).catch((e) => e);
    expect(bad.message).toMatch(/^bitsPerDim: the bound of example 0 \(batch 0\) is NaN/);
    await expect(bitsPerDim(model, data, { schedule: sched, key: randomKey(4), limit: 9 })).rejects.toThrow(/^bitsPerDim: limit must be an integer in \[1, 5\], got 9/);
  });

  it('boundStrata cuts 1..T-1 into K-1 contiguous ranges of sizes differing by at most one', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 1000 }), fc.integer({ min: 2, max: 1000 }), (T_, k) => {
      const K = Math.min(k, T_);
      const s = boundStrata(T_, K);
      expect(s.length).toBe(K - 1);
      expect(s[0]!.lo).toBe(1);
      expect(s.at(-1)!.hi).toBe(T_);
      for (let i = 1; i < s.length; i++) expect(s[i]!.lo).toBe(s[i - 1]!.hi);
      const sizes = s.map((r) => r.hi - r.lo);
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }), { numRuns: fcRuns(200) });
  });

  it('timesteps K < T: the prior, the t = 0 term and one t per stratum weighted by its size, with the exact bound\'s noise', async () => {
    const sched = makeSchedule('linear', 12, { betaStart: 0.01, betaEnd: 0.3 });
    const c = [0.25, -0.5];
    const x = Float32Array.from({ length: 3 * 2 }, (_, i) => c[i % 2]! + 0.1 * i);
    const data = arraySource(x, [2]);
    const calls: number[][] = [];
    const model = deltaDenoiser(sched, c, 'epsilon', calls, 3); // shifted: an imperfect model, so every term is non-zero
    const K = 4;
    const r = await bitsPerDim(model, data, { schedule: sched, key: randomKey(9), batchSize: 3, timesteps: K });
    expect(calls.length).toBe(K);
    const picked = calls.map((c) => c[0]!);
    expect(calls.every((c) => c.every((v) => v === c[0]))).toBe(true); // one t per batch
    expect(picked[0]).toBe(0);
    const strata = boundStrata(12, K);
    strata.forEach((s, k) => { expect(picked[k + 1]).toBeGreaterThanOrEqual(s.lo); expect(picked[k + 1]).toBeLessThan(s.hi); });
    const x0 = T.tensor(x, [3, 2]);
    const vb = variationalBound(deltaDenoiser(sched, c, 'epsilon', undefined, 3), x0, { schedule: sched, key: T.foldIn(randomKey(9), 0) });
    const terms = await vb.terms.data(), prior = await vb.prior.data();
    T.dispose([x0, vb]);
    for (let i = 0; i < 3; i++) {
      let e = prior[i]! + terms[i * 12]!;
      strata.forEach((s, k) => { e += (s.hi - s.lo) * terms[i * 12 + picked[k + 1]!]!; });
      expect(r.perExample[i]).toBeCloseTo(e, 4);
    }
    // every t of 1..T-1 is drawn by some key (uniform within its stratum)
    const seen = new Set<number>();
    for (let k = 0; k < 60; k++) {
      calls.length = 0;
      await bitsPerDim(model, data, { schedule: sched, key: randomKey(100 + k), batchSize: 3, timesteps: K });
      for (const c of calls.slice(1)) seen.add(c[0]!);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    await expect(bitsPerDim(model, data, { schedule: sched, key: randomKey(4), timesteps: 1 })).rejects.toThrow(/^bitsPerDim: timesteps must be an integer in \[2, 12\]/);
    await expect(bitsPerDim(model, data, { schedule: sched, key: randomKey(4), timesteps: 13 })).rejects.toThrow(/^bitsPerDim: timesteps must be an integer in \[2, 12\]/);
  });
});
