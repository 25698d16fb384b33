// Property tests: identities that hold for every valid input, derived independently of the code.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { makeSchedule, respace, type Schedule, type ScheduleOptions, type ScheduleKind } from '../src/schedule/schedule.ts';
import {
  cfgHoSalimans, classifierFreeGuidance, ddimSigma, ddpmMeanEpsForm, epsFromV, epsFromX0, posteriorMean, qSample,
  rescaleNoiseCfg, stdUnbiased, timestepEmbedding, vFromX0Eps, x0FromEps, x0FromV,
} from '../src/f64/formulas.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

/** Random valid schedule configurations (ranges chosen so alpha_bar never underflows). */
const scheduleConfig: fc.Arbitrary<{ kind: ScheduleKind; T: number; opts: ScheduleOptions }> = fc.oneof(
  fc.record({
    kind: fc.constant('linear' as const),
    T: fc.integer({ min: 1, max: 2000 }),
    opts: fc.record({
      betaStart: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
      betaEnd: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
      rescaleZeroTerminalSnr: fc.boolean(),
    }),
  }),
  fc.record({
    kind: fc.constant('scaled_linear' as const),
    T: fc.integer({ min: 1, max: 2000 }),
    opts: fc.record({
      betaStart: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
      betaEnd: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
    }),
  }),
  fc.record({
    kind: fc.constant('cosine' as const),
    T: fc.integer({ min: 1, max: 2000 }),
    opts: fc.record({ s: fc.double({ min: 0, max: 0.1, noNaN: true }), rescaleZeroTerminalSnr: fc.boolean() }),
  }),
  fc.record({
    kind: fc.constant('sigmoid' as const),
    T: fc.integer({ min: 1, max: 2000 }),
    opts: fc.oneof(
      fc.record({
        sigmoidVariant: fc.constant('geodiff' as const),
        betaStart: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
        betaEnd: fc.double({ min: 1e-6, max: 0.05, noNaN: true }),
      }),
      fc.record({
        sigmoidVariant: fc.constant('lucidrains' as const),
        sigmoidStart: fc.double({ min: -5, max: 0, noNaN: true }),
        sigmoidEnd: fc.double({ min: 0.5, max: 5, noNaN: true }),
        tau: fc.double({ min: 0.5, max: 2, noNaN: true }),
      }),
    ),
  }),
).map((c) => (c.T < 2 ? { ...c, opts: { ...c.opts, rescaleZeroTerminalSnr: false } } : c));

function build(c: { kind: ScheduleKind; T: number; opts: ScheduleOptions }): Schedule {
  return makeSchedule(c.kind, c.T, c.opts);
}

