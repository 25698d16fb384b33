// fast-check properties of the tensor forward process and parameterizations (webasm float32, and
// float64 on the reference backend in the reference project of vitest.workspace.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { makeSchedule, type ScheduleKind } from '../src/schedule/schedule.ts';
import { epsFromV, epsFromX0, predictionTarget, predictionToX0Eps, qSample, vFromX0Eps, x0FromEps, x0FromV } from '../src/process/forward.ts';
import { dpmSolverPlusPlusCoefficients, ddimStep, dpmSolverPlusPlusStep, eulerStep, ddpmStep } from '../src/sampling/steps.ts';
import { ddimCoefficients } from '../src/f64/formulas.ts';
import { TEST_BACKEND, tol } from './backend.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

const schedules = Object.fromEntries((['linear', 'cosine', 'scaled_linear', 'sigmoid'] as ScheduleKind[]).map((k) => [k, makeSchedule(k, 1000)]));
const kind = fc.constantFrom<ScheduleKind>('linear', 'cosine', 'scaled_linear', 'sigmoid');

beforeAll(async () => {
  await T.setBackend(TEST_BACKEND);
});

function read(fn: () => T.Tensor): Float32Array | Float64Array {
  const t = T.tidy(fn);
  try {
    return t.dataSync();
  } finally {
    t.dispose();
  }
}

describe('qSample moments', () => {
  it('over many draws, x_t has mean sqrt(ab) x0 and variance 1 - ab (per sample, per t)', () => {
    fc.assert(fc.property(kind, fc.integer({ min: 0, max: 999 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.nat({ max: 1e6 }), (k, t, x0v, seed) => {
      const s = schedules[k]!;
      const N = 4096;
      const v = read(() => qSample(s, T.full([N, 1], x0v), t, T.randomNormal(T.randomKey(seed), [N, 1])));
      let m = 0;
      for (const x of v) m += x;
      m /= N;
      let q = 0;
      for (const x of v) q += (x - m) ** 2;
      q /= N - 1;
      const ab = s.alphasCumprod[t]!;
      const sd = Math.sqrt(1 - ab);
      // 5 standard errors: mean se = sd/sqrt(N); variance se = var sqrt(2/(N-1))
      expect(Math.abs(m - Math.sqrt(ab) * x0v)).toBeLessThan(5 * sd / Math.sqrt(N) + 1e-6);
      expect(Math.abs(q - (1 - ab))).toBeLessThan(5 * (1 - ab) * Math.sqrt(2 / (N - 1)) + 1e-6);
    }), { numRuns: fcRuns(25) });
  });
  it('per-sample timesteps gather per-sample coefficients', () => {
    fc.assert(fc.property(kind, fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 16 }), (k, ts) => {
      const s = schedules[k]!;
      const B = ts.length;
      const x0 = Array.from({ length: B }, (_, i) => [0.1 * i - 0.5, 1]);
      const eps = Array.from({ length: B }, (_, i) => [0.3, -0.05 * i]);
      const v = read(() => qSample(s, T.tensor(x0), ts, T.tensor(eps)));
      ts.forEach((t, i) => {
        const a = s.sqrtAlphasCumprod[t]!, b = s.sqrtOneMinusAlphasCumprod[t]!;
        for (let j = 0; j < 2; j++) expect(Math.abs(v[2 * i + j]! - (a * x0[i]![j]! + b * eps[i]![j]!))).toBeLessThan(tol(1e-6, 1e-10));
      });
    }), { numRuns: fcRuns(30) });
  });
});

describe('eps / x0 / v conversions are mutual inverses', () => {
  const ab = fc.double({ min: 1e-4, max: 0.9999, noNaN: true });
  const val = fc.double({ min: -4, max: 4, noNaN: true });
  it('(x0, eps) -> x_t, v -> back, through every prediction type', () => {
    fc.assert(fc.property(ab, fc.array(fc.tuple(val, val), { minLength: 1, maxLength: 8 }), (a, pairs) => {
      const x0v = pairs.map((p) => [p[0]]), epsv = pairs.map((p) => [p[1]]);
      // float32: x0 from eps divides by sqrt(ab); allow for the amplification of rounding errors
      const tol = 2e-6 * (1 + 8 / Math.sqrt(a) + 8 / Math.sqrt(1 - a));
      for (const p of ['epsilon', 'sample', 'v_prediction'] as const) {
        const r = read(() => {
          const x0 = T.tensor(x0v), eps = T.tensor(epsv);
          const xt = T.add(T.mul(x0, Math.sqrt(a)), T.mul(eps, Math.sqrt(1 - a)));
          const out = predictionTarget(p, x0, eps, a);
          const back = predictionToX0Eps(p, xt, out, a);
          return T.concat([back.x0, back.eps], 1);
        });
        pairs.forEach(([x, e], i) => {
          expect(Math.abs(r[2 * i]! - x), `${p} x0`).toBeLessThan(tol);
          expect(Math.abs(r[2 * i + 1]! - e), `${p} eps`).toBeLessThan(tol);
        });
      }
      const r2 = read(() => {
        const x0 = T.tensor(x0v), eps = T.tensor(epsv);
        const xt = T.add(T.mul(x0, Math.sqrt(a)), T.mul(eps, Math.sqrt(1 - a)));
        const v = vFromX0Eps(x0, eps, a);
        return T.concat([x0FromV(xt, v, a), epsFromV(xt, v, a), x0FromEps(xt, eps, a), epsFromX0(xt, x0, a)], 1);
      });
      pairs.forEach(([x, e], i) => {
        expect(Math.abs(r2[4 * i]! - x)).toBeLessThan(tol);
        expect(Math.abs(r2[4 * i + 1]! - e)).toBeLessThan(tol);
        expect(Math.abs(r2[4 * i + 2]! - x)).toBeLessThan(tol);
        expect(Math.abs(r2[4 * i + 3]! - e)).toBeLessThan(tol);
      });
    }), { numRuns: fcRuns(40) });
  });
});

