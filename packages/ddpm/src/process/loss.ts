// Training losses: the simple loss of Ho et al. 2020 (eq. 14, L_simple) for eps-prediction and
// its x0- and v-prediction counterparts, with optional Min-SNR-gamma weighting (Hang et al. 2023).

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import { threefry2x32, type RandomKey, type Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import { minSnrWeight } from '../f64/formulas.ts';
import { checkTimesteps, type Timesteps } from './coef.ts';
import { checkPrediction, type PredictionType } from './forward.ts';
import { callModel, type Model } from '../models/model.ts';

/**
 * `n` timesteps uniform on 0..T-1, computed on the host from `key` (Threefry, the derivation of
 * tensor's randomInt: floor(bits / 2^32 * T)), so training never reads a tensor back.
 */
export function sampleTimesteps(key: RandomKey, n: number, T: number): Int32Array {
  const fn = 'sampleTimesteps';
  if (!Number.isInteger(n) || n < 1) throw opError(fn, `n must be an integer >= 1, got ${n}`);
  if (!Number.isInteger(T) || T < 1) throw opError(fn, `T must be an integer >= 1, got ${T}`);
  const [k0, k1] = key.words;
  const out = new Int32Array(n);
  for (let j = 0; j < n; j++) out[j] = Math.floor((threefry2x32(k0, k1, j, 2)[0] / 2 ** 32) * T);
  return out;
}

/** Min-SNR-gamma weights for timesteps t (host float64; see formulas.ts minSnrWeight). */
export function minSnrWeights(schedule: Schedule, t: Timesteps, gamma: number, prediction: PredictionType | 'v'): Float64Array {
  const p = checkPrediction('minSnrWeights', prediction);
  const tt = checkTimesteps('minSnrWeights', schedule, t, typeof t === 'number' ? 1 : t.length);
  const list = typeof tt === 'number' ? [tt] : tt;
  return Float64Array.from(list, (v) => minSnrWeight(schedule.snr[v]!, gamma, p));
}

export interface DiffusionLossOptions {
  schedule: Schedule;
  /** Host timesteps, one per sample (or one for all). Default: uniform on 0..T-1 from `key`. */
  t?: Timesteps;
  /** The eps of q(x_t | x_0). Default: standard normal from `key`. */
  noise?: Tensor;
  /** Needed unless both `t` and `noise` are given. */
  key?: RandomKey;
  /** What the model predicts. Default 'epsilon' (L_simple). */
  prediction?: PredictionType | 'v';
  /** Min-SNR-gamma weighting (Hang et al. 2023); gamma = 5 in the paper. Default: none (weight 1). */
  minSnrGamma?: number;
  /** Passed to the model as its third argument. */
  cond?: Tensor;
  /** 'mean' (default): a scalar; 'none': the weighted per-sample losses [B]. */
  reduction?: 'mean' | 'none';
}

/**
 * The denoising loss: t ~ U{0..T-1}, eps ~ N(0, I), x_t = qSample(x0, t, eps),
 * loss_b = w(t_b) mean_over_elements((model(x_t, t, cond) - target)^2), loss = mean_b loss_b,
 * with target eps ('epsilon', Ho et al. 2020 L_simple), x0 ('sample') or
 * v = sqrt(ab) eps - sqrt(1-ab) x0 ('v_prediction'), and w = 1 or the Min-SNR-gamma weight
 * (min(snr, gamma)/snr, min(snr, gamma), min(snr, gamma)/(snr + 1) respectively).
 * Differentiable in whatever the model closes over (use inside valueAndGrad).
 */
export function diffusionLoss(model: Model, x0: Tensor, opts: DiffusionLossOptions): Tensor {
  const fn = 'diffusionLoss';
  checkTensor(fn, 'x0', x0);
  if (!opts || typeof opts !== 'object' || !opts.schedule) throw opError(fn, 'opts.schedule is required');
  const { schedule } = opts;
  if (x0.rank < 2) throw opError(fn, `x0 must have shape [B, ...features] (rank >= 2), got [${x0.shape.join(', ')}]`);
  const B = x0.shape[0]!;
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'none') throw opError(fn, `reduction must be 'mean' or 'none', got '${String(reduction)}'`);
  if ((opts.t === undefined || opts.noise === undefined) && opts.key === undefined) {
    throw opError(fn, 'opts.key is required unless both opts.t and opts.noise are given');
  }
  const [kt, kn] = opts.key ? T.splitKey(opts.key, 2) : [undefined, undefined];
  const t = opts.t ?? sampleTimesteps(kt!, B, schedule.T);
  const tt = checkTimesteps(fn, schedule, t, B);
  const tList = typeof tt === 'number' ? new Array<number>(B).fill(tt) : tt;
  if (opts.noise !== undefined) {
    checkTensor(fn, 'noise', opts.noise);
    if (opts.noise.shape.join() !== x0.shape.join()) {
      throw opError(fn, `noise has shape [${opts.noise.shape.join(', ')}] but x0 has shape [${x0.shape.join(', ')}]; expected equal shapes`);
    }
  }
  let weights: Float64Array | null = null;
  if (opts.minSnrGamma !== undefined) {
    if (typeof opts.minSnrGamma !== 'number' || !(opts.minSnrGamma > 0) || !Number.isFinite(opts.minSnrGamma)) {
      throw opError(fn, `minSnrGamma must be a finite number > 0, got ${String(opts.minSnrGamma)}`);
    }
    weights = minSnrWeights(schedule, tList, opts.minSnrGamma, prediction);
  }
  const host = lossCoefficients(schedule, tList, weights);
  return T.tidy(() => {
    const noise = opts.noise ?? T.useBackend(x0.backend, () => T.randomNormal(kn!, x0.shape));
    const coefs = uploadLossCoefficients(host, x0);
    return diffusionLossWith(model, x0, noise, coefs, { prediction, cond: opts.cond, reduction });
  });
}