describe('schedule properties', () => {
  it('alpha_bar strictly decreasing in (0, 1] (0 only at t=T-1 after a zero-terminal-SNR rescale); betas in (0, 1)', () => {
    fc.assert(fc.property(scheduleConfig, (c) => {
      const s = build(c);
      const zt = c.opts.rescaleZeroTerminalSnr === true;
      let prev = 1;
      const bad: string[] = [];
      for (let t = 0; t < s.T; t++) {
        const a = s.alphasCumprod[t]!, b = s.betas[t]!;
        const last = t === s.T - 1;
        if (!(a < prev)) bad.push(`alpha_bar[${t}]=${a} not < ${prev}`);
        if (zt && last ? a !== 0 : !(a > 0)) bad.push(`alpha_bar[${t}]=${a} out of range`);
        if (!(b > 0 && (b < 1 || (zt && last && b === 1)))) bad.push(`beta[${t}]=${b}`);
        prev = a;
      }
      expect(bad).toEqual([]);
    }), { numRuns: fcRuns(200) });
  });

  it('0 <= beta_tilde[t] <= beta[t], beta_tilde[0] = 0, and no NaN in any array', () => {
    fc.assert(fc.property(scheduleConfig, (c) => {
      const s = build(c);
      expect(s.posteriorVariance[0]).toBe(0);
      const bad: string[] = [];
      for (let t = 0; t < s.T; t++) {
        const v = s.posteriorVariance[t]!;
        if (!(v >= 0 && v <= s.betas[t]! * (1 + 1e-12))) bad.push(`beta_tilde[${t}]=${v} beta=${s.betas[t]}`);
      }
      for (const [k, arr] of Object.entries(s)) {
        if (arr instanceof Float64Array) arr.forEach((x, t) => { if (Number.isNaN(x)) bad.push(`${k}[${t}] is NaN`); });
      }
      expect(bad).toEqual([]);
    }), { numRuns: fcRuns(100) });
  });

  it('posterior mean/variance equal the Bayes product of q(x_{t-1}|x_0) and q(x_t|x_{t-1})', () => {
    // q(x_{t-1}|x0) = N(sqrt(ab_{t-1}) x0, 1-ab_{t-1}), q(x_t|x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t).
    // Posterior precision = 1/(1-ab_{t-1}) + alpha_t/beta_t; mean = var (sqrt(ab_{t-1}) x0/(1-ab_{t-1}) + sqrt(alpha_t) x_t/beta_t).
    fc.assert(fc.property(scheduleConfig.filter((c) => c.T >= 2), fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), (c, u, x0, xt) => {
        const s = build(c);
        const t = 1 + Math.min(s.T - 2, Math.floor(u * (s.T - 1)));
        const abPrev = s.alphasCumprod[t - 1]!;
        const alpha = 1 - s.betas[t]!, beta = s.betas[t]!;
        const prec = 1 / (1 - abPrev) + alpha / beta;
        const v = 1 / prec;
        const m = v * ((Math.sqrt(abPrev) * x0) / (1 - abPrev) + (Math.sqrt(alpha) * xt) / beta);
        expect(Math.abs(s.posteriorVariance[t]! - v)).toBeLessThanOrEqual(1e-9 * v);
        expect(Math.abs(posteriorMean(s, t, x0, xt) - m)).toBeLessThanOrEqual(1e-9 * (Math.abs(x0) + Math.abs(xt) + 1));
      }), { numRuns: fcRuns(300) });
  });

  it('eps-form mean (Ho eq. 11) equals the posterior mean when x_t = sqrt(ab) x0 + sqrt(1-ab) eps', () => {
    fc.assert(fc.property(scheduleConfig.filter((c) => c.T >= 2 && !c.opts.rescaleZeroTerminalSnr), fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), (c, u, x0, eps) => {
        const s = build(c);
        const t = 1 + Math.min(s.T - 2, Math.floor(u * (s.T - 1)));
        const ab = s.alphasCumprod[t]!;
        const xt = Math.sqrt(ab) * x0 + Math.sqrt(1 - ab) * eps;
        const a = posteriorMean(s, t, x0, xt), b = ddpmMeanEpsForm(s, t, xt, eps);
        expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-8 * (Math.abs(x0) + Math.abs(eps) + 1) / Math.sqrt(1 - s.betas[t]!));
      }), { numRuns: fcRuns(300) });
  });

  it('DDIM with eta = 1 between consecutive steps has sigma^2 = beta_tilde (Song et al. 2021 Sec. 4.1)', () => {
    fc.assert(fc.property(scheduleConfig.filter((c) => c.T >= 2 && !c.opts.rescaleZeroTerminalSnr), fc.double({ min: 0, max: 1, noNaN: true }), (c, u) => {
      const s = build(c);
      const t = 1 + Math.min(s.T - 2, Math.floor(u * (s.T - 1)));
      const sig = ddimSigma(s.alphasCumprod[t]!, s.alphasCumprod[t - 1]!, 1);
      expect(Math.abs(sig * sig - s.posteriorVariance[t]!)).toBeLessThanOrEqual(1e-9 * s.posteriorVariance[t]!);
    }), { numRuns: fcRuns(200) });
  });

  it('respacing with every step reproduces the schedule; any subset keeps alpha_bar at kept steps', () => {
    fc.assert(fc.property(scheduleConfig.filter((c) => c.T <= 300), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }), (c, us) => {
      const s = build(c);
      const all = respace(s, [...Array(s.T).keys()]);
      // the same 1 - (1 - beta) round trip: exact up to ~ulp(1) absolute
      const bad = [...s.betas.keys()].filter((t) => !(Math.abs(all.betas[t]! - s.betas[t]!) <= 4 * Number.EPSILON));
      expect(bad).toEqual([]);
      const keep = [...new Set(us.map((u) => Math.min(s.T - 1, Math.floor(u * s.T))))];
      const r = respace(s, keep);
      // 1 - new_beta = ab_k/ab_{k-1} is recovered to ~1 ulp of 1, so the relative error of each
      // factor is ~eps/ratio; the cumulative bound sums those.
      let bound = 0, prev = 1;
      r.timestepMap.forEach((t, k) => {
        const want = s.alphasCumprod[t]!;
        if (want === 0) return expect(r.alphasCumprod[k]).toBe(0); // zero terminal SNR: beta = 1 exactly
        bound += (8 * Number.EPSILON) / (want / prev) + 8 * Number.EPSILON;
        prev = want;
        expect(Math.abs(r.alphasCumprod[k]! - want)).toBeLessThanOrEqual(bound * want);
      });
    }), { numRuns: fcRuns(100) });
  });
});

