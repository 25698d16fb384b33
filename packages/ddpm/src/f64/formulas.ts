// Scalar / Float64Array reference formulas (float64) that the tensor code mirrors.
// Elementwise functions take numbers or Float64Arrays (a number broadcasts against an array;
// arrays must have equal lengths) and return the same kind. t is the 0-based index of schedule.ts.

import type { Schedule } from '../schedule/schedule.ts';

export type Vec = number | Float64Array;

/** Apply a scalar formula elementwise over numbers and equal-length Float64Arrays. */
function ew<V extends Vec>(fn: string, f: (...a: number[]) => number, args: readonly Vec[]): V {
  let n = -1;
  for (const a of args) {
    if (typeof a === 'number') continue;
    if (!(a instanceof Float64Array)) throw new Error(`${fn}: arguments must be numbers or Float64Arrays, got ${typeof a}`);
    if (n === -1) n = a.length;
    else if (a.length !== n) throw new Error(`${fn}: array arguments must have equal lengths, got ${n} and ${a.length}`);
  }
  if (n === -1) return f(...(args as number[])) as V;
  const out = new Float64Array(n);
  const xs = new Array<number>(args.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < args.length; j++) {
      const a = args[j]!;
      xs[j] = typeof a === 'number' ? a : a[i]!;
    }
    out[i] = f(...xs);
  }
  return out as V;
}

function checkAlphaBar(fn: string, ab: number, allowZero = false): void {
  if (typeof ab !== 'number' || !(ab <= 1 && (ab > 0 || (allowZero && ab === 0)))) {
    throw new Error(`${fn}: alphaBar must be a number in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${String(ab)}`);
  }
}

function checkT(fn: string, s: Schedule, t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= s.T) {
    throw new Error(`${fn}: t must be an integer in [0, ${s.T - 1}] (0-based), got ${String(t)}`);
  }
}

const clip = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

// ---------------------------------------------------------------------------------------------
// Parameterizations. a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar).
// Ho et al. 2020 eq. 4: x_t = a x0 + s eps.  Salimans & Ho 2022 App. D: v = a eps - s x0,
// x0 = a x_t - s v, eps = a v + s x_t.

/** q(x_t | x_0) reparameterised: x_t = sqrt(ab) x0 + sqrt(1-ab) eps (Ho eq. 4). */
export function qSample<V extends Vec>(x0: V, eps: V, alphaBar: number): V {
  checkAlphaBar('qSample', alphaBar, true);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('qSample', (x, e) => a * x + s * e, [x0, eps]);
}

/** x0 = (x_t - sqrt(1-ab) eps)/sqrt(ab) (DDIM eq. 12 "predicted x0"; diffusers step). */
export function x0FromEps<V extends Vec>(xT: V, eps: V, alphaBar: number): V {
  checkAlphaBar('x0FromEps', alphaBar);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('x0FromEps', (x, e) => (x - s * e) / a, [xT, eps]);
}

/** eps = (x_t - sqrt(ab) x0)/sqrt(1-ab). Undefined at alpha_bar = 1. */
export function epsFromX0<V extends Vec>(xT: V, x0: V, alphaBar: number): V {
  checkAlphaBar('epsFromX0', alphaBar, true);
  if (alphaBar === 1) throw new Error(`epsFromX0: alphaBar must be < 1 (1 - alphaBar is a divisor), got 1`);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('epsFromX0', (x, x0v) => (x - a * x0v) / s, [xT, x0]);
}

/** v = sqrt(ab) eps - sqrt(1-ab) x0 (Salimans & Ho 2022; diffusers get_velocity). */
export function vFromX0Eps<V extends Vec>(x0: V, eps: V, alphaBar: number): V {
  checkAlphaBar('vFromX0Eps', alphaBar, true);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('vFromX0Eps', (x, e) => a * e - s * x, [x0, eps]);
}

/** x0 = sqrt(ab) x_t - sqrt(1-ab) v (lucidrains predict_start_from_v). */
export function x0FromV<V extends Vec>(xT: V, v: V, alphaBar: number): V {
  checkAlphaBar('x0FromV', alphaBar, true);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('x0FromV', (x, vv) => a * x - s * vv, [xT, v]);
}

