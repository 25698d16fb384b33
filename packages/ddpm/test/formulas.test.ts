import { describe, expect, it } from 'vitest';
import { makeSchedule } from '../src/schedule/schedule.ts';
import {
  approxStandardNormalCdf, cfgHoSalimans, classifierFreeGuidance, ddimAlphaBarPrev, ddimCoefficients, ddimStep,
  ddpmMeanEpsForm, ddpmStep, discretizedGaussianLogLikelihood, dynamicThreshold, epsFromV, learnedRangeLogVariance,
  minSnrWeight, normalKl, posteriorMean, priorBitsPerDim, qSample, quantileLinear, rescaleNoiseCfg, stdUnbiased,
  timestepEmbedding, vFromX0Eps, x0FromEps, x0FromV,
} from '../src/f64/formulas.ts';
import { GOLDEN, close, closeArray, type Json } from './golden.ts';

const linear = makeSchedule('linear', 1000);

/** Groups covered in this file: every field in each must be looked at by some test. */
function fields(group: string): string[] {
  return Object.keys(GOLDEN[group]).filter((k) => k !== 'source' && k !== 'formula').sort();
}

describe('ddim_step', () => {
  const g: Json = GOLDEN.ddim_step;
  it('is on the linear T=1000 schedule and has the fields checked here', () => {
    expect(g.schedule).toMatch(/^linear_T1000/);
    expect(fields('ddim_step')).toEqual(['schedule', 'steps']);
  });
  for (const st of g.steps as Json[]) {
    it(`t=${st.t} prev_t=${st.prev_t} eta=${st.eta} set_alpha_to_one=${st.set_alpha_to_one}`, () => {
      expect(Object.keys(st).sort()).toEqual([
        'A_xt', 'B_eps', 'alpha_bar_prev', 'alpha_bar_t', 'eps_dir_coef', 'eta', 'example', 'prev_t', 'set_alpha_to_one',
        'sigma', 't', 'x0_coef_sqrt_ab_prev']);
      const abT = linear.alphasCumprod[st.t]!;
      const abPrev = ddimAlphaBarPrev(linear, st.prev_t, st.set_alpha_to_one);
      close(abT, st.alpha_bar_t, 'alpha_bar_t');
      close(abPrev, st.alpha_bar_prev, 'alpha_bar_prev');
      const c = ddimCoefficients(abT, abPrev, st.eta);
      close(c.sigma, st.sigma, 'sigma');
      close(c.x0Coef, st.x0_coef_sqrt_ab_prev, 'x0 coef');
      close(c.epsDirCoef, st.eps_dir_coef, 'eps dir coef');
      close(c.A, st.A_xt, 'A');
      close(c.B, st.B_eps, 'B');

      const ex = st.example;
      const base = { xT: ex.x_t, epsHat: ex.eps_hat, z: ex.z, alphaBarT: abT, alphaBarPrev: abPrev, eta: st.eta };
      const plain = ddimStep(base);
      close(plain.x0Hat, ex.x0_hat_unclipped, 'x0_hat_unclipped');
      close(plain.xPrev, ex.x_prev_no_clip, 'x_prev_no_clip');
      close(c.A * ex.x_t + c.B * ex.eps_hat + c.sigma * ex.z, ex.x_prev_no_clip, 'x_prev via A, B');
      const clipped = ddimStep({ ...base, clipSample: true });
      close(clipped.x0Hat, ex.x0_hat_clipped, 'x0_hat_clipped');
      close(clipped.xPrev, ex.x_prev_clip_sample_true, 'x_prev_clip_sample_true');
      const reder = ddimStep({ ...base, clipSample: true, useClippedModelOutput: true });
      close(reder.xPrev, ex.x_prev_clip_sample_true_use_clipped_model_output, 'x_prev use_clipped_model_output');
    });
  }
  it('works elementwise on Float64Array', () => {
    const st = g.steps[2];
    const abT = linear.alphasCumprod[st.t]!, abPrev = linear.alphasCumprod[st.prev_t]!;
    const r = ddimStep({
      xT: new Float64Array([0.3, 0.3]), epsHat: new Float64Array([-0.2, -0.2]), z: new Float64Array([0.7, 0.7]),
      alphaBarT: abT, alphaBarPrev: abPrev, eta: 1, clipSample: true,
    });
    closeArray(r.xPrev, [st.example.x_prev_clip_sample_true, st.example.x_prev_clip_sample_true], 'array xPrev');
  });
});