describe('parameterization properties', () => {
  const ab = fc.double({ min: 1e-4, max: 1 - 1e-4, noNaN: true });
  const val = fc.double({ min: -10, max: 10, noNaN: true });
  it('eps <-> x0 <-> v are mutual inverses given alpha_bar', () => {
    fc.assert(fc.property(ab, val, val, (a, x0, eps) => {
      const tol = (1e-12 * (Math.abs(x0) + Math.abs(eps) + 1)) / Math.min(Math.sqrt(a), Math.sqrt(1 - a));
      const xt = qSample(x0, eps, a);
      expect(Math.abs(x0FromEps(xt, eps, a) - x0)).toBeLessThanOrEqual(tol);
      expect(Math.abs(epsFromX0(xt, x0, a) - eps)).toBeLessThanOrEqual(tol);
      const v = vFromX0Eps(x0, eps, a);
      expect(Math.abs(x0FromV(xt, v, a) - x0)).toBeLessThanOrEqual(tol);
      expect(Math.abs(epsFromV(xt, v, a) - eps)).toBeLessThanOrEqual(tol);
      // (x_t, v) is a rotation of (x0, eps) by angle phi with cos = sqrt(ab): norms agree
      expect(Math.abs(xt * xt + v * v - (x0 * x0 + eps * eps))).toBeLessThanOrEqual(1e-12 * (x0 * x0 + eps * eps + 1));
    }), { numRuns: fcRuns(500) });
  });

  it('same on Float64Arrays, elementwise', () => {
    fc.assert(fc.property(ab, fc.array(fc.tuple(val, val), { minLength: 1, maxLength: 16 }), (a, pairs) => {
      const x0 = Float64Array.from(pairs, (p) => p[0]);
      const eps = Float64Array.from(pairs, (p) => p[1]);
      const xt = qSample(x0, eps, a);
      const back = x0FromV(xt, vFromX0Eps(x0, eps, a), a);
      back.forEach((b, i) => expect(Math.abs(b - x0[i]!)).toBeLessThanOrEqual(1e-11 * (Math.abs(x0[i]!) + Math.abs(eps[i]!) + 1)));
    }), { numRuns: fcRuns(100) });
  });
});

describe('guidance and embedding properties', () => {
  const vec = fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 16 });
  it('Ho & Salimans (1+w) eps_c - w eps_u equals uncond + (1+w)(cond - uncond)', () => {
    fc.assert(fc.property(vec, fc.double({ min: 0, max: 10, noNaN: true }), (xs, w) => {
      const c = Float64Array.from(xs), u = Float64Array.from(xs, (x) => 0.5 - x);
      const a = cfgHoSalimans(c, u, w), b = classifierFreeGuidance(u, c, 1 + w);
      a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-12 * (1 + w) * 20));
    }));
  });
  it('guidance rescale: phi = 1 gives std(cond); phi = 0 returns guided', () => {
    fc.assert(fc.property(vec, vec, (xs, ys) => {
      const n = Math.min(xs.length, ys.length);
      const g = Float64Array.from(xs.slice(0, n)), c = Float64Array.from(ys.slice(0, n));
      fc.pre(stdUnbiased(g) > 1e-6);
      const r1 = rescaleNoiseCfg(g, c, 1);
      expect(Math.abs(stdUnbiased(r1) - stdUnbiased(c))).toBeLessThanOrEqual(1e-9 * (stdUnbiased(c) + 1));
      expect(Array.from(rescaleNoiseCfg(g, c, 0))).toEqual(Array.from(g));
    }));
  });
  it('sin^2 + cos^2 = 1 for each frequency, in both layouts', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 2, max: 64 }), fc.boolean(), (t, half, flip) => {
      const e = timestepEmbedding(t, 2 * half, { flipSinToCos: flip, downscaleFreqShift: flip ? 0 : 1 });
      for (let i = 0; i < half; i++) expect(Math.abs(e[i]! ** 2 + e[half + i]! ** 2 - 1)).toBeLessThan(1e-14);
      expect(e[flip ? 0 : half]).toBe(Math.cos(t)); // frequency 0 is always 1
    }));
  });
});