/** eps = sqrt(ab) v + sqrt(1-ab) x_t (diffusers DDIM step, prediction_type='v_prediction'). */
export function epsFromV<V extends Vec>(xT: V, v: V, alphaBar: number): V {
  checkAlphaBar('epsFromV', alphaBar, true);
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  return ew('epsFromV', (x, vv) => a * vv + s * x, [xT, v]);
}

// ---------------------------------------------------------------------------------------------
// DDPM ancestral sampling (Ho et al. 2020 Algorithm 2, eq. 6, 7, 11).

/** Posterior mean of q(x_{t-1} | x_t, x_0): coef1[t] x0 + coef2[t] x_t (Ho eq. 7). */
export function posteriorMean<V extends Vec>(schedule: Schedule, t: number, x0: V, xT: V): V {
  checkT('posteriorMean', schedule, t);
  const c1 = schedule.posteriorMeanCoef1[t]!, c2 = schedule.posteriorMeanCoef2[t]!;
  return ew('posteriorMean', (x0v, x) => c1 * x0v + c2 * x, [x0, xT]);
}

/** eps-form mean (Ho eq. 11): (x_t - beta_t/sqrt(1-ab_t) eps)/sqrt(alpha_t). */
export function ddpmMeanEpsForm<V extends Vec>(schedule: Schedule, t: number, xT: V, eps: V): V {
  checkT('ddpmMeanEpsForm', schedule, t);
  const r = schedule.recipSqrtAlphas[t]!, c = schedule.betasOverSqrtOneMinusAlphasCumprod[t]!;
  return ew('ddpmMeanEpsForm', (x, e) => r * (x - c * e), [xT, eps]);
}

export type DdpmVarianceType = 'fixed_small' | 'fixed_large';

/**
 * One ancestral step from an eps prediction: x0_hat = x0FromEps (optionally clipped to
 * [-clipRange, clipRange]), mean = posteriorMean(x0_hat, x_t), x_{t-1} = mean + sqrt(var) z for
 * t > 0 and mean at t = 0. 'fixed_small': var = beta_tilde_t; 'fixed_large': var = beta_t (Ho Sec. 3.2).
 */
export function ddpmStep<V extends Vec>(
  schedule: Schedule,
  t: number,
  xT: V,
  epsHat: V,
  z: V,
  opts: { varianceType?: DdpmVarianceType; clipSample?: boolean; clipRange?: number } = {},
): { x0Hat: V; mean: V; xPrev: V } {
  const fn = 'ddpmStep';
  checkT(fn, schedule, t);
  const vt = opts.varianceType ?? 'fixed_small';
  if (vt !== 'fixed_small' && vt !== 'fixed_large') {
    throw new Error(`${fn}: unknown varianceType '${String(vt)}', expected 'fixed_small' or 'fixed_large'`);
  }
  const r = opts.clipRange ?? 1;
  let x0Hat = x0FromEps(xT, epsHat, schedule.alphasCumprod[t]!);
  if (opts.clipSample) x0Hat = ew<V>(fn, (x) => clip(x, -r, r), [x0Hat]);
  const mean = posteriorMean(schedule, t, x0Hat, xT);
  const variance = vt === 'fixed_small' ? schedule.posteriorVariance[t]! : schedule.betas[t]!;
  const std = t > 0 ? Math.sqrt(variance) : 0;
  const xPrev = ew<V>(fn, (m, zz) => m + std * zz, [mean, z]);
  return { x0Hat, mean, xPrev };
}

/** diffusers DDPMScheduler._get_variance('fixed_small_log'): log(max(beta_tilde_t, 1e-20)). */
export function posteriorLogVarianceDiffusers(schedule: Schedule, t: number): number {
  checkT('posteriorLogVarianceDiffusers', schedule, t);
  return Math.log(Math.max(schedule.posteriorVariance[t]!, 1e-20));
}

/**
 * improved-diffusion LEARNED_RANGE (Nichol & Dhariwal 2021 eq. 15): model output v in [-1, 1],
 * frac = (v+1)/2, log var = frac log(beta_t) + (1-frac) log(beta_tilde_t) (clipped at t=0).
 */