describe('ddpm_ancestral_step_t500', () => {
  const g: Json = GOLDEN.ddpm_ancestral_step_t500;
  const { t, x_t, eps_hat, z } = g.inputs;
  it('fields', () => {
    expect(fields('ddpm_ancestral_step_t500')).toEqual(['inputs', 'mean_unclipped_via_eps_form', 'mean_unclipped_via_posterior',
      'x0_hat_clipped', 'x0_hat_unclipped', 'x_prev_fixed_large_unclipped', 'x_prev_fixed_small_clipped', 'x_prev_fixed_small_unclipped']);
  });
  it('unclipped, fixed_small and fixed_large', () => {
    const small = ddpmStep(linear, t, x_t, eps_hat, z);
    close(small.x0Hat, g.x0_hat_unclipped, 'x0_hat_unclipped');
    close(small.mean, g.mean_unclipped_via_posterior, 'mean via posterior');
    close(posteriorMean(linear, t, small.x0Hat, x_t), g.mean_unclipped_via_posterior, 'posteriorMean');
    close(ddpmMeanEpsForm(linear, t, x_t, eps_hat), g.mean_unclipped_via_eps_form, 'mean via eps form');
    close(small.xPrev, g.x_prev_fixed_small_unclipped, 'x_prev fixed_small');
    const large = ddpmStep(linear, t, x_t, eps_hat, z, { varianceType: 'fixed_large' });
    close(large.xPrev, g.x_prev_fixed_large_unclipped, 'x_prev fixed_large');
  });
  it('clipped x0', () => {
    const r = ddpmStep(linear, t, x_t, eps_hat, z, { clipSample: true });
    close(r.x0Hat, g.x0_hat_clipped, 'x0_hat_clipped');
    close(r.xPrev, g.x_prev_fixed_small_clipped, 'x_prev fixed_small clipped');
  });
  it('adds no noise at t = 0', () => {
    const r = ddpmStep(linear, 0, x_t, eps_hat, 123);
    expect(r.xPrev).toBe(r.mean);
  });
});

describe('parameterizations_t500', () => {
  const g: Json = GOLDEN.parameterizations_t500;
  const { t, x0, eps } = g.inputs;
  const ab = linear.alphasCumprod[t]!;
  it('x_t, v and back', () => {
    expect(fields('parameterizations_t500')).toEqual(['eps_from_v', 'inputs', 'v', 'x0_from_v', 'x_t']);
    const xt = qSample(x0, eps, ab);
    close(xt, g.x_t, 'x_t');
    const v = vFromX0Eps(x0, eps, ab);
    close(v, g.v, 'v');
    close(x0FromV(g.x_t, g.v, ab), g.x0_from_v, 'x0_from_v');
    close(epsFromV(g.x_t, g.v, ab), g.eps_from_v, 'eps_from_v');
    close(x0FromEps(g.x_t, eps, ab), x0, 'x0 from eps');
  });
});

describe('min_snr_weights_linear_gamma5', () => {
  const g: Json = GOLDEN.min_snr_weights_linear_gamma5;
  for (const w of g.weights as Json[]) {
    it(`t=${w.t}`, () => {
      expect(Object.keys(w).sort()).toEqual(['pred_noise', 'pred_v', 'pred_x0', 'snr', 't']);
      const snr = linear.snr[w.t]!;
      close(snr, w.snr, 'snr');
      close(minSnrWeight(snr, 5, 'epsilon'), w.pred_noise, 'pred_noise');
      close(minSnrWeight(snr, 5, 'sample'), w.pred_x0, 'pred_x0');
      close(minSnrWeight(snr, 5, 'v_prediction'), w.pred_v, 'pred_v');
    });
  }
});

describe('timestep_embedding_dim8', () => {
  const g: Json = GOLDEN.timestep_embedding_dim8;
  const conv: Record<string, { flipSinToCos: boolean; downscaleFreqShift: number }> = {
    original_ddpm_lucidrains: { flipSinToCos: false, downscaleFreqShift: 1 },
    improved_diffusion_diffusers_unet2d: { flipSinToCos: true, downscaleFreqShift: 0 },
  };
  it('conventions are the two this test knows', () => {
    expect(Object.keys(g.conventions).sort()).toEqual(Object.keys(conv).sort());
    expect(g.conventions.original_ddpm_lucidrains).toMatch(/flip_sin_to_cos=false, shift=1/);
    expect(g.conventions.improved_diffusion_diffusers_unet2d).toMatch(/flip_sin_to_cos=true, shift=0/);
  });
  for (const row of g.values as Json[]) {
    it(`t=${row.t}`, () => {
      for (const [name, opts] of Object.entries(conv)) {
        closeArray(timestepEmbedding(row.t, 8, opts), row[name], `${name} t=${row.t}`);
      }
    });
  }
  it('odd dim pads one zero; dim 1 is [0]', () => {
    const e = timestepEmbedding(3, 5, { flipSinToCos: true, downscaleFreqShift: 0 });
    expect(e.length).toBe(5);
    expect(e[4]).toBe(0);
    expect(Array.from(timestepEmbedding(7, 1))).toEqual([0]);
  });
});

