// The golden groups of shared/ddpm-golden.json reproduced with the TENSOR implementations (the
// code the samplers and the loss run), on the webasm backend in float32. Tolerances are the golden
// file's float32 ones (abs 1e-5 on coefficients) scaled by the magnitude of each value.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { sinusoidalEmbedding } from '@tapegrad/nn';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { ddimAlphaBarPrev } from '../src/f64/formulas.ts';
import {
  epsFromV, epsFromX0, predictionTarget, predictionToX0Eps, qSample, vFromX0Eps, x0FromEps, x0FromV,
} from '../src/process/forward.ts';
import { ddimStep, ddpmStep, posteriorMean } from '../src/sampling/steps.ts';
import { diffusionLoss } from '../src/process/loss.ts';
import {
  applyThreshold, classifierFreeGuidance, clipX0, dynamicThreshold, dynamicThresholdScales, rescaleNoiseCfg, stdPerSample,
} from '../src/sampling/guidance.ts';
import { approxStandardNormalCdf, discretizedGaussianLogLikelihood, learnedRangeLogVariance, normalKl, priorBpd } from '../src/process/vlb.ts';
import { GOLDEN, type Json } from './golden.ts';

const ABS = GOLDEN.meta.recommended_tolerances.float32_impl_vs_golden_abs_coefficients as number; // 1e-5
const linear = makeSchedule('linear', 1000);

/** float32 comparison: |a - e| <= ABS * max(1, |e|). */
function near(actual: number, expected: number, label: string, tol = ABS): void {
  const err = Math.abs(actual - expected);
  expect(err <= tol * Math.max(1, Math.abs(expected)), `${label}: got ${actual}, expected ${expected} (err ${err})`).toBe(true);
}
function nearArray(actual: ArrayLike<number>, expected: readonly number[], label: string, tol = ABS): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) near(actual[i]!, expected[i]!, `${label}[${i}]`, tol);
}
/** Run fn (returning a tensor) in a tidy scope and read its values. */
function values(fn: () => T.Tensor): Float32Array | Float64Array {
  const out = T.tidy(fn);
  try {
    return out.dataSync();
  } finally {
    out.dispose();
  }
}
const scalar = (v: number) => T.tensor([[v]]); // a batch of one 1-element sample

beforeAll(async () => {
  await T.setBackend('webasm');
});

describe('tensor golden: the backend', () => {
  it('runs on webasm (float32)', () => {
    const x = T.tensor([1]);
    expect(x.backend).toBe('webasm');
    expect(x.dataSync()).toBeInstanceOf(Float32Array);
    x.dispose();
  });
});

describe('tensor golden: ddim_step', () => {
  for (const st of GOLDEN.ddim_step.steps as Json[]) {
    it(`t=${st.t} prev_t=${st.prev_t} eta=${st.eta} set_alpha_to_one=${st.set_alpha_to_one}`, () => {
      const ex = st.example;
      const abT = linear.alphasCumprod[st.t]!;
      const abPrev = ddimAlphaBarPrev(linear, st.prev_t, st.set_alpha_to_one);
      const run = (clip: boolean, rederive: boolean) => values(() => {
        const xt = scalar(ex.x_t), epsHat = scalar(ex.eps_hat), z = scalar(ex.z);
        let x0 = x0FromEps(xt, epsHat, abT);
        if (clip) x0 = clipX0(x0, 1);
        const eps = clip && rederive ? epsFromX0(xt, x0, abT) : epsHat;
        return T.concat([T.reshape(x0, [1]), T.reshape(ddimStep({ x0, eps, z, alphaBarT: abT, alphaBarPrev: abPrev, eta: st.eta }), [1])]);
      });
      const plain = run(false, false);
      near(plain[0]!, ex.x0_hat_unclipped, 'x0_hat_unclipped');
      near(plain[1]!, ex.x_prev_no_clip, 'x_prev_no_clip');
      const clipped = run(true, false);
      near(clipped[0]!, ex.x0_hat_clipped, 'x0_hat_clipped');
      near(clipped[1]!, ex.x_prev_clip_sample_true, 'x_prev_clip_sample_true');
      near(run(true, true)[1]!, ex.x_prev_clip_sample_true_use_clipped_model_output, 'x_prev use_clipped_model_output');
    });
  }
});

