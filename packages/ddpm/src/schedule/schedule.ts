// Noise schedules in float64 (no tensors). Conventions (see shared/DESIGN.md and the `meta`
// block of shared/ddpm-golden.json):
//   * t is a 0-based index 0..T-1 (diffusers, improved-diffusion, hojonathanho/diffusion);
//     the paper's step number is t+1.
//   * alpha_bar[t] = prod_{s<=t} (1 - beta[s]),  alpha_bar[-1] := 1.
// Derived arrays mirror improved-diffusion's GaussianDiffusion.__init__ term by term (same
// float64 operation order), so they agree with the golden file to the last few ulps.

import { linspace } from './numeric.ts';

export type ScheduleKind = 'linear' | 'scaled_linear' | 'cosine' | 'sigmoid';

export interface ScheduleOptions {
  /** First beta (linear, scaled_linear, sigmoid geodiff). Default 1e-4 (0.00085 for scaled_linear). */
  betaStart?: number;
  /** Last beta (linear, scaled_linear, sigmoid geodiff). Default 0.02 (0.012 for scaled_linear). */
  betaEnd?: number;
  /** improved-diffusion get_named_beta_schedule('linear', T): multiply betaStart/betaEnd by 1000/T. */
  scaleToT?: boolean;
  /** Cosine offset s of Nichol & Dhariwal 2021 eq. 17. Default 0.008. */
  s?: number;
  /** Cap on each beta for 'cosine' (betas_for_alpha_bar) and 'sigmoid' lucidrains. Default 0.999. */
  maxBeta?: number;
  /** 'geodiff' (diffusers / ermongroup, default) or 'lucidrains' (denoising-diffusion-pytorch). */
  sigmoidVariant?: 'geodiff' | 'lucidrains';
  /** lucidrains sigmoid_beta_schedule(start, end, tau). Defaults -3, 3, 1. */
  sigmoidStart?: number;
  sigmoidEnd?: number;
  tau?: number;
  /** Lin et al. 2023 Algorithm 1 (diffusers rescale_zero_terminal_snr): alpha_bar[T-1] becomes 0. */
  rescaleZeroTerminalSnr?: boolean;
}

/** All arrays have length T and are indexed by the 0-based t. */
export interface Schedule {
  readonly T: number;
  /** Which generator made it; 'custom' for scheduleFromBetas. */
  readonly kind: ScheduleKind | 'custom';
  readonly betas: Float64Array;
  /** alpha[t] = 1 - beta[t] */
  readonly alphas: Float64Array;
  /** alpha_bar[t] = prod_{s<=t} alpha[s] */
  readonly alphasCumprod: Float64Array;
  /** alpha_bar[t-1], with alpha_bar[-1] = 1 */
  readonly alphasCumprodPrev: Float64Array;
  /** sqrt(alpha_bar) */
  readonly sqrtAlphasCumprod: Float64Array;
  /** sqrt(1 - alpha_bar) */
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** log(1 - alpha_bar) (improved-diffusion log_one_minus_alphas_cumprod; q(x_t|x_0) log-variance) */
  readonly logOneMinusAlphasCumprod: Float64Array;
  /** sqrt(1/alpha_bar) */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** sqrt(1/alpha_bar - 1) (= sigma of the equivalent VE process, sqrt((1-ab)/ab)) */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** beta_tilde[t] = beta[t](1-alpha_bar[t-1])/(1-alpha_bar[t])  (Ho et al. 2020 eq. 7); 0 at t=0 */
  readonly posteriorVariance: Float64Array;
  /** log(beta_tilde) with t=0 replaced by beta_tilde[1] (improved-diffusion), so it is finite */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** coefficient of x_0 in the posterior mean: beta[t] sqrt(alpha_bar[t-1]) / (1-alpha_bar[t]) */
  readonly posteriorMeanCoef1: Float64Array;
  /** coefficient of x_t in the posterior mean: (1-alpha_bar[t-1]) sqrt(alpha[t]) / (1-alpha_bar[t]) */
  readonly posteriorMeanCoef2: Float64Array;
  /** 1/sqrt(alpha[t])  (Ho eq. 11 eps-form mean: mu = (x_t - beta/sqrt(1-ab) eps)/sqrt(alpha)) */
  readonly recipSqrtAlphas: Float64Array;
  /** beta[t]/sqrt(1-alpha_bar[t])  (Ho eq. 11, coefficient of eps inside the bracket) */
  readonly betasOverSqrtOneMinusAlphasCumprod: Float64Array;
  /** SNR = alpha_bar/(1-alpha_bar)  (Kingma et al. 2021) */
  readonly snr: Float64Array;
  /** log SNR (natural log); -Infinity where alpha_bar = 0 (zero terminal SNR) */
  readonly logSnr: Float64Array;
  /** lambda = log(alpha/sigma) = 0.5 log SNR (DPM-Solver's lambda_t) */
  readonly halfLogSnr: Float64Array;
}