export function learnedRangeLogVariance<V extends Vec>(schedule: Schedule, t: number, v: V): V {
  checkT('learnedRangeLogVariance', schedule, t);
  const maxLog = Math.log(schedule.betas[t]!);
  const minLog = schedule.posteriorLogVarianceClipped[t]!;
  return ew('learnedRangeLogVariance', (vv) => {
    const frac = (vv + 1) / 2;
    return frac * maxLog + (1 - frac) * minLog;
  }, [v]);
}

// ---------------------------------------------------------------------------------------------
// DDIM (Song et al. 2021 eq. 12 and 16).

/**
 * alpha_bar at DDIM's previous timestep; prevT < 0 means past the end: 1 if setAlphaToOne
 * (diffusers final_alpha_cumprod default) else alpha_bar[0].
 */
export function ddimAlphaBarPrev(schedule: Schedule, prevT: number, setAlphaToOne = true): number {
  if (!Number.isInteger(prevT) || prevT >= schedule.T) {
    throw new Error(`ddimAlphaBarPrev: prevT must be an integer < ${schedule.T}, got ${String(prevT)}`);
  }
  if (prevT >= 0) return schedule.alphasCumprod[prevT]!;
  return setAlphaToOne ? 1 : schedule.alphasCumprod[0]!;
}

/**
 * DDIM eq. 16: sigma = eta sqrt((1-ab_prev)/(1-ab_t)) sqrt(1 - ab_t/ab_prev). alphaBarT may be 0
 * (the last step of a zero-terminal-SNR schedule, sampled with v-prediction).
 */
export function ddimSigma(alphaBarT: number, alphaBarPrev: number, eta: number): number {
  const fn = 'ddimSigma';
  checkAlphaBar(fn, alphaBarT, true);
  checkAlphaBar(fn, alphaBarPrev);
  if (typeof eta !== 'number' || !(eta >= 0 && Number.isFinite(eta))) {
    throw new Error(`${fn}: eta must be a finite number >= 0, got ${String(eta)}`);
  }
  if (eta === 0) return 0;
  if (alphaBarPrev < alphaBarT) {
    throw new Error(`${fn}: with eta > 0 alphaBarPrev must be >= alphaBarT, got alphaBarPrev=${alphaBarPrev} < alphaBarT=${alphaBarT}`);
  }
  if (alphaBarT === 1) return 0;
  return eta * Math.sqrt((1 - alphaBarPrev) / (1 - alphaBarT)) * Math.sqrt(1 - alphaBarT / alphaBarPrev);
}

/**
 * The coefficients of one DDIM step. With x0_hat from eps (no clipping):
 * x_prev = x0Coef x0_hat + epsDirCoef eps + sigma z = A x_t + B eps + sigma z, where
 * x0Coef = sqrt(ab_prev), epsDirCoef = sqrt(1 - ab_prev - sigma^2),
 * A = sqrt(ab_prev/ab_t), B = epsDirCoef - sqrt(ab_prev) sqrt(1-ab_t)/sqrt(ab_t)
 * (A = +Infinity and B = -Infinity at ab_t = 0, where only the x0/eps form is usable).
 */
export function ddimCoefficients(alphaBarT: number, alphaBarPrev: number, eta = 0): {
  sigma: number; x0Coef: number; epsDirCoef: number; A: number; B: number;
} {
  const sigma = ddimSigma(alphaBarT, alphaBarPrev, eta);
  const dir2 = 1 - alphaBarPrev - sigma * sigma;
  if (!(dir2 >= -1e-15)) {
    throw new Error(`ddimCoefficients: 1 - alphaBarPrev - sigma^2 must be >= 0, got ${dir2} (eta=${eta} too large)`);
  }
  const x0Coef = Math.sqrt(alphaBarPrev);
  const epsDirCoef = Math.sqrt(Math.max(dir2, 0));
  const A = Math.sqrt(alphaBarPrev / alphaBarT);
  const B = epsDirCoef - (x0Coef * Math.sqrt(1 - alphaBarT)) / Math.sqrt(alphaBarT);
  return { sigma, x0Coef, epsDirCoef, A, B };
}

