// Classifier-free guidance (Ho & Salimans 2022), guidance rescale (Lin et al. 2023 Sec. 3.4),
// x0 clipping and dynamic thresholding (Saharia et al. 2022 Sec. 2.3), as tensor ops over a
// batch [B, ...]: per-sample statistics are over all non-batch dimensions.

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { quantileLinear } from '../f64/formulas.ts';
import { checkSameShape, checkTensor, coefArg, ddpmError, fmtShape } from '../process/coef.ts';

function nonBatchAxes(x: Tensor): number[] {
  return x.shape.slice(1).map((_, i) => i + 1);
}

/**
 * guided = uncond + s (cond - uncond) (diffusers' guidance_scale s; Ho & Salimans' w = s - 1:
 * (1 + w) cond - w uncond). s = 1 gives cond, s = 0 uncond.
 */
export function classifierFreeGuidance(uncond: Tensor, cond: Tensor, scale: number): Tensor {
  const fn = 'classifierFreeGuidance';
  checkTensor(fn, 'uncond', uncond); checkTensor(fn, 'cond', cond); checkSameShape(fn, 'uncond', uncond, 'cond', cond);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw ddpmError(fn, `scale must be a finite number, got ${String(scale)}`);
  return T.tidy(() => T.add(uncond, T.mul(T.sub(cond, uncond), scale)));
}

/** Bessel-corrected (n - 1) standard deviation per sample over the non-batch dims, shape [B, 1, ..., 1]. */
export function stdPerSample(x: Tensor): Tensor {
  const fn = 'stdPerSample';
  checkTensor(fn, 'x', x);
  const axes = nonBatchAxes(x);
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  if (x.rank < 2 || n < 2) throw ddpmError(fn, `needs at least 2 elements per sample (shape [B, ...] with rank >= 2), got ${fmtShape(x.shape)}`);
  return T.tidy(() => T.sqrt(T.mul(T.variance(x, axes, true), n / (n - 1))));
}

/**
 * diffusers rescale_noise_cfg (Lin et al. 2023 Sec. 3.4): per sample,
 * rescaled = guided std(cond)/std(guided) (torch.std, n - 1), out = phi rescaled + (1 - phi) guided.
 */
export function rescaleNoiseCfg(guided: Tensor, cond: Tensor, phi: number): Tensor {
  const fn = 'rescaleNoiseCfg';
  checkTensor(fn, 'guided', guided); checkTensor(fn, 'cond', cond); checkSameShape(fn, 'guided', guided, 'cond', cond);
  if (typeof phi !== 'number' || !(phi >= 0 && phi <= 1)) throw ddpmError(fn, `phi must be in [0, 1], got ${String(phi)}`);
  return T.tidy(() => {
    const ratio = T.div(stdPerSample(cond), stdPerSample(guided));
    const rescaled = T.mul(guided, ratio);
    return T.add(T.mul(rescaled, phi), T.mul(guided, 1 - phi));
  });
}

/** Clip x0 to [-range, range] (diffusers clip_sample / clip_sample_range, improved-diffusion clip_denoised). */
export function clipX0(x0: Tensor, range = 1): Tensor {
  const fn = 'clipX0';
  checkTensor(fn, 'x0', x0);
  if (typeof range !== 'number' || !(range > 0) || !Number.isFinite(range)) throw ddpmError(fn, `range must be a finite number > 0, got ${String(range)}`);
  return T.clip(x0, -range, range);
}

export interface DynamicThresholdOptions {
  /** Percentile of |x0| per sample (diffusers dynamic_thresholding_ratio). Default 0.995. */
  ratio?: number;
  /** Upper bound of the threshold s (diffusers sample_max_value). Default 1 (plain clipping). */
  maxValue?: number;
}

/** Validated options of dynamic thresholding. */
export function checkThresholdOptions(fn: string, opts: DynamicThresholdOptions): { ratio: number; maxValue: number } {
  const ratio = opts.ratio ?? 0.995;
  const maxValue = opts.maxValue ?? 1;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) throw ddpmError(fn, `ratio must be in [0, 1], got ${String(ratio)}`);
  if (typeof maxValue !== 'number' || !(maxValue >= 1) || !Number.isFinite(maxValue)) throw ddpmError(fn, `maxValue must be a finite number >= 1, got ${String(maxValue)}`);
  return { ratio, maxValue };
}

/**
 * The per-sample thresholds of dynamic thresholding: s_b = clamp(quantile(|x0_b|, ratio), 1, maxValue)
 * (torch.quantile with linear interpolation over the flattened sample). Reads x0 back to the host
 * (the quantile is a sort); returns the raw quantiles too.
 */
export async function dynamicThresholdScales(x0: Tensor, opts: DynamicThresholdOptions = {}): Promise<{ quantile: Float64Array; s: Float64Array }> {
  const fn = 'dynamicThreshold';
  checkTensor(fn, 'x0', x0);
  const { ratio, maxValue } = checkThresholdOptions(fn, opts);
  if (x0.rank < 1 || x0.size === 0) throw ddpmError(fn, `x0 must be a non-empty batch [B, ...], got ${fmtShape(x0.shape)}`);
  const B = x0.shape[0]!;
  const per = x0.size / B;
  const data = await x0.data();
  const quantile = new Float64Array(B);
  const s = new Float64Array(B);
  const abs = new Float64Array(per);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < per; i++) abs[i] = Math.abs(data[b * per + i]!);
    quantile[b] = quantileLinear(abs, ratio);
    if (!Number.isFinite(quantile[b]!)) throw ddpmError(fn, `sample ${b} of x0 has a non-finite value (quantile ${quantile[b]}); the model output diverged`);
    s[b] = Math.min(Math.max(quantile[b]!, 1), maxValue);
  }
  return { quantile, s };
}

/** Apply known per-sample thresholds: clamp(x0, -s, s)/s. */
export function applyThreshold(x0: Tensor, s: ArrayLike<number>): Tensor {
  return T.tidy(() => {
    const sc = coefArg(s, x0);
    return T.div(T.minimum(T.maximum(x0, T.neg(sc as Tensor)), sc), sc);
  });
}

/**
 * Dynamic thresholding (Imagen; diffusers _threshold_sample): per sample
 * s = clamp(quantile(|x0|, ratio), 1, maxValue), x0 <- clamp(x0, -s, s)/s.
 */
export async function dynamicThreshold(x0: Tensor, opts: DynamicThresholdOptions = {}): Promise<Tensor> {
  const { s } = await dynamicThresholdScales(x0, opts);
  return applyThreshold(x0, s);
}