/** A respaced schedule (improved-diffusion SpacedDiffusion): step k runs original step timestepMap[k]. */
export type RespacedSchedule = Schedule & { readonly timestepMap: readonly number[] };

const KINDS: readonly string[] = ['linear', 'scaled_linear', 'cosine', 'sigmoid'];

function fmt(x: unknown): string {
  return typeof x === 'string' ? `'${x}'` : String(x);
}

function checkT(fn: string, T: number): void {
  if (typeof T !== 'number' || !Number.isInteger(T) || T < 1) {
    throw new Error(`${fn}: T must be an integer >= 1, got ${fmt(T)}`);
  }
}

function checkProb(fn: string, name: string, v: number): void {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
    throw new Error(`${fn}: ${name} must be a number in (0, 1], got ${fmt(v)}`);
  }
}

function checkFinite(fn: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`${fn}: ${name} must be a finite number, got ${fmt(v)}`);
  }
}

/**
 * Nichol & Dhariwal 2021 eq. 17: f(u) = cos((u+s)/(1+s) * pi/2)^2, u = t/T in [0,1].
 * alpha_bar(t) of the cosine schedule is f(t/T)/f(0) before the beta cap.
 */
export function cosineAlphaBar(u: number, s = 0.008): number {
  return Math.cos(((u + s) / (1 + s)) * Math.PI / 2) ** 2;
}

/** improved-diffusion / diffusers betas_for_alpha_bar: beta[i] = min(1 - f((i+1)/T)/f(i/T), maxBeta). */
function cosineBetas(T: number, s: number, maxBeta: number): Float64Array {
  const b = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const t1 = i / T;
    const t2 = (i + 1) / T;
    b[i] = Math.min(1 - cosineAlphaBar(t2, s) / cosineAlphaBar(t1, s), maxBeta);
  }
  return b;
}

/** diffusers beta_schedule='sigmoid' (GeoDiff) = ermongroup/ddim get_beta_schedule('sigmoid'). */
function sigmoidGeodiffBetas(T: number, betaStart: number, betaEnd: number): Float64Array {
  const x = linspace(-6, 6, T);
  const b = new Float64Array(T);
  for (let i = 0; i < T; i++) b[i] = (1 / (Math.exp(-x[i]!) + 1)) * (betaEnd - betaStart) + betaStart;
  return b;
}

/**
 * lucidrains denoising-diffusion-pytorch sigmoid_beta_schedule(T, start, end, tau) (Jabri et al. 2022):
 * u = linspace(0, T, T+1)/T; ac(u) = (v_end - sigmoid((u(end-start)+start)/tau))/(v_end - v_start),
 * normalised by ac(0); beta[i] = clip(1 - ac[i+1]/ac[i], 0, maxBeta).
 */
