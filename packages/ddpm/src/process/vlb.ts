// Terms of the variational bound (Ho et al. 2020 eq. 5; improved-diffusion losses.py and
// GaussianDiffusion._vb_terms_bpd / _prior_bpd / calc_bpd_loop, ported from hojonathanho), in
// bits per dimension: KL per timestep, the discretized decoder NLL at t = 0, and the prior KL.

import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor, TensorLike } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import { checkSameShape, checkTensor, checkTimesteps, coefArg, ddpmError, gatherCoef, timestepTensor, type Timesteps } from './coef.ts';
import { checkPrediction, predictionToX0Eps, qSample, type PredictionType } from './forward.ts';
import { callModel, type Model } from '../models/model.ts';
import { clipX0 } from '../sampling/guidance.ts';

const LN2 = Math.log(2);

/** KL(N(m1, e^lv1) || N(m2, e^lv2)) = 0.5 (-1 + lv2 - lv1 + e^(lv1 - lv2) + (m1 - m2)^2 e^(-lv2)), nats, elementwise. */
export function normalKl(mean1: TensorLike, logvar1: TensorLike, mean2: TensorLike, logvar2: TensorLike): Tensor {
  if (![mean1, logvar1, mean2, logvar2].some(T.isTensor)) throw ddpmError('normalKl', 'at least one argument must be a Tensor');
  if (typeof logvar1 === 'number' && typeof logvar2 === 'number') {
    // Both log-variances are host numbers (fixed variances): the variance part of the KL is a
    // float64 constant, which keeps its cancellation (-1 - x + e^x for small x) exact.
    const c = 0.5 * (-1 + logvar2 - logvar1 + Math.exp(logvar1 - logvar2));
    return T.tidy(() => T.add(T.mul(T.square(T.sub(mean1, mean2)), 0.5 * Math.exp(-logvar2)), c));
  }
  return T.tidy(() => {
    const d = T.sub(mean1, mean2);
    const lvd = T.sub(logvar1, logvar2); // lv1 - lv2
    const invVar2 = typeof logvar2 === 'number' ? Math.exp(-logvar2) : T.exp(T.neg(logvar2));
    const terms = T.add(T.add(T.sub(T.neg(lvd), 1), T.exp(lvd)), T.mul(T.square(d), invVar2));
    return T.mul(terms, 0.5);
  });
}