/** The host (float64) per-sample values the loss math needs, gathered from the schedule for timesteps t. */
export interface HostLossCoefficients {
  /** The timesteps, as the model receives them (float values of integers). */
  t: Float64Array;
  /** sqrt(alpha_bar_t) per sample. */
  sqrtAlphaBar: Float64Array;
  /** sqrt(1 - alpha_bar_t) per sample. */
  sqrtOneMinusAlphaBar: Float64Array;
  /** Min-SNR weights per sample, or null (weight 1). */
  weights: Float64Array | null;
}

/** The per-sample loss coefficients of `diffusionLossWith`, as tensors. */
export interface LossCoefficients {
  /** [B]: the timesteps the model gets. */
  t: Tensor;
  /** [B, 1, ..., 1] (broadcasts against x0). */
  sqrtAlphaBar: Tensor;
  /** [B, 1, ..., 1]. */
  sqrtOneMinusAlphaBar: Tensor;
  /** [B], or null (no weighting). */
  weights: Tensor | null;
}

/** Gather the host coefficients of timesteps `t` (validated by the caller) and optional weights. */
export function lossCoefficients(schedule: Schedule, t: readonly number[] | Int32Array, weights: Float64Array | null): HostLossCoefficients {
  return {
    t: Float64Array.from(t),
    sqrtAlphaBar: Float64Array.from(t, (v) => schedule.sqrtAlphasCumprod[v]!),
    sqrtOneMinusAlphaBar: Float64Array.from(t, (v) => schedule.sqrtOneMinusAlphasCumprod[v]!),
    weights,
  };
}

/** Upload host loss coefficients next to `x0` ([B, ...]) in the shapes diffusionLossWith takes. */
export function uploadLossCoefficients(c: HostLossCoefficients, x0: Tensor): LossCoefficients {
  const B = x0.shape[0]!;
  const col = [B, ...x0.shape.slice(1).map(() => 1)];
  return T.useBackend(x0.backend, () => ({
    t: T.tensor(c.t, [B]),
    sqrtAlphaBar: T.tensor(c.sqrtAlphaBar, col),
    sqrtOneMinusAlphaBar: T.tensor(c.sqrtOneMinusAlphaBar, col),
    weights: c.weights ? T.tensor(c.weights, [B]) : null,
  }));
}

/**
 * The loss math of `diffusionLoss` with every per-sample value given as a tensor (so a compiled
 * training step passes them as arguments): x_t = sqrtAlphaBar x0 + sqrtOneMinusAlphaBar noise,
 * out = model(x_t, t, cond), target eps / x0 / v = sqrtAlphaBar noise - sqrtOneMinusAlphaBar x0,
 * loss_b = weights_b mean((out - target)^2), mean over b unless reduction 'none'. No host reads,
 * no uploads: traceable. diffusionLoss gathers and uploads the coefficients and calls this.
 */
export function diffusionLossWith(
  model: Model, x0: Tensor, noise: Tensor, c: LossCoefficients,
  opts: { prediction?: PredictionType | 'v'; cond?: Tensor; reduction?: 'mean' | 'none' } = {},
): Tensor {
  const fn = 'diffusionLoss';
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const B = x0.shape[0]!;
  return T.tidy(() => {
    const xt = T.add(T.mul(x0, c.sqrtAlphaBar), T.mul(noise, c.sqrtOneMinusAlphaBar));
    const out = callModel(fn, model, xt, c.t, opts.cond);
    const target = prediction === 'epsilon' ? noise
      : prediction === 'sample' ? x0
        : T.sub(T.mul(noise, c.sqrtAlphaBar), T.mul(x0, c.sqrtOneMinusAlphaBar));
    const axes = x0.shape.slice(1).map((_, i) => i + 1);
    let perSample = T.mean(T.square(T.sub(out, target)), axes); // [B]
    if (c.weights) perSample = T.mul(perSample, T.reshape(c.weights, [B]));
    return (opts.reduction ?? 'mean') === 'mean' ? T.mean(perSample) : perSample;
  });
}