function sigmoidLucidrainsBetas(T: number, start: number, end: number, tau: number, maxBeta: number): Float64Array {
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const u = linspace(0, T, T + 1);
  const vStart = sig(start / tau);
  const vEnd = sig(end / tau);
  const ac = new Float64Array(T + 1);
  for (let i = 0; i <= T; i++) ac[i] = (-sig(((u[i]! / T) * (end - start) + start) / tau) + vEnd) / (vEnd - vStart);
  const ac0 = ac[0]!;
  for (let i = 0; i <= T; i++) ac[i] = ac[i]! / ac0;
  const b = new Float64Array(T);
  for (let i = 0; i < T; i++) b[i] = Math.min(Math.max(1 - ac[i + 1]! / ac[i]!, 0), maxBeta);
  return b;
}

/**
 * Lin et al. 2023 "Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1
 * (diffusers rescale_zero_terminal_snr): shift and scale sqrt(alpha_bar) so that the last one is 0
 * and the first is unchanged, then convert back to betas. The last returned beta is exactly 1.
 */
export function rescaleZeroTerminalSnr(betas: ArrayLike<number>): Float64Array {
  const T = betas.length;
  if (T < 2) {
    throw new Error(`rescaleZeroTerminalSnr: needs at least 2 betas, got ${T}`);
  }
  const sq = new Float64Array(T);
  let ac = 1;
  for (let t = 0; t < T; t++) {
    const b = betas[t]!;
    checkBeta('rescaleZeroTerminalSnr', b, t, false, T);
    ac *= 1 - b;
    sq[t] = Math.sqrt(ac);
  }
  const s0 = sq[0]!;
  const sT = sq[T - 1]!;
  if (!(s0 > sT)) {
    throw new Error(`rescaleZeroTerminalSnr: sqrt(alpha_bar) must decrease from t=0 to t=T-1, got ${s0} and ${sT}`);
  }
  const scale = s0 / (s0 - sT); // diffusers: s -= s_T; s *= s_0/(s_0 - s_T)
  const out = new Float64Array(T);
  let prev = 1;
  for (let t = 0; t < T; t++) {
    const abNew = ((sq[t]! - sT) * scale) ** 2;
    out[t] = 1 - (t === 0 ? abNew : abNew / prev); // alpha'[0] = ab'[0], alpha'[t] = ab'[t]/ab'[t-1]
    prev = abNew;
  }
  return out;
}

function checkBeta(fn: string, b: number, t: number, allowTerminalOne: boolean, T: number): void {
  const ok = b > 0 && (b < 1 || (b === 1 && allowTerminalOne && t === T - 1));
  if (!ok) {
    throw new Error(
      `${fn}: betas[${t}] must be in (0, 1) (1 is allowed only for the last beta of a ` +
        `zero-terminal-SNR schedule), got ${fmt(b)}`,
    );
  }
}

/**
 * Check that alpha_bar (with alpha_bar[-1] = 1) is strictly decreasing and in [0, 1].
 * A beta too small to change 1-beta in float64, or a cumprod that underflows, fails here.
 */
function checkAlphasCumprod(fn: string, ac: ArrayLike<number>, allowTerminalZero: boolean): void {
  let prev = 1;
  for (let t = 0; t < ac.length; t++) {
    const a = ac[t]!;
    if (!(a < prev)) {
      throw new Error(
        `${fn}: alpha_bar must be strictly decreasing in (0, 1] (alpha_bar[-1] = 1), ` +
          `got alpha_bar[${t}] = ${a} after alpha_bar[${t - 1}] = ${prev}`,
      );
    }
    if (!(a > 0 || (a === 0 && allowTerminalZero && t === ac.length - 1))) {
      throw new Error(
        `${fn}: alpha_bar must be > 0 (0 is allowed only at the last step of a zero-terminal-SNR ` +
          `schedule; a cumprod that underflows also gives 0), got alpha_bar[${t}] = ${a} of ${ac.length}`,
      );
    }
    prev = a;
  }
}

/**
 * Build every derived array from betas. `allowTerminalBetaOne` admits beta[T-1] = 1
 * (alpha_bar[T-1] = 0), which only a zero-terminal-SNR rescale produces.
 */
