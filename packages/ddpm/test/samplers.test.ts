// Samplers against analytic denoisers: the probability-flow endpoint of a Gaussian, DDPM's
// moments, the no-noise last step, and the training/sampling conventions (t indexing, parameterizations).
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample, samplingPlan, type SamplerName, type StepInfo } from '../src/sampling/sample.ts';
import { diffusionLoss } from '../src/process/loss.ts';
import type { PredictionType } from '../src/process/forward.ts';
import { rescaleNoiseCfg } from '../src/sampling/guidance.ts';
import { deltaDenoiser, gaussianDenoiser, gaussianFlowEndpoint, maxAbsDiff, meanStd } from './models.ts';
import { TEST_BACKEND, tol } from './backend.ts';

const linear = makeSchedule('linear', 1000);
const cosine = makeSchedule('cosine', 1000);
const MU = [0.5, -1];
const SD = [0.3, 1.2];

beforeAll(async () => {
  await T.setBackend(TEST_BACKEND);
});

async function run(opts: Parameters<typeof sample>[1], model = gaussianDenoiser(opts.schedule, MU, SD, (opts.prediction ?? 'epsilon') as PredictionType)) {
  const out = await sample(model, opts);
  try {
    return out.dataSync();
  } finally {
    out.dispose();
  }
}