/** 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Page 1977; improved-diffusion approx_standard_normal_cdf). */
export function approxStandardNormalCdf(x: Tensor): Tensor {
  checkTensor('approxStandardNormalCdf', 'x', x);
  return T.tidy(() => T.mul(T.add(T.tanh(T.mul(T.add(x, T.mul(T.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1), 0.5));
}

/**
 * Log-likelihood (nats, elementwise) of data x in [-1, 1] discretized to 256 bins under
 * N(mean, exp(logScale)^2) (Ho et al. 2020 eq. 13): log(cdf((x - mean + 1/255)/sd) - cdf((x - mean - 1/255)/sd)),
 * with the edge bins open (x < -0.999: log cdf(plus); x > 0.999: log(1 - cdf(min))) and
 * probabilities clamped at 1e-12 before the log.
 */
export function discretizedGaussianLogLikelihood(x: Tensor, mean: TensorLike, logScale: TensorLike): Tensor {
  const fn = 'discretizedGaussianLogLikelihood';
  checkTensor(fn, 'x', x);
  return T.tidy(() => {
    const centered = T.sub(x, mean);
    const invStd = T.exp(T.neg(typeof logScale === 'number' ? T.fullLike(x, logScale) : logScale));
    const cdfPlus = approxStandardNormalCdf(T.mul(invStd, T.add(centered, 1 / 255)));
    const cdfMin = approxStandardNormalCdf(T.mul(invStd, T.sub(centered, 1 / 255)));
    const logCdfPlus = T.log(T.maximum(cdfPlus, 1e-12));
    const logOneMinusCdfMin = T.log(T.maximum(T.sub(1, cdfMin), 1e-12));
    const logDelta = T.log(T.maximum(T.sub(cdfPlus, cdfMin), 1e-12));
    return T.where(T.less(x, -0.999), logCdfPlus, T.where(T.greater(x, 0.999), logOneMinusCdfMin, logDelta));
  });
}

function meanFlat(x: Tensor): Tensor {
  return x.rank <= 1 ? T.clone(x) : T.mean(x, x.shape.slice(1).map((_, i) => i + 1));
}

/**
 * Prior term L_T per sample, bits/dim (improved-diffusion _prior_bpd): mean over elements of
 * KL(q(x_{T-1} | x0) || N(0, I)) / ln 2, q with mean sqrt(ab[T-1]) x0 and log-variance log(1 - ab[T-1]).
 */
export function priorBpd(schedule: Schedule, x0: Tensor): Tensor {
  checkTensor('priorBpd', 'x0', x0);
  const Tm1 = schedule.T - 1;
  const a = schedule.sqrtAlphasCumprod[Tm1]!, lv = schedule.logOneMinusAlphasCumprod[Tm1]!;
  return T.tidy(() => T.mul(meanFlat(normalKl(T.mul(x0, a), lv, 0, 0)), 1 / LN2));
}

/** Log-variance of the reverse step p(x_{t-1} | x_t) at timesteps t for a fixed variance type (improved-diffusion). */
export function modelLogVariance(schedule: Schedule, t: number, variance: DdpmVarianceType): number {
  if (variance === 'fixed_small') return schedule.posteriorLogVarianceClipped[t]!;
  if (variance === 'fixed_large') {
    // log(append(posterior_variance[1], betas[1:])): beta_tilde_1 at t = 0, as improved-diffusion
    return Math.log(t === 0 ? (schedule.T > 1 ? schedule.posteriorVariance[1]! : schedule.betas[0]!) : schedule.betas[t]!);
  }
  throw ddpmError('modelLogVariance', `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
}

/**
 * improved-diffusion LEARNED_RANGE (Nichol & Dhariwal 2021 eq. 15): model output v in [-1, 1],
 * log var = frac log(beta_t) + (1 - frac) log(beta_tilde_t) (clipped at t = 0), frac = (v + 1)/2.
 */
export function learnedRangeLogVariance(schedule: Schedule, t: Timesteps, v: Tensor): Tensor {
  const fn = 'learnedRangeLogVariance';
  checkTensor(fn, 'v', v);
  const tt = checkTimesteps(fn, schedule, t, v.shape[0] ?? 1);
  const maxLog = gatherCoef(schedule.betas.map(Math.log), tt);
  const minLog = gatherCoef(schedule.posteriorLogVarianceClipped, tt);
  return T.tidy(() => {
    const frac = T.mul(T.add(v, 1), 0.5);
    return T.add(T.mul(frac, coefArg(maxLog, v)), T.mul(T.sub(1, frac), coefArg(minLog, v)));
  });
}

/**
 * The bound term at timestep t per sample, in bits/dim (improved-diffusion _vb_terms_bpd):
 * t > 0: KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)) with p's mean the posterior mean at x0Hat
 * and p's log-variance from `variance`; t = 0: the decoder NLL -log p(x0 | x_1-mean) of the
 * 256-bin discretization (data in [-1, 1]). One t for the whole batch.
 */
export function vbTermBpd(schedule: Schedule, args: { x0: Tensor; xt: Tensor; t: number; x0Hat: Tensor; variance?: DdpmVarianceType }): Tensor {
  const fn = 'vbTermBpd';
  const { x0, xt, x0Hat, t } = args;
  checkTensor(fn, 'x0', x0); checkTensor(fn, 'xt', xt); checkTensor(fn, 'x0Hat', x0Hat);
  checkSameShape(fn, 'x0', x0, 'xt', xt); checkSameShape(fn, 'x0', x0, 'x0Hat', x0Hat);
  checkTimesteps(fn, schedule, t, x0.shape[0] ?? 1);
  const c1 = schedule.posteriorMeanCoef1[t]!, c2 = schedule.posteriorMeanCoef2[t]!;
  const trueLogVar = schedule.posteriorLogVarianceClipped[t]!;
  const modelLogVar = modelLogVariance(schedule, t, args.variance ?? 'fixed_small');
  return T.tidy(() => {
    const modelMean = T.add(T.mul(x0Hat, c1), T.mul(xt, c2));
    if (t === 0) {
      return T.mul(meanFlat(discretizedGaussianLogLikelihood(x0, modelMean, 0.5 * modelLogVar)), -1 / LN2);
    }
    const trueMean = T.add(T.mul(x0, c1), T.mul(xt, c2));
    return T.mul(meanFlat(normalKl(trueMean, trueLogVar, modelMean, modelLogVar)), 1 / LN2);
  });
}

export interface BoundOptions {
  schedule: Schedule;
  key: RandomKey;
  prediction?: PredictionType | 'v';
  variance?: DdpmVarianceType;
  /** Clip x0Hat to [-1, 1] (improved-diffusion clip_denoised). Default true: the bound is for data in [-1, 1]. */
  clip?: boolean;
  cond?: Tensor;
}

/**
 * The full variational bound in bits/dim per sample (improved-diffusion calc_bpd_loop):
 * total = sum_t vbTermBpd(t) + priorBpd, with x_t ~ q(x_t | x0) drawn independently for each t.
 * Runs the model T times on the batch. Returns { total [B], prior [B], terms [B, T] (terms[:, t]) }.
 */
export function variationalBound(model: Model, x0: Tensor, opts: BoundOptions): { total: Tensor; prior: Tensor; terms: Tensor } {
  const fn = 'variationalBound';
  checkTensor(fn, 'x0', x0);
  const { schedule } = opts;
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const B = x0.shape[0]!;
  const cols: Tensor[] = [];
  try {
    for (let t = 0; t < schedule.T; t++) {
      cols.push(T.tidy(() => {
        const noise = T.useBackend(x0.backend, () => T.randomNormal(T.foldIn(opts.key, t), x0.shape));
        const xt = qSample(schedule, x0, t, noise);
        const out = callModel(fn, model, xt, timestepTensor(t, B, x0), opts.cond);
        let { x0: x0Hat } = predictionToX0Eps(prediction, xt, out, schedule.alphasCumprod[t]!);
        if (opts.clip ?? true) x0Hat = clipX0(x0Hat, 1);
        return vbTermBpd(schedule, { x0, xt, t, x0Hat, variance: opts.variance });
      }));
    }
    return T.tidy(() => {
      const terms = T.stack(cols, 1);
      const prior = priorBpd(schedule, x0);
      return { total: T.add(T.sum(terms, 1), prior), prior, terms };
    });
  } finally {
    for (const c of cols) c.dispose();
  }
}