export function scheduleFromBetas(
  betas: ArrayLike<number>,
  opts: { allowTerminalBetaOne?: boolean; kind?: ScheduleKind | 'custom'; fn?: string } = {},
): Schedule {
  const fn = opts.fn ?? 'scheduleFromBetas';
  const T = betas.length;
  if (T < 1) throw new Error(`${fn}: betas must have length >= 1, got ${T}`);
  const allow = opts.allowTerminalBetaOne ?? false;
  for (let t = 0; t < T; t++) checkBeta(fn, betas[t]!, t, allow, T);

  const mk = () => new Float64Array(T);
  const b = Float64Array.from(betas);
  const alphas = mk(), ac = mk(), acPrev = mk();
  let p = 1;
  for (let t = 0; t < T; t++) {
    alphas[t] = 1 - b[t]!;
    acPrev[t] = p;
    p *= alphas[t]!; // np.cumprod: left-to-right running product
    ac[t] = p;
  }
  checkAlphasCumprod(fn, ac, allow);

  const sqrtAc = mk(), sqrt1mAc = mk(), log1mAc = mk(), sqrtRecip = mk(), sqrtRecipm1 = mk();
  const pv = mk(), plv = mk(), c1 = mk(), c2 = mk(), rsa = mk(), epsC = mk();
  const snr = mk(), logSnr = mk(), halfLogSnr = mk();
  for (let t = 0; t < T; t++) {
    const a = ac[t]!, ap = acPrev[t]!, bt = b[t]!;
    sqrtAc[t] = Math.sqrt(a);
    sqrt1mAc[t] = Math.sqrt(1 - a);
    log1mAc[t] = Math.log(1 - a);
    sqrtRecip[t] = Math.sqrt(1 / a);
    sqrtRecipm1[t] = Math.sqrt(1 / a - 1);
    // Ho et al. 2020 eq. 7 (improved-diffusion posterior_variance / posterior_mean_coef1/2)
    pv[t] = (bt * (1 - ap)) / (1 - a);
    c1[t] = (bt * Math.sqrt(ap)) / (1 - a);
    c2[t] = ((1 - ap) * Math.sqrt(alphas[t]!)) / (1 - a);
    // Ho et al. 2020 eq. 11
    rsa[t] = 1 / Math.sqrt(alphas[t]!);
    epsC[t] = bt / Math.sqrt(1 - a);
    snr[t] = a / (1 - a);
    logSnr[t] = Math.log(snr[t]!);
    halfLogSnr[t] = 0.5 * logSnr[t]!;
  }
  // improved-diffusion: log(append(posterior_variance[1], posterior_variance[1:])), because
  // beta_tilde[0] = 0. With T = 1 there is no beta_tilde[1]: fall back to diffusers' 1e-20 clamp.
  for (let t = 0; t < T; t++) {
    const v = t === 0 ? (T > 1 ? pv[1]! : Math.max(pv[0]!, 1e-20)) : pv[t]!;
    plv[t] = Math.log(v);
  }

  return Object.freeze({
    T,
    kind: opts.kind ?? 'custom',
    betas: b,
    alphas,
    alphasCumprod: ac,
    alphasCumprodPrev: acPrev,
    sqrtAlphasCumprod: sqrtAc,
    sqrtOneMinusAlphasCumprod: sqrt1mAc,
    logOneMinusAlphasCumprod: log1mAc,
    sqrtRecipAlphasCumprod: sqrtRecip,
    sqrtRecipm1AlphasCumprod: sqrtRecipm1,
    posteriorVariance: pv,
    posteriorLogVarianceClipped: plv,
    posteriorMeanCoef1: c1,
    posteriorMeanCoef2: c2,
    recipSqrtAlphas: rsa,
    betasOverSqrtOneMinusAlphasCumprod: epsC,
    snr,
    logSnr,
    halfLogSnr,
  });
}