/**
 * One DDIM step from an eps prediction (Song et al. 2021 eq. 12):
 * x0_hat = (x_t - sqrt(1-ab_t) eps)/sqrt(ab_t), optionally clipped to [-clipRange, clipRange];
 * with useClippedModelOutput eps is re-derived from the clipped x0_hat (improved-diffusion,
 * lucidrains; diffusers only when use_clipped_model_output=True);
 * x_prev = sqrt(ab_prev) x0_hat + sqrt(1-ab_prev-sigma^2) eps + sigma z.
 */
export function ddimStep<V extends Vec>(args: {
  xT: V; epsHat: V; z?: V; alphaBarT: number; alphaBarPrev: number; eta?: number;
  clipSample?: boolean; clipRange?: number; useClippedModelOutput?: boolean;
}): { x0Hat: V; eps: V; xPrev: V; sigma: number } {
  const fn = 'ddimStep';
  const { xT, epsHat, alphaBarT, alphaBarPrev } = args;
  const eta = args.eta ?? 0;
  const c = ddimCoefficients(alphaBarT, alphaBarPrev, eta);
  if (c.sigma > 0 && args.z === undefined) throw new Error(`${fn}: z (noise) is required when eta > 0 (sigma=${c.sigma})`);
  const r = args.clipRange ?? 1;
  let x0Hat = x0FromEps(xT, epsHat, alphaBarT);
  if (args.clipSample) x0Hat = ew<V>(fn, (x) => clip(x, -r, r), [x0Hat]);
  const eps = args.clipSample && args.useClippedModelOutput ? epsFromX0(xT, x0Hat, alphaBarT) : epsHat;
  const z = args.z ?? 0;
  const xPrev = ew<V>(fn, (x0v, e, zz) => c.x0Coef * x0v + c.epsDirCoef * e + c.sigma * zz, [x0Hat, eps, z]);
  return { x0Hat, eps, xPrev, sigma: c.sigma };
}

// ---------------------------------------------------------------------------------------------
// Loss weighting: Min-SNR-gamma (Hang et al. 2023, arXiv 2303.09556; lucidrains loss_weight).

export type Prediction = 'epsilon' | 'sample' | 'v_prediction';

/**
 * w = min(snr, gamma)/snr for eps-prediction, min(snr, gamma) for x0-prediction,
 * min(snr, gamma)/(snr + 1) for v-prediction. At snr = 0 (zero terminal SNR) the
 * eps weight is its limit 1 rather than 0/0.
 */
export function minSnrWeight(snr: number, gamma: number, prediction: Prediction): number {
  const fn = 'minSnrWeight';
  if (typeof snr !== 'number' || !(snr >= 0)) throw new Error(`${fn}: snr must be a number >= 0, got ${String(snr)}`);
  if (typeof gamma !== 'number' || !(gamma > 0)) throw new Error(`${fn}: gamma must be a number > 0, got ${String(gamma)}`);
  const c = Math.min(snr, gamma);
  switch (prediction) {
    case 'epsilon': return snr === 0 ? 1 : c / snr;
    case 'sample': return c;
    case 'v_prediction': return c / (snr + 1);
    default:
      throw new Error(`${fn}: unknown prediction '${String(prediction)}', expected 'epsilon', 'sample' or 'v_prediction'`);
  }
}

// ---------------------------------------------------------------------------------------------
// Sinusoidal timestep embedding (Vaswani et al. 2017 Sec. 3.5 as used by Ho et al. 2020).

export interface TimestepEmbeddingOptions {
  /** [cos, sin] instead of [sin, cos]. Default false (diffusers default; original DDPM). */
  flipSinToCos?: boolean;
  /** freq_i = exp(-ln(maxPeriod) i/(half - shift)). Default 1 (diffusers default; original DDPM). */
  downscaleFreqShift?: number;
  /** Multiplies the arguments t*freq. Default 1. */
  scale?: number;
  /** Default 10000. */
  maxPeriod?: number;
}

/**
 * diffusers get_timestep_embedding for one t: half = floor(dim/2),
 * freq_i = exp(-ln(maxPeriod) i / (half - shift)), i = 0..half-1; emb = [sin(t freq), cos(t freq)]
 * ([cos, sin] if flipped); an odd dim gets a trailing 0.
 * flipSinToCos=false, shift=1: original DDPM (hojonathanho get_timestep_embedding, lucidrains).
 * flipSinToCos=true,  shift=0: improved-diffusion timestep_embedding, diffusers UNet2DModel.
 */