describe('tensor golden: ddpm_ancestral_step_t500', () => {
  const g: Json = GOLDEN.ddpm_ancestral_step_t500;
  const { t, x_t, eps_hat, z } = g.inputs;
  const ab = linear.alphasCumprod[t]!;
  it('x0_hat, posterior mean, fixed_small / fixed_large, clipped', () => {
    near(values(() => x0FromEps(scalar(x_t), scalar(eps_hat), ab))[0]!, g.x0_hat_unclipped, 'x0_hat_unclipped');
    near(values(() => posteriorMean(linear, t, x0FromEps(scalar(x_t), scalar(eps_hat), ab), scalar(x_t)))[0]!, g.mean_unclipped_via_posterior, 'mean');
    near(values(() => ddpmStep(linear, t, scalar(x_t), x0FromEps(scalar(x_t), scalar(eps_hat), ab), scalar(z), 'fixed_small'))[0]!, g.x_prev_fixed_small_unclipped, 'fixed_small');
    near(values(() => ddpmStep(linear, t, scalar(x_t), x0FromEps(scalar(x_t), scalar(eps_hat), ab), scalar(z), 'fixed_large'))[0]!, g.x_prev_fixed_large_unclipped, 'fixed_large');
    near(values(() => clipX0(x0FromEps(scalar(x_t), scalar(eps_hat), ab)))[0]!, g.x0_hat_clipped, 'x0_hat_clipped');
    near(values(() => ddpmStep(linear, t, scalar(x_t), clipX0(x0FromEps(scalar(x_t), scalar(eps_hat), ab)), scalar(z)))[0]!, g.x_prev_fixed_small_clipped, 'fixed_small clipped');
  });
  it('the eps-form mean of Ho eq. 11 equals the posterior-mean form (epsilon model, unclipped)', () => {
    // (x_t - beta/sqrt(1-ab) eps)/sqrt(alpha), with the schedule's float64 coefficients, in tensor ops
    const r = linear.recipSqrtAlphas[t]!, c = linear.betasOverSqrtOneMinusAlphasCumprod[t]!;
    near(values(() => T.mul(T.sub(scalar(x_t), T.mul(scalar(eps_hat), c)), r))[0]!, g.mean_unclipped_via_eps_form, 'eps-form mean');
  });
  it('t = 0 adds no noise even when z is given', () => {
    const a = values(() => ddpmStep(linear, 0, scalar(x_t), scalar(0.25), scalar(100)));
    const b = values(() => posteriorMean(linear, 0, scalar(0.25), scalar(x_t)));
    expect(a[0]).toBe(b[0]);
  });
});

describe('tensor golden: parameterizations_t500', () => {
  const g: Json = GOLDEN.parameterizations_t500;
  const { t, x0, eps } = g.inputs;
  const ab = linear.alphasCumprod[t]!;
  it('qSample, v, and the conversions', () => {
    near(values(() => qSample(linear, scalar(x0), t, scalar(eps)))[0]!, g.x_t, 'x_t');
    near(values(() => qSample(linear, scalar(x0), [t], scalar(eps)))[0]!, g.x_t, 'x_t (per-sample t)');
    near(values(() => vFromX0Eps(scalar(x0), scalar(eps), ab))[0]!, g.v, 'v');
    near(values(() => predictionTarget('v_prediction', scalar(x0), scalar(eps), ab))[0]!, g.v, 'v target');
    near(values(() => x0FromV(scalar(g.x_t), scalar(g.v), ab))[0]!, g.x0_from_v, 'x0_from_v');
    near(values(() => epsFromV(scalar(g.x_t), scalar(g.v), ab))[0]!, g.eps_from_v, 'eps_from_v');
    near(values(() => x0FromEps(scalar(g.x_t), scalar(eps), ab))[0]!, x0, 'x0 from eps');
    near(values(() => epsFromX0(scalar(g.x_t), scalar(x0), ab))[0]!, eps, 'eps from x0');
  });
  it('predictionToX0Eps recovers (x0, eps) from each parameterization', () => {
    for (const [p, out] of [['epsilon', eps], ['sample', x0], ['v_prediction', g.v]] as const) {
      const r = values(() => {
        const { x0: a, eps: b } = predictionToX0Eps(p, scalar(g.x_t), scalar(out), ab);
        return T.concat([T.reshape(a, [1]), T.reshape(b, [1])]);
      });
      near(r[0]!, x0, `${p}: x0`);
      near(r[1]!, eps, `${p}: eps`);
    }
  });
});