/**
 * Named schedules:
 *  - 'linear': betas = linspace(betaStart, betaEnd, T) (Ho et al. 2020 Sec. 4; diffusers 'linear';
 *    improved-diffusion 'linear' when scaleToT, which multiplies both ends by 1000/T).
 *  - 'scaled_linear': linspace(sqrt(betaStart), sqrt(betaEnd), T)^2 (diffusers / Stable Diffusion,
 *    hojonathanho 'quad'); defaults 0.00085 .. 0.012.
 *  - 'cosine': Nichol & Dhariwal 2021 eq. 17 via betas_for_alpha_bar (diffusers 'squaredcos_cap_v2').
 *  - 'sigmoid': 'geodiff' = sigmoid(linspace(-6,6,T))*(betaEnd-betaStart)+betaStart (diffusers,
 *    ermongroup/ddim); 'lucidrains' = denoising-diffusion-pytorch sigmoid_beta_schedule.
 * `rescaleZeroTerminalSnr` then applies Lin et al. 2023 Algorithm 1.
 */
export function makeSchedule(kind: ScheduleKind, T = 1000, opts: ScheduleOptions = {}): Schedule {
  const fn = 'makeSchedule';
  if (!KINDS.includes(kind as string)) {
    throw new Error(`${fn}: unknown schedule kind ${fmt(kind)}, expected one of ${KINDS.map(fmt).join(', ')}`);
  }
  checkT(fn, T);
  const maxBeta = opts.maxBeta ?? 0.999;
  if (typeof maxBeta !== 'number' || !(maxBeta > 0 && maxBeta < 1)) {
    throw new Error(`${fn}: maxBeta must be a number in (0, 1), got ${fmt(maxBeta)}`);
  }
  let betas: Float64Array;
  switch (kind) {
    case 'linear': {
      let bs = opts.betaStart ?? 1e-4;
      let be = opts.betaEnd ?? 0.02;
      checkProb(fn, 'betaStart', bs);
      checkProb(fn, 'betaEnd', be);
      if (opts.scaleToT) {
        const scale = 1000 / T; // improved-diffusion get_named_beta_schedule('linear')
        bs = scale * bs;
        be = scale * be;
      }
      betas = linspace(bs, be, T);
      break;
    }
    case 'scaled_linear': {
      const bs = opts.betaStart ?? 0.00085;
      const be = opts.betaEnd ?? 0.012;
      checkProb(fn, 'betaStart', bs);
      checkProb(fn, 'betaEnd', be);
      betas = linspace(Math.sqrt(bs), Math.sqrt(be), T).map((x) => x * x);
      break;
    }
    case 'cosine': {
      const s = opts.s ?? 0.008;
      if (typeof s !== 'number' || !(s >= 0 && Number.isFinite(s))) {
        throw new Error(`${fn}: cosine offset s must be a finite number >= 0, got ${fmt(s)}`);
      }
      betas = cosineBetas(T, s, maxBeta);
      break;
    }
    case 'sigmoid': {
      const variant = opts.sigmoidVariant ?? 'geodiff';
      if (variant === 'geodiff') {
        const bs = opts.betaStart ?? 1e-4;
        const be = opts.betaEnd ?? 0.02;
        checkProb(fn, 'betaStart', bs);
        checkProb(fn, 'betaEnd', be);
        betas = sigmoidGeodiffBetas(T, bs, be);
      } else if (variant === 'lucidrains') {
        const start = opts.sigmoidStart ?? -3;
        const end = opts.sigmoidEnd ?? 3;
        const tau = opts.tau ?? 1;
        checkFinite(fn, 'sigmoidStart', start);
        checkFinite(fn, 'sigmoidEnd', end);
        if (typeof tau !== 'number' || !(tau > 0 && Number.isFinite(tau))) {
          throw new Error(`${fn}: tau must be a finite number > 0, got ${fmt(tau)}`);
        }
        if (!(end > start)) {
          throw new Error(`${fn}: sigmoidEnd must be > sigmoidStart, got start=${start}, end=${end}`);
        }
        betas = sigmoidLucidrainsBetas(T, start, end, tau, maxBeta);
      } else {
        throw new Error(`${fn}: unknown sigmoidVariant ${fmt(variant)}, expected 'geodiff' or 'lucidrains'`);
      }
      break;
    }
  }
  // Validate the generated betas before a rescale so the message points at the named schedule.
  for (let t = 0; t < T; t++) checkBeta(`${fn}(${fmt(kind)}, T=${T})`, betas[t]!, t, false, T);
  if (opts.rescaleZeroTerminalSnr) {
    if (T < 2) throw new Error(`${fn}: rescaleZeroTerminalSnr needs T >= 2, got ${T}`);
    betas = rescaleZeroTerminalSnr(betas);
  }
  return scheduleFromBetas(betas, {
    allowTerminalBetaOne: opts.rescaleZeroTerminalSnr ?? false,
    kind,
    fn: `${fn}(${fmt(kind)}, T=${T})`,
  });
}