describe('classifier_free_guidance', () => {
  const g: Json = GOLDEN.classifier_free_guidance;
  const u = Float64Array.from(g.inputs.eps_uncond as number[]);
  const c = Float64Array.from(g.inputs.eps_cond as number[]);
  it('guided in both conventions', () => {
    expect(fields('classifier_free_guidance')).toEqual(['guided', 'inputs', 'rescaled_phi_0_7', 'std_cond_unbiased', 'std_guided_unbiased']);
    expect(g.inputs.guidance_scale_s).toBe(1 + g.inputs.ho_salimans_w);
    closeArray(classifierFreeGuidance(u, c, g.inputs.guidance_scale_s), g.guided, 'diffusers guided');
    closeArray(cfgHoSalimans(c, u, g.inputs.ho_salimans_w), g.guided, 'Ho & Salimans guided');
  });
  it('unbiased std and guidance rescale', () => {
    close(stdUnbiased(c), g.std_cond_unbiased, 'std(cond)');
    close(stdUnbiased(Float64Array.from(g.guided)), g.std_guided_unbiased, 'std(guided)');
    const guided = classifierFreeGuidance(u, c, g.inputs.guidance_scale_s);
    closeArray(rescaleNoiseCfg(guided, c, g.inputs.phi), g.rescaled_phi_0_7, 'rescaled phi=0.7');
  });
});

describe('dynamic_thresholding', () => {
  const g: Json = GOLDEN.dynamic_thresholding;
  const x0 = Float64Array.from(g.x0_hat as number[]);
  for (const cs of g.cases as Json[]) {
    it(`ratio=${cs.ratio} sample_max_value=${cs.sample_max_value}`, () => {
      expect(Object.keys(cs).sort()).toEqual(['ratio', 's_clamped', 's_quantile', 'sample_max_value', 'x0_thresholded']);
      const r = dynamicThreshold(x0, { ratio: cs.ratio, sampleMaxValue: cs.sample_max_value });
      close(r.sQuantile, cs.s_quantile, 's_quantile');
      close(quantileLinear(x0.map(Math.abs), cs.ratio), cs.s_quantile, 'quantileLinear');
      close(r.s, cs.s_clamped, 's_clamped');
      closeArray(r.x0, cs.x0_thresholded, 'x0_thresholded');
    });
  }
});

describe('vlb_terms', () => {
  const g: Json = GOLDEN.vlb_terms;
  it('fields', () => {
    expect(fields('vlb_terms')).toEqual(['decoder_logp_nats', 'learned_range_t500_v0', 'prior_kl_bits_per_dim_x0_eq_0', 'prior_kl_bits_per_dim_x0_eq_1']);
  });
  it('prior KL in bits/dim on linear T=1000', () => {
    close(priorBitsPerDim(linear, 1), g.prior_kl_bits_per_dim_x0_eq_1, 'prior bpd x0=1');
    close(priorBitsPerDim(linear, 0), g.prior_kl_bits_per_dim_x0_eq_0, 'prior bpd x0=0');
    close(priorBitsPerDim(linear, new Float64Array([1, -1, 1])), g.prior_kl_bits_per_dim_x0_eq_1, 'prior bpd mean over dims');
  });
  for (const d of g.decoder_logp_nats as Json[]) {
    it(`decoder log p at x=${d.x}`, () => {
      close(discretizedGaussianLogLikelihood(d.x, d.mean, d.log_scale), d.logp, `logp x=${d.x}`);
    });
  }
  it('learned range at t=500, v=0 is the geometric mean of beta and beta_tilde', () => {
    expect(Object.keys(g.learned_range_t500_v0).sort()).toEqual(['log_var', 'note']);
    close(learnedRangeLogVariance(linear, 500, 0), g.learned_range_t500_v0.log_var, 'learned range log var');
  });
  it('normal_kl and the cdf at textbook points', () => {
    expect(normalKl(0, 0, 0, 0)).toBe(0);
    close(normalKl(1, 0, 0, 0), 0.5, 'KL(N(1,1)||N(0,1)) = 1/2');
    close(approxStandardNormalCdf(0), 0.5, 'cdf(0)');
    expect(Math.abs(approxStandardNormalCdf(1.959963984540054) - 0.975)).toBeLessThan(2e-4); // tanh approximation error
  });
});