describe('one-step identities between the samplers', () => {
  const ab = fc.double({ min: 1e-3, max: 0.999, noNaN: true });
  it('first-order DPM-Solver++ = DDIM (eta 0) = Euler, for any pair of noise levels', () => {
    fc.assert(fc.property(ab, ab, (p, q) => {
      const [abS, abT] = p < q ? [p, q] : [q, p];
      if (abS === abT) return;
      const x = T.tensor([[0.3, -1.2, 2]]), x0 = T.tensor([[0.5, -0.1, 0.9]]);
      const r = read(() => {
        const eps = epsFromX0(x, x0, abS);
        return T.concat([
          ddimStep({ x0, eps, alphaBarT: abS, alphaBarPrev: abT }),
          dpmSolverPlusPlusStep({ x, x0, alphaBarS0: abS, alphaBarT: abT }),
          eulerStep({ x, x0, alphaBarS: abS, alphaBarT: abT }),
        ], 0);
      });
      T.dispose([x, x0]);
      for (let j = 0; j < 3; j++) {
        expect(Math.abs(r[j]! - r[3 + j]!)).toBeLessThan(2e-5 * (1 + Math.abs(r[j]!)));
        expect(Math.abs(r[j]! - r[6 + j]!)).toBeLessThan(2e-5 * (1 + Math.abs(r[j]!)));
      }
    }), { numRuns: fcRuns(40) });
  });
  it('DPM-Solver++(2M) coefficients equal diffusers\' lambda-form expressions', () => {
    // multistep_dpm_solver_second_order_update, algorithm_type dpmsolver++, solver_type midpoint
    fc.assert(fc.property(fc.tuple(ab, ab, ab), (trip) => {
      const [s1, s0, t] = [...trip].sort((a, b) => a - b) as [number, number, number];
      if (!(s0 - s1 > 1e-3 && t - s0 > 1e-3)) return; // distinct noise levels (h, h0 > 0)
      const at = Math.sqrt(t), st = Math.sqrt(1 - t);
      const lam = (x: number) => Math.log(Math.sqrt(x)) - Math.log(Math.sqrt(1 - x));
      const h = lam(t) - lam(s0), h0 = lam(s0) - lam(s1), r0 = h0 / h;
      // x_t = (st/ss0) x - at (e^-h - 1) D0 - 0.5 at (e^-h - 1) D1, D1 = (m0 - m1)/r0
      const xCoef = st / Math.sqrt(1 - s0);
      const c0 = -at * (Math.exp(-h) - 1) - 0.5 * at * (Math.exp(-h) - 1) / r0;
      const c1 = 0.5 * at * (Math.exp(-h) - 1) / r0;
      const got = dpmSolverPlusPlusCoefficients(s0, t, s1);
      expect(Math.abs(got.xCoef - xCoef)).toBeLessThan(1e-12 * (1 + Math.abs(xCoef)));
      expect(Math.abs(got.c0 - c0)).toBeLessThan(1e-9 * (1 + Math.abs(c0)));
      expect(Math.abs(got.c1 - c1)).toBeLessThan(1e-9 * (1 + Math.abs(c1)));
    }), { numRuns: fcRuns(200) });
  });
  it('DDIM with eta = 1 between consecutive timesteps is the DDPM fixed_small step', () => {
    fc.assert(fc.property(kind, fc.integer({ min: 1, max: 999 }), (k, t) => {
      const s = schedules[k]!;
      const c = ddimCoefficients(s.alphasCumprod[t]!, s.alphasCumprod[t - 1]!, 1);
      expect(Math.abs(c.sigma ** 2 - s.posteriorVariance[t]!)).toBeLessThan(1e-12 + 1e-9 * s.posteriorVariance[t]!);
      const xt = T.tensor([[0.4, -0.7]]), x0 = T.tensor([[0.2, 0.9]]), z = T.tensor([[1.1, -0.3]]);
      const r = read(() => T.concat([
        ddimStep({ x0, eps: epsFromX0(xt, x0, s.alphasCumprod[t]!), z, alphaBarT: s.alphasCumprod[t]!, alphaBarPrev: s.alphasCumprod[t - 1]!, eta: 1 }),
        ddpmStep(s, t, xt, x0, z, 'fixed_small'),
      ], 0));
      T.dispose([xt, x0, z]);
      // eps from x0 divides by sqrt(1 - ab): float32 error grows where 1 - ab is tiny (t near 0)
      const tol = 1e-5 / Math.sqrt(1 - s.alphasCumprod[t]!);
      expect(Math.abs(r[0]! - r[2]!)).toBeLessThan(tol);
      expect(Math.abs(r[1]! - r[3]!)).toBeLessThan(tol);
    }), { numRuns: fcRuns(60) });
  });
});