describe('deterministic samplers land on the exact probability-flow endpoint of a Gaussian', () => {
  const cases: { sampler: SamplerName; spacing: 'trailing' | 'leading' | 'linspace'; at50: number }[] = [
    // measured max errors at 50 steps (64 points, |x_T| up to ~3): ddim/euler 0.084, dpmsolver++ 0.011-0.014
    { sampler: 'ddim', spacing: 'trailing', at50: 0.12 },
    { sampler: 'ddim', spacing: 'leading', at50: 0.12 },
    { sampler: 'euler', spacing: 'trailing', at50: 0.12 },
    { sampler: 'dpmsolver++', spacing: 'trailing', at50: 0.02 },
    { sampler: 'dpmsolver++', spacing: 'linspace', at50: 0.02 },
  ];
  for (const c of cases) {
    it(`${c.sampler} (${c.spacing}): error shrinks as steps grow`, async () => {
      const init = T.randomNormal(T.randomKey(7), [64, 2]);
      const xT = init.dataSync();
      const errs: number[] = [];
      for (const steps of [5, 10, 20, 50]) {
        const plan = samplingPlan(c.sampler, 1000, steps, c.spacing);
        const exact = gaussianFlowEndpoint(linear, plan.timesteps[0]!, xT, MU, SD);
        const got = await run({ shape: [64, 2], schedule: linear, sampler: c.sampler, steps, key: T.randomKey(1), init, spacing: c.spacing });
        errs.push(maxAbsDiff(got, exact));
      }
      init.dispose();
      for (let i = 1; i < errs.length; i++) expect(errs[i], `errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeLessThan(errs[i - 1]!);
      expect(errs[3]).toBeLessThan(c.at50);
    });
  }
  it('DPM-Solver++(2M) converges at second order, DDIM at first', async () => {
    const init = T.randomNormal(T.randomKey(8), [64, 2]);
    const xT = init.dataSync();
    const err = async (sampler: SamplerName, steps: number) => {
      const exact = gaussianFlowEndpoint(cosine, samplingPlan(sampler, 1000, steps, 'trailing').timesteps[0]!, xT, MU, SD);
      return maxAbsDiff(await run({ shape: [64, 2], schedule: cosine, sampler, steps, key: T.randomKey(1), init, spacing: 'trailing' }), exact);
    };
    const [d25, d50, p25, p50] = [await err('ddim', 25), await err('ddim', 50), await err('dpmsolver++', 25), await err('dpmsolver++', 50)];
    init.dispose();
    expect(d25 / d50).toBeGreaterThan(1.6); // ~2 for first order
    expect(d25 / d50).toBeLessThan(2.6);
    expect(p25 / p50).toBeGreaterThan(3); // ~4 for second order
    expect(p50).toBeLessThan(d50 / 5);
  });
  it('every prediction type gives the same DDIM path (the conversions are consistent)', async () => {
    const init = T.randomNormal(T.randomKey(9), [16, 2]);
    const outs: ArrayLike<number>[] = [];
    for (const p of ['epsilon', 'sample', 'v_prediction'] as const) {
      outs.push(await run({ shape: [16, 2], schedule: linear, sampler: 'ddim', steps: 20, key: T.randomKey(1), init, prediction: p }));
    }
    init.dispose();
    expect(maxAbsDiff(outs[0]!, outs[1]!)).toBeLessThan(tol(1e-4, 1e-10));
    expect(maxAbsDiff(outs[0]!, outs[2]!)).toBeLessThan(tol(1e-4, 1e-10));
  });
  it("euler is DDIM (eta = 0) in Karras' coordinates: identical where both step to the next listed timestep", async () => {
    const init = T.randomNormal(T.randomKey(10), [16, 2]);
    const a = await run({ shape: [16, 2], schedule: linear, sampler: 'euler', steps: 20, key: T.randomKey(1), init, spacing: 'trailing' });
    const b = await run({ shape: [16, 2], schedule: linear, sampler: 'ddim', steps: 20, key: T.randomKey(1), init, spacing: 'trailing' });
    init.dispose();
    expect(maxAbsDiff(a, b)).toBeLessThan(tol(1e-4, 1e-10));
  });
});

describe('ancestral DDPM with the perfect denoiser reproduces the data distribution', () => {
  it('mean and standard deviation of 2000 samples (fixed_small, all T = 1000 steps)', async () => {
    const N = 2000;
    const v = await run({ shape: [N, 2], schedule: linear, sampler: 'ddpm', key: T.randomKey(11) });
    for (let k = 0; k < 2; k++) {
      const { mean, std } = meanStd(v, 2, k);
      expect(Math.abs(mean - MU[k]!), `dim ${k} mean ${mean}`).toBeLessThan((4 * SD[k]!) / Math.sqrt(N));
      expect(Math.abs(std / SD[k]! - 1), `dim ${k} std ${std}`).toBeLessThan(0.07);
    }
  });
  it('with few steps it is still a consistent chain: DDIM eta = 1 equals respaced DDPM fixed_small step for step', async () => {
    // sigma^2(eta = 1) = beta_tilde of the respaced chain and the means agree (Song et al. 2021 Sec. 4.1);
    // both draw step i's noise from foldIn(key, i), so the samples match, not only in law.
    const init = T.randomNormal(T.randomKey(12), [64, 2]);
    const a = await run({ shape: [64, 2], schedule: linear, sampler: 'ddpm', steps: 100, spacing: 'trailing', key: T.randomKey(3), init });
    const b = await run({ shape: [64, 2], schedule: linear, sampler: 'ddim', eta: 1, steps: 100, spacing: 'trailing', key: T.randomKey(3), init });
    init.dispose();
    expect(maxAbsDiff(a, b)).toBeLessThan(tol(1e-4, 1e-10));
  });
});

describe('the last step adds no noise', () => {
  for (const variance of ['fixed_small', 'fixed_large'] as const) {
    it(`ddpm ${variance}: a single-step run does not depend on the key; a two-step run does`, async () => {
      const init = T.randomNormal(T.randomKey(13), [8, 2]);
      const one = async (key: number, steps: number) =>
        run({ shape: [8, 2], schedule: linear, sampler: 'ddpm', steps, key: T.randomKey(key), init, variance, spacing: 'trailing' });
      expect(Array.from(await one(1, 1))).toEqual(Array.from(await one(2, 1)));
      expect(maxAbsDiff(await one(1, 2), await one(2, 2))).toBeGreaterThan(1e-3);
      init.dispose();
    });
  }
  it('ddpm over all T steps: the last step (t = 0) returns its x0 estimate', async () => {
    let last: { t: number; prevT: number; x0: Float32Array | Float64Array; next: Float32Array | Float64Array } | null = null;
    const onStep = (s: StepInfo) => {
      if (s.index === s.steps - 1) last = { t: s.t, prevT: s.prevT, x0: s.x0.dataSync(), next: s.next.dataSync() };
    };
    const v = await run({ shape: [8, 2], schedule: linear, sampler: 'ddpm', key: T.randomKey(14), variance: 'fixed_large', onStep });
    expect(last).not.toBeNull();
    const l = last!;
    expect(l.t).toBe(0);
    expect(l.prevT).toBe(-1);
    expect(maxAbsDiff(l.next, l.x0)).toBeLessThan(tol(1e-6, 1e-10));
    expect(Array.from(v)).toEqual(Array.from(l.next));
  });
  it('ddim eta = 1 and dpmsolver++ / euler: the final step is deterministic too', async () => {
    const init = T.randomNormal(T.randomKey(15), [8, 2]);
    for (const s of [{ sampler: 'ddim' as const, eta: 1 }, { sampler: 'dpmsolver++' as const }, { sampler: 'euler' as const }]) {
      const a = await run({ shape: [8, 2], schedule: linear, steps: 1, key: T.randomKey(1), init, spacing: 'trailing', ...s });
      const b = await run({ shape: [8, 2], schedule: linear, steps: 1, key: T.randomKey(2), init, spacing: 'trailing', ...s });
      expect(Array.from(a), s.sampler).toEqual(Array.from(b));
    }
    init.dispose();
  });
});

describe('training and sampling conventions agree', () => {
  const C = [0.7, -0.4];
  const preds: PredictionType[] = ['epsilon', 'sample', 'v_prediction'];
  for (const p of preds) {
    it(`${p}: the perfect model of a point mass has zero training loss, and only with the right t`, () => {
      const x0 = T.tensor(Array.from({ length: 32 }, () => C));
      const noise = T.randomNormal(T.randomKey(3), [32, 2]);
      const loss = (shift: number) => {
        const l = diffusionLoss(deltaDenoiser(linear, C, p, undefined, shift), x0, { schedule: linear, key: T.randomKey(4), noise, prediction: p });
        const v = l.dataSync()[0]!;
        l.dispose();
        return v;
      };
      expect(loss(0)).toBeLessThan(1e-8);
      if (p !== 'sample') expect(loss(1)).toBeGreaterThan(1e-6); // off-by-one in t is visible
      T.dispose([x0, noise]);
    });
    for (const sampler of ['ddpm', 'ddim', 'dpmsolver++', 'euler'] as const) {
      it(`${p} / ${sampler}: the perfect model of a point mass samples exactly that point, called at the planned t`, async () => {
        const calls: number[][] = [];
        const steps = sampler === 'ddpm' ? 1000 : 20;
        const v = await run({ shape: [4, 2], schedule: linear, sampler, steps, key: T.randomKey(5), prediction: p }, deltaDenoiser(linear, C, p, calls));
        for (let i = 0; i < v.length; i++) expect(Math.abs(v[i]! - C[i % 2]!)).toBeLessThan(2e-3);
        const plan = samplingPlan(sampler, 1000, steps);
        expect(calls.map((c) => c[0])).toEqual(plan.timesteps);
        expect(calls.every((c) => c.length === 4 && c.every((t) => t === c[0]))).toBe(true);
        if (sampler === 'ddpm') expect(plan.timesteps).toEqual(Array.from({ length: 1000 }, (_, i) => 999 - i));
      });
    }
  }
  it('zero terminal SNR: v-prediction samples from t = T-1 (alpha_bar = 0); epsilon is refused', async () => {
    const zsnr = makeSchedule('linear', 1000, { rescaleZeroTerminalSnr: true });
    expect(zsnr.alphasCumprod[999]).toBe(0);
    for (const sampler of ['ddim', 'dpmsolver++', 'euler', 'ddpm'] as const) {
      const v = await run({ shape: [4, 2], schedule: zsnr, sampler, steps: 10, key: T.randomKey(5), prediction: 'v_prediction', spacing: 'trailing' },
        deltaDenoiser(zsnr, C, 'v_prediction'));
      for (let i = 0; i < v.length; i++) expect(Math.abs(v[i]! - C[i % 2]!), sampler).toBeLessThan(2e-3);
    }
    await expect(sample(deltaDenoiser(zsnr, C, 'epsilon'), { shape: [4, 2], schedule: zsnr, sampler: 'ddim', steps: 10, key: T.randomKey(5), spacing: 'trailing' }))
      .rejects.toThrow(/prediction 'epsilon' cannot recover x0 at t=999 where alpha_bar = 0/);
  });
});

describe('guidance, clipping, thresholding inside the sampler', () => {
  // With prediction 'sample', DDIM's last step (to alpha_bar = 1) returns the last x0 estimate,
  // so the output is the guided / clipped model output itself.
  const cond = () => T.tensor([[1, 2], [3, -1]]);
  const condModel = (calls: number[]) => (x: T.Tensor, _t: T.Tensor, c?: T.Tensor) => {
    calls.push(x.shape[0]!);
    return T.mul(T.add(c!, 0), 1);
  };
  it('classifier-free guidance: uncond + s (cond - uncond), one batched call of 2B', async () => {
    const calls: number[] = [];
    const c = cond();
    const nullCond = T.tensor([0.5, 0.5]);
    // eager: this counts the model's calls and their batch sizes (a compiled replay does not call it)
    const v = await run({ shape: [2, 2], schedule: linear, sampler: 'ddim', steps: 3, key: T.randomKey(1), prediction: 'sample', cond: c, guidance: { scale: 3, nullCond }, eager: true }, condModel(calls));
    expect(calls).toEqual([4, 4, 4]);
    const expected = [[1, 2], [3, -1]].flat().map((x) => 0.5 + 3 * (x - 0.5));
    expect(maxAbsDiff(v, expected)).toBeLessThan(tol(1e-5, 1e-10));
    // scale 1 is plain conditional sampling: no unconditional pass
    calls.length = 0;
    const w = await run({ shape: [2, 2], schedule: linear, sampler: 'ddim', steps: 3, key: T.randomKey(1), prediction: 'sample', cond: c, guidance: { scale: 1, nullCond }, eager: true }, condModel(calls));
    expect(calls).toEqual([2, 2, 2]);
    expect(maxAbsDiff(w, [1, 2, 3, -1])).toBeLessThan(tol(1e-6, 1e-10));
    T.dispose([c, nullCond]);
  });
  it('guidance rescale applies rescaleNoiseCfg to the guided output', async () => {
    const c = T.tensor([[1, 2, 0.5], [3, -1, 0]]);
    const nullCond = T.tensor([[0.1, -0.2, 0.3]]);
    const v = await run({ shape: [2, 3], schedule: linear, sampler: 'ddim', steps: 2, key: T.randomKey(1), prediction: 'sample', cond: c, guidance: { scale: 2.5, nullCond, rescale: 0.7 } }, condModel([]));
    const exp = T.tidy(() => rescaleNoiseCfg(T.add(T.broadcastTo(nullCond, [2, 3]), T.mul(T.sub(c, nullCond), 2.5)), c, 0.7));
    expect(maxAbsDiff(v, exp.dataSync())).toBeLessThan(tol(1e-5, 1e-10));
    T.dispose([c, nullCond, exp]);
  });
  it('clip and dynamic thresholding act on every x0 estimate', async () => {
    const model = (x: T.Tensor) => T.broadcastTo(T.tensor([[0.5, 3]]), x.shape);
    const base = { shape: [3, 2] as number[], schedule: linear, sampler: 'ddim' as const, steps: 4, key: T.randomKey(1), prediction: 'sample' as const };
    expect(maxAbsDiff(await run({ ...base, clip: true }, model), [0.5, 1, 0.5, 1, 0.5, 1])).toBeLessThan(tol(1e-6, 1e-10));
    expect(maxAbsDiff(await run({ ...base, clip: { kind: 'clip', range: 2 } }, model), [0.5, 2, 0.5, 2, 0.5, 2])).toBeLessThan(tol(1e-6, 1e-10));
    // per sample: quantile(|[0.5, 3]|, 0.995) = 2.9875 -> s = min(2.9875, 2) = 2 -> [0.25, 1]
    expect(maxAbsDiff(await run({ ...base, clip: { kind: 'dynamic', ratio: 0.995, maxValue: 2 } }, model), [0.25, 1, 0.25, 1, 0.25, 1])).toBeLessThan(tol(1e-6, 1e-10));
  });
});

describe('sample: bookkeeping', () => {
  it('onStep sees every step in order, with the planned t and prevT; the same key gives the same samples', async () => {
    const seen: [number, number, number][] = [];
    const opts = { shape: [4, 2] as number[], schedule: linear, sampler: 'ddim' as const, steps: 10, key: T.randomKey(21), eta: 0.5,
      spacing: 'linspace' as const, onStep: async (s: StepInfo) => { seen.push([s.index, s.t, s.prevT]); await s.next.data(); } };
    const a = await run(opts);
    const plan = samplingPlan('ddim', 1000, 10, 'linspace');
    expect(seen).toEqual(plan.timesteps.map((t, i) => [i, t, plan.prev[i]]));
    expect(plan.prev).toEqual(plan.timesteps.map((t) => Math.max(t - 100, -1))); // diffusers: prev_t = t - T//n for every spacing
    const b = await run({ ...opts, onStep: undefined });
    expect(Array.from(a)).toEqual(Array.from(b));
    const c = await run({ ...opts, onStep: undefined, key: T.randomKey(22) });
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
  });
  it('init is used as x_T and left alive', async () => {
    const init = T.randomNormal(T.randomKey(3), [4, 2]);
    let first: number[] = [];
    await run({ shape: [4, 2], schedule: linear, sampler: 'euler', steps: 3, key: T.randomKey(1), init, onStep: (s) => { if (s.index === 0) first = Array.from(s.x.dataSync()); } });
    expect(init.isDisposed).toBe(false);
    expect(first).toEqual(Array.from(init.dataSync()));
    init.dispose();
  });
  it('the plans are the diffusers timestep lists', () => {
    expect(samplingPlan('ddim', 1000, 10, 'leading', 1).timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(samplingPlan('dpmsolver++', 1000, 10).timesteps).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(samplingPlan('dpmsolver++', 1000, 10).prev).toEqual([899, 799, 699, 599, 500, 400, 300, 200, 100, -1]);
    expect(samplingPlan('ddpm', 1000, 10, 'trailing').prev).toEqual([899, 799, 699, 599, 499, 399, 299, 199, 99, -1]);
    expect(samplingPlan('euler', 1000, 4, 'trailing').timesteps).toEqual([999, 749, 499, 249]);
  });
});