export function timestepEmbedding(t: number, dim: number, opts: TimestepEmbeddingOptions = {}): Float64Array {
  const fn = 'timestepEmbedding';
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${fn}: dim must be an integer >= 1, got ${String(dim)}`);
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new Error(`${fn}: t must be a finite number, got ${String(t)}`);
  const shift = opts.downscaleFreqShift ?? 1;
  const scale = opts.scale ?? 1;
  const maxPeriod = opts.maxPeriod ?? 10000;
  const half = Math.floor(dim / 2);
  if (half > 0 && !(half - shift > 0)) {
    throw new Error(`${fn}: dim/2 - downscaleFreqShift must be > 0, got dim=${dim}, downscaleFreqShift=${shift}`);
  }
  const out = new Float64Array(dim);
  const [first, second] = opts.flipSinToCos ? [Math.cos, Math.sin] : [Math.sin, Math.cos];
  for (let i = 0; i < half; i++) {
    const freq = Math.exp((-Math.log(maxPeriod) * i) / (half - shift));
    const arg = scale * (t * freq);
    out[i] = first(arg);
    out[half + i] = second(arg);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Classifier-free guidance (Ho & Salimans 2022) and guidance rescale (Lin et al. 2023 Sec. 3.4).

/** diffusers form: uncond + s (cond - uncond); s = 1 + w. */
export function classifierFreeGuidance<V extends Vec>(uncond: V, cond: V, guidanceScale: number): V {
  return ew('classifierFreeGuidance', (u, c) => u + guidanceScale * (c - u), [uncond, cond]);
}

/** Ho & Salimans 2022 eq. 6: (1 + w) eps(c) - w eps(0). Equal to classifierFreeGuidance with s = 1 + w. */
export function cfgHoSalimans<V extends Vec>(cond: V, uncond: V, w: number): V {
  return ew('cfgHoSalimans', (c, u) => (1 + w) * c - w * u, [cond, uncond]);
}

/** Bessel-corrected (n-1) standard deviation, as torch.std's default. */
export function stdUnbiased(x: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) throw new Error(`stdUnbiased: needs at least 2 values, got ${n}`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i]! - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/**
 * diffusers rescale_noise_cfg (Lin et al. 2023 Sec. 3.4) for one sample (all its elements):
 * rescaled = guided std(cond)/std(guided); out = phi rescaled + (1 - phi) guided.
 */
export function rescaleNoiseCfg(guided: Float64Array, cond: Float64Array, phi: number): Float64Array {
  const fn = 'rescaleNoiseCfg';
  if (guided.length !== cond.length) throw new Error(`${fn}: guided and cond must have equal lengths, got ${guided.length} and ${cond.length}`);
  if (typeof phi !== 'number' || !(phi >= 0 && phi <= 1)) throw new Error(`${fn}: phi must be in [0, 1], got ${String(phi)}`);
  const sg = stdUnbiased(guided);
  if (sg === 0) throw new Error(`${fn}: std(guided) is 0, cannot rescale`);
  const ratio = stdUnbiased(cond) / sg;
  return guided.map((g) => phi * (g * ratio) + (1 - phi) * g);
}

// ---------------------------------------------------------------------------------------------
// Dynamic thresholding (Saharia et al. 2022 Sec. 2.3; diffusers _threshold_sample).

/** torch.quantile(x, q) with the default 'linear' interpolation: sorted[i] + (sorted[j]-sorted[i]) (pos - i). */
export function quantileLinear(x: ArrayLike<number>, q: number): number {
  const fn = 'quantileLinear';
  if (x.length < 1) throw new Error(`${fn}: needs at least 1 value, got 0`);
  if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new Error(`${fn}: q must be in [0, 1], got ${String(q)}`);
  const s = Float64Array.from(x).sort();
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/**
 * For one sample: s = quantile(|x0|, ratio), s = clamp(s, 1, sampleMaxValue),
 * x0 = clamp(x0, -s, s)/s. sampleMaxValue = 1 makes it plain clipping to [-1, 1].
 */
export function dynamicThreshold(
  x0: Float64Array,
  opts: { ratio?: number; sampleMaxValue?: number } = {},
): { sQuantile: number; s: number; x0: Float64Array } {
  const fn = 'dynamicThreshold';
  const ratio = opts.ratio ?? 0.995;
  const maxV = opts.sampleMaxValue ?? 1;
  if (typeof maxV !== 'number' || !(maxV >= 1)) throw new Error(`${fn}: sampleMaxValue must be >= 1, got ${String(maxV)}`);
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) throw new Error(`${fn}: ratio must be in [0, 1], got ${String(ratio)}`);
  const sQuantile = quantileLinear(x0.map(Math.abs), ratio);
  const s = clip(sQuantile, 1, maxV);
  return { sQuantile, s, x0: x0.map((v) => clip(v, -s, s) / s) };
}

// ---------------------------------------------------------------------------------------------
// Variational bound terms (Ho et al. 2020 eq. 5; improved-diffusion losses.py, from hojonathanho).

/** KL(N(m1, e^lv1) || N(m2, e^lv2)) = 0.5 (-1 + lv2 - lv1 + e^(lv1-lv2) + (m1-m2)^2 e^(-lv2)), in nats. */
export function normalKl<V extends Vec>(mean1: V, logvar1: V, mean2: V, logvar2: V): V {
  return ew('normalKl', (m1, lv1, m2, lv2) =>
    0.5 * (-1 + lv2 - lv1 + Math.exp(lv1 - lv2) + (m1 - m2) ** 2 * Math.exp(-lv2)), [mean1, logvar1, mean2, logvar2]);
}

/** Page 1974 tanh approximation of the standard normal CDF: 0.5(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))). */
export function approxStandardNormalCdf<V extends Vec>(x: V): V {
  return ew('approxStandardNormalCdf', (v) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), [x]);
}

/**
 * Log-likelihood (nats) of data x in [-1, 1] discretised to 256 bins of width 2/255 under
 * N(mean, exp(logScale)^2) (Ho et al. 2020 eq. 13): log(cdf(x+1/255) - cdf(x-1/255)) in
 * standardised units, with the edge bins open: x < -0.999 uses log cdf(x+1/255),
 * x > 0.999 uses log(1 - cdf(x-1/255)). Probabilities are clamped at 1e-12 before the log.
 */
export function discretizedGaussianLogLikelihood<V extends Vec>(x: V, mean: V, logScale: V): V {
  const cdf = (v: number) => approxStandardNormalCdf(v);
  return ew('discretizedGaussianLogLikelihood', (xv, m, ls) => {
    const c = xv - m;
    const invStd = Math.exp(-ls);
    const cdfPlus = cdf(invStd * (c + 1 / 255));
    const cdfMin = cdf(invStd * (c - 1 / 255));
    if (xv < -0.999) return Math.log(Math.max(cdfPlus, 1e-12));
    if (xv > 0.999) return Math.log(Math.max(1 - cdfMin, 1e-12));
    return Math.log(Math.max(cdfPlus - cdfMin, 1e-12));
  }, [x, mean, logScale]);
}

/**
 * Prior term L_T in bits/dim (improved-diffusion _prior_bpd): mean over elements of
 * KL(q(x_{T-1} | x0) || N(0, I)) / ln 2, with q mean sqrt(ab[T-1]) x0 and log-variance log(1 - ab[T-1]).
 */
export function priorBitsPerDim(schedule: Schedule, x0: Vec): number {
  const T = schedule.T;
  const a = schedule.sqrtAlphasCumprod[T - 1]!;
  const lv = schedule.logOneMinusAlphasCumprod[T - 1]!;
  const kl = (x: number) => normalKl(a * x, lv, 0, 0);
  if (typeof x0 === 'number') return kl(x0) / Math.log(2);
  if (x0.length < 1) throw new Error(`priorBitsPerDim: x0 must not be empty`);
  let sum = 0;
  for (let i = 0; i < x0.length; i++) sum += kl(x0[i]!);
  return sum / x0.length / Math.log(2);
}