describe('tensor golden: min_snr_weights_linear_gamma5', () => {
  const g: Json = GOLDEN.min_snr_weights_linear_gamma5;
  const ts = (g.weights as Json[]).map((w) => w.t as number);
  // A model whose output is target + 1 everywhere has per-sample MSE 1, so the per-sample loss is the weight.
  for (const [p, field] of [['epsilon', 'pred_noise'], ['sample', 'pred_x0'], ['v_prediction', 'pred_v']] as const) {
    it(`${p}: diffusionLoss per-sample weights at t = ${ts.join(', ')}`, () => {
      const B = ts.length;
      const x0 = T.tensor(Array.from({ length: B }, (_, i) => [0.3 - 0.1 * i, 0.5]));
      const noise = T.tensor(Array.from({ length: B }, (_, i) => [0.2 * i - 0.4, -0.7]));
      const ab = Float64Array.from(ts, (t) => linear.alphasCumprod[t]!);
      const model = () => T.add(predictionTarget(p, x0, noise, ab), 1);
      const losses = values(() => diffusionLoss(model, x0, { schedule: linear, t: ts, noise, prediction: p, minSnrGamma: 5, reduction: 'none' }));
      nearArray(losses, (g.weights as Json[]).map((w) => w[field] as number), `${p} weights`);
      const mean = values(() => diffusionLoss(model, x0, { schedule: linear, t: ts, noise, prediction: p, minSnrGamma: 5 }));
      near(mean[0]!, (g.weights as Json[]).reduce((s, w) => s + (w[field] as number), 0) / B, `${p} mean`);
      T.dispose([x0, noise]);
    });
  }
});

describe('tensor golden: classifier_free_guidance', () => {
  const g: Json = GOLDEN.classifier_free_guidance;
  const u = () => T.tensor([g.inputs.eps_uncond as number[]]);
  const c = () => T.tensor([g.inputs.eps_cond as number[]]);
  it('guided, unbiased std, rescaled', () => {
    nearArray(values(() => classifierFreeGuidance(u(), c(), g.inputs.guidance_scale_s)), g.guided, 'guided');
    near(values(() => stdPerSample(c()))[0]!, g.std_cond_unbiased, 'std(cond)');
    near(values(() => stdPerSample(T.tensor([g.guided as number[]])))[0]!, g.std_guided_unbiased, 'std(guided)');
    nearArray(values(() => rescaleNoiseCfg(classifierFreeGuidance(u(), c(), g.inputs.guidance_scale_s), c(), g.inputs.phi)), g.rescaled_phi_0_7, 'rescaled');
  });
  it('per-sample statistics over a batch of two', () => {
    const uu = [g.inputs.eps_uncond, g.inputs.eps_cond], cc = [g.inputs.eps_cond, g.inputs.eps_uncond];
    const r = values(() => rescaleNoiseCfg(classifierFreeGuidance(T.tensor(uu), T.tensor(cc), 3), T.tensor(cc), 0.7));
    nearArray(r.slice(0, 4), g.rescaled_phi_0_7, 'row 0 as the golden');
  });
});

describe('tensor golden: dynamic_thresholding', () => {
  const g: Json = GOLDEN.dynamic_thresholding;
  for (const cs of g.cases as Json[]) {
    it(`ratio=${cs.ratio} sample_max_value=${cs.sample_max_value}`, async () => {
      const x0 = T.tensor([g.x0_hat as number[]]);
      const { quantile, s } = await dynamicThresholdScales(x0, { ratio: cs.ratio, maxValue: cs.sample_max_value });
      near(quantile[0]!, cs.s_quantile, 's_quantile');
      near(s[0]!, cs.s_clamped, 's_clamped');
      const out = await dynamicThreshold(x0, { ratio: cs.ratio, maxValue: cs.sample_max_value });
      nearArray(out.dataSync(), cs.x0_thresholded, 'x0_thresholded');
      T.dispose([x0, out]);
    });
  }
  it('one threshold per sample of a batch', async () => {
    const row = g.x0_hat as number[];
    const x0 = T.tensor([row, row.map((v) => v / 10)]); // second sample: quantile < 1 -> s = 1
    const { s } = await dynamicThresholdScales(x0, { ratio: 0.995, maxValue: 2 });
    expect(Array.from(s)).toEqual([2, 1]);
    const out = values(() => applyThreshold(x0, s));
    nearArray(out.slice(0, 8), g.cases[1].x0_thresholded, 'sample 0');
    nearArray(out.slice(8), row.map((v) => v / 10), 'sample 1 unchanged');
    x0.dispose();
  });
});