/**
 * Inverse of the cumprod: beta[k] = 1 - alpha_bar[k]/alpha_bar[k-1], alpha_bar[-1] = 1.
 * Requires alpha_bar strictly decreasing in (0, 1] (a final 0 is allowed: beta = 1).
 */
export function betasFromAlphasCumprod(alphasCumprod: ArrayLike<number>): Float64Array {
  const fn = 'betasFromAlphasCumprod';
  if (alphasCumprod.length < 1) throw new Error(`${fn}: alphasCumprod must have length >= 1, got 0`);
  checkAlphasCumprod(fn, alphasCumprod, true);
  const out = new Float64Array(alphasCumprod.length);
  let last = 1;
  for (let k = 0; k < out.length; k++) {
    out[k] = 1 - alphasCumprod[k]! / last;
    last = alphasCumprod[k]!;
  }
  return out;
}

/**
 * improved-diffusion respace.py SpacedDiffusion: keep the original steps in `useTimesteps`
 * (any order, sorted here; duplicates rejected) and give them the betas that reproduce the same
 * alpha_bar at those steps: new_beta[k] = 1 - alpha_bar[tau_k]/alpha_bar[tau_{k-1}], alpha_bar[tau_{-1}] = 1.
 * The model for respaced step k must be called with the original t = timestepMap[k]
 * (respacing a respaced schedule composes the maps).
 */
export function respace(schedule: Schedule, useTimesteps: readonly number[]): RespacedSchedule {
  const fn = 'respace';
  if (!Array.isArray(useTimesteps) || useTimesteps.length < 1) {
    throw new Error(`${fn}: useTimesteps must be a non-empty array of integers in [0, ${schedule.T - 1}], got ${fmt(useTimesteps)}`);
  }
  const seen = new Set<number>();
  for (const t of useTimesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= schedule.T) {
      throw new Error(`${fn}: every timestep must be an integer in [0, ${schedule.T - 1}], got ${fmt(t)}`);
    }
    if (seen.has(t)) throw new Error(`${fn}: duplicate timestep ${t} in useTimesteps`);
    seen.add(t);
  }
  const kept = [...seen].sort((a, b) => a - b);
  const ac = kept.map((t) => schedule.alphasCumprod[t]!);
  // Respacing a respaced schedule composes the maps, so timestepMap always names original steps.
  const inner = (schedule as Partial<RespacedSchedule>).timestepMap;
  const timestepMap = inner ? kept.map((k) => inner[k]!) : kept;
  const newBetas = betasFromAlphasCumprod(ac);
  const lastIsZeroSnr = ac[ac.length - 1] === 0;
  const base = scheduleFromBetas(newBetas, { allowTerminalBetaOne: lastIsZeroSnr, kind: schedule.kind, fn });
  return Object.freeze({ ...base, timestepMap: Object.freeze(timestepMap) });
}