describe('tensor golden: vlb_terms', () => {
  const g: Json = GOLDEN.vlb_terms;
  it('prior KL in bits/dim', () => {
    // the variance part of the KL is a float64 host constant, so float32 keeps ~1e-7 relative here
    const rel = (a: number, e: number) => Math.abs(a - e) / Math.abs(e);
    expect(rel(values(() => priorBpd(linear, scalar(1)))[0]!, g.prior_kl_bits_per_dim_x0_eq_1)).toBeLessThan(1e-5);
    expect(rel(values(() => priorBpd(linear, T.tensor([[1, -1, 1], [0, 0, 0]])))[0]!, g.prior_kl_bits_per_dim_x0_eq_1)).toBeLessThan(1e-5);
    expect(rel(values(() => priorBpd(linear, scalar(0)))[0]!, g.prior_kl_bits_per_dim_x0_eq_0)).toBeLessThan(1e-5);
  });
  for (const d of g.decoder_logp_nats as Json[]) {
    it(`decoder log p at x=${d.x}`, () => {
      near(values(() => discretizedGaussianLogLikelihood(scalar(d.x), d.mean, d.log_scale))[0]!, d.logp, `x=${d.x}`);
    });
  }
  it('learned range log variance t=500 v=0', () => {
    near(values(() => learnedRangeLogVariance(linear, 500, scalar(0)))[0]!, g.learned_range_t500_v0.log_var, 'log var');
  });
  it('normal KL and the cdf at textbook points', () => {
    expect(values(() => normalKl(scalar(0), 0, 0, 0))[0]).toBe(0);
    near(values(() => normalKl(scalar(1), 0, 0, 0))[0]!, 0.5, 'KL(N(1,1)||N(0,1))');
    near(values(() => normalKl(scalar(0), Math.log(4), 0, 0))[0]!, 0.5 * (-1 - Math.log(4) + 4), 'KL(N(0,4)||N(0,1))');
    near(values(() => approxStandardNormalCdf(scalar(0)))[0]!, 0.5, 'cdf(0)');
  });
});

describe('tensor golden: timestep_embedding_dim8 (the demo uses @tapegrad/nn sinusoidalEmbedding)', () => {
  const g: Json = GOLDEN.timestep_embedding_dim8;
  const conv: Record<string, { flipSinToCos: boolean; downscaleFreqShift: number }> = {
    original_ddpm_lucidrains: { flipSinToCos: false, downscaleFreqShift: 1 },
    improved_diffusion_diffusers_unet2d: { flipSinToCos: true, downscaleFreqShift: 0 },
  };
  it('from a timestep tensor, both conventions', () => {
    const ts = (g.values as Json[]).map((r) => r.t as number);
    for (const [name, opts] of Object.entries(conv)) {
      // float32 arguments t*freq: sin/cos of arguments up to 999 lose ~999 * 2^-24 absolutely
      const out = values(() => sinusoidalEmbedding(T.tensor(ts), 8, opts));
      (g.values as Json[]).forEach((r, i) => nearArray(out.slice(8 * i, 8 * i + 8), r[name], `${name} t=${r.t}`, 1e-4));
    }
  });
});

describe('tensor golden: groups covered here', () => {
  it('every step / loss / guidance / bound group of the golden file has a tensor test above', () => {
    const tensorGroups = ['ddim_step', 'ddpm_ancestral_step_t500', 'parameterizations_t500', 'min_snr_weights_linear_gamma5',
      'classifier_free_guidance', 'dynamic_thresholding', 'vlb_terms', 'timestep_embedding_dim8'];
    // the rest are float64 host tables (schedules, timestep lists) used as such by the tensor code
    const hostOnly = Object.keys(GOLDEN).filter((k) => k !== 'meta' && !tensorGroups.includes(k));
    expect(hostOnly.every((k) => k.startsWith('schedule_') || k === 'timesteps' || k === 'teapearce_mnist_cfg_schedule' || k === 'improved_diffusion_respaced_ddim50')).toBe(true);
  });
});
