// Sampling: one entry point, `sample(model, opts)`, for every sampler. The timestep lists are the
// ones diffusers computes (timesteps.ts), coefficients come from the float64 schedule, and each
// step is a function of steps.ts, so the golden tests of those functions cover this loop.

import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { respace, type Schedule } from '../schedule/schedule.ts';
import { ddimPrevTimestep, dpmSolverMultistepTimesteps, timesteps as spacedTimesteps, type Spacing } from '../schedule/timesteps.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import { checkTensor, ddpmError, fmtShape, timestepTensor } from '../process/coef.ts';
import { checkPrediction, epsFromX0, predictionToX0Eps, type PredictionType } from '../process/forward.ts';
import { callModel, type Model } from '../models/model.ts';
import { checkThresholdOptions, classifierFreeGuidance, clipX0, dynamicThreshold, rescaleNoiseCfg } from './guidance.ts';
import { ddimStep, ddpmStep, dpmSolverPlusPlusStep, eulerStep } from './steps.ts';

export type SamplerName = 'ddpm' | 'ddim' | 'dpmsolver++' | 'euler';
export const SAMPLERS: readonly SamplerName[] = ['ddpm', 'ddim', 'dpmsolver++', 'euler'];

/**
 * What to do with each x0 estimate: false (nothing, the default), true or { kind: 'clip', range }
 * (clip to [-range, range], range 1 by default), or { kind: 'dynamic', ratio, maxValue } (Imagen
 * dynamic thresholding, diffusers defaults ratio 0.995, maxValue 1).
 */
export type ClipOption = boolean | { kind: 'clip'; range?: number } | { kind: 'dynamic'; ratio?: number; maxValue?: number };

export interface GuidanceOptions {
  /** guided = uncond + scale (cond - uncond) (diffusers' guidance_scale; Ho & Salimans' w = scale - 1). */
  scale: number;
  /** The null condition: cond's shape, or one row of it ([1, ...] or cond.shape.slice(1)), broadcast over the batch. */
  nullCond: Tensor;
  /** Guidance rescale phi in [0, 1] (Lin et al. 2023; diffusers guidance_rescale). Default 0 (off). */
  rescale?: number;
}

/** What onStep sees; the tensors are valid during the call only (clone one to keep it). */
export interface StepInfo {
  /** 0-based index of this step among `steps`. */
  index: number;
  steps: number;
  /** The timestep the model was called with (0-based). */
  t: number;
  /** The timestep the step moves to; -1 means the end (alpha_bar = 1, clean data). */
  prevT: number;
  /** x_t, the input of this step. */
  x: Tensor;
  /** The x0 estimate at this step (after clipping / thresholding). */
  x0: Tensor;
  /** The output of this step, x_{prevT}. */
  next: Tensor;
}

export interface SampleOptions {
  /** Shape of the samples, [B, ...]. */
  shape: readonly number[];
  schedule: Schedule;
  sampler: SamplerName;
  /** Number of model evaluations (per guidance pass). Default: T for 'ddpm', min(50, T) otherwise. */
  steps?: number;
  /** Randomness: x_T and the per-step noise (keys are split/folded, never reused). */
  key: RandomKey;
  /** Replaces the random x_T (not disposed by sample). Must have `shape`. */
  init?: Tensor;
  /** What the model predicts. Default 'epsilon'. */
  prediction?: PredictionType | 'v';
  clip?: ClipOption;
  guidance?: GuidanceOptions;
  /** Passed to the model as its third argument ([B, ...]). */
  cond?: Tensor;
  /** Called after every step (awaited if it returns a promise). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** ddim: 0 (deterministic, default) .. 1 (DDPM-like). */
  eta?: number;
  /** ddpm: 'fixed_small' (beta tilde, default) or 'fixed_large' (beta). */
  variance?: DdpmVarianceType;
  /** Timestep spacing (diffusers timestep_spacing). Default 'leading' for ddpm/ddim, 'linspace' for dpmsolver++/euler. */
  spacing?: Spacing;
  /** diffusers steps_offset (used by 'leading'). Default 0. */
  offset?: number;
  /** ddim: re-derive eps from the clipped x0 (improved-diffusion, lucidrains). Default false (diffusers). */
  useClippedModelOutput?: boolean;
}

export interface SamplingPlan {
  /** The model timesteps, in sampling order (descending). */
  timesteps: number[];
  /** For each step, the timestep it moves to (-1 = the end: alpha_bar = 1). */
  prev: number[];
}

const SPACINGS: readonly string[] = ['leading', 'trailing', 'linspace'];

function defaultSpacing(sampler: SamplerName): Spacing {
  return sampler === 'ddpm' || sampler === 'ddim' ? 'leading' : 'linspace';
}

/**
 * The timesteps a sampler visits and where each step lands, as diffusers computes them:
 *  - ddpm: all of T-1..0 when steps = T, else timesteps(T, steps, spacing, offset); each step
 *    moves to the next listed timestep (improved-diffusion respacing, diffusers DDPMScheduler.previous_timestep).
 *  - ddim: timesteps(T, steps, spacing, offset); prev_t = t - T//steps (DDIMScheduler.step, for every spacing).
 *  - dpmsolver++: dpmSolverMultistepTimesteps(T, steps, spacing, offset); the next listed timestep.
 *  - euler: timesteps(T, steps, spacing, offset); the next listed timestep.
 * A prev of -1 (or below) is the end: alpha_bar = 1 (set_alpha_to_one, final sigma 0).
 */
export function samplingPlan(sampler: SamplerName, T: number, steps: number, spacing?: Spacing, offset = 0): SamplingPlan {
  const fn = 'sample';
  if (!(SAMPLERS as readonly string[]).includes(sampler)) {
    throw ddpmError(fn, `unknown sampler ${typeof sampler === 'string' ? `'${sampler}'` : String(sampler)}, expected one of ${SAMPLERS.map((s) => `'${s}'`).join(', ')}`);
  }
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > T) {
    throw ddpmError(fn, `steps must be an integer in [1, T=${T}] (T = the schedule's number of training timesteps), got ${String(steps)}`);
  }
  const sp = spacing ?? defaultSpacing(sampler);
  if (!SPACINGS.includes(sp as string)) {
    throw ddpmError(fn, `unknown spacing ${typeof sp === 'string' ? `'${sp}'` : String(sp)}, expected one of 'leading', 'trailing', 'linspace'`);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw ddpmError(fn, `offset (steps_offset) must be an integer >= 0, got ${String(offset)}`);
  }
  let ts: number[];
  if (sampler === 'ddpm' && steps === T) ts = Array.from({ length: T }, (_, i) => T - 1 - i);
  else if (sampler === 'dpmsolver++') ts = dpmSolverMultistepTimesteps(T, steps, sp, offset);
  else ts = spacedTimesteps(T, steps, sp, offset);
  ts.forEach((t, i) => {
    if (t < 0 || t >= T) throw ddpmError(fn, `spacing '${sp}' with offset ${offset} gives timestep ${t} outside [0, ${T - 1}] for steps=${steps}; lower the offset or the steps`);
    if (i > 0 && !(t < ts[i - 1]!)) {
      throw ddpmError(fn, `spacing '${sp}' gives repeated timesteps for steps=${steps}, T=${T} (${ts[i - 1]} then ${t}); use fewer steps or another spacing`);
    }
  });
  const prev = sampler === 'ddim'
    ? ts.map((t) => Math.max(ddimPrevTimestep(t, T, steps), -1))
    : ts.map((_, i) => (i + 1 < ts.length ? ts[i + 1]! : -1));
  return { timesteps: ts, prev };
}

function normClip(fn: string, clip: ClipOption | undefined): null | { kind: 'clip'; range: number } | { kind: 'dynamic'; ratio: number; maxValue: number } {
  if (clip === undefined || clip === false) return null;
  if (clip === true) return { kind: 'clip', range: 1 };
  if (typeof clip === 'object' && clip !== null && clip.kind === 'clip') {
    const range = clip.range ?? 1;
    if (typeof range !== 'number' || !(range > 0) || !Number.isFinite(range)) throw ddpmError(fn, `clip.range must be a finite number > 0, got ${String(range)}`);
    return { kind: 'clip', range };
  }
  if (typeof clip === 'object' && clip !== null && clip.kind === 'dynamic') {
    return { kind: 'dynamic', ...checkThresholdOptions(fn, clip) };
  }
  throw ddpmError(fn, `clip must be a boolean, { kind: 'clip', range? } or { kind: 'dynamic', ratio?, maxValue? }, got ${JSON.stringify(clip)}`);
}

/** alpha_bar of a plan step's timestep; -1 (the end) is 1. */
function abAt(schedule: Schedule, t: number): number {
  return t < 0 ? 1 : schedule.alphasCumprod[t]!;
}

/**
 * Draw samples by integrating the reverse process from x_T ~ N(0, I) (or `init`) with the chosen
 * sampler. `model(x, t, cond?)` gets a [B] tensor of 0-based timesteps. Returns x_0 (the caller
 * owns it); every intermediate is disposed.
 */
export async function sample(model: Model, opts: SampleOptions): Promise<Tensor> {
  const fn = 'sample';
  if (typeof model !== 'function') throw ddpmError(fn, `model must be a function (x, t, cond?) => Tensor, got ${typeof model}`);
  if (!opts || typeof opts !== 'object') throw ddpmError(fn, 'opts is required');
  const { schedule, sampler } = opts;
  if (!schedule || !(schedule.alphasCumprod instanceof Float64Array)) throw ddpmError(fn, 'opts.schedule must be a Schedule (makeSchedule / scheduleFromBetas)');
  const shape = opts.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw ddpmError(fn, `shape must be [B, ...] with positive integer dimensions, got ${JSON.stringify(shape)}`);
  }
  const B = shape[0]!;
  const Tn = schedule.T;
  const steps = opts.steps ?? (sampler === 'ddpm' ? Tn : Math.min(50, Tn));
  const plan = samplingPlan(sampler, Tn, steps, opts.spacing, opts.offset ?? 0);
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const clip = normClip(fn, opts.clip);
  const eta = opts.eta ?? 0;
  if (opts.eta !== undefined && sampler !== 'ddim') throw ddpmError(fn, `eta applies to the 'ddim' sampler only, got sampler '${sampler}'`);
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw ddpmError(fn, `eta must be in [0, 1], got ${String(eta)}`);
  const variance = opts.variance ?? 'fixed_small';
  if (variance !== 'fixed_small' && variance !== 'fixed_large') {
    throw ddpmError(fn, `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
  }
  if (opts.key === undefined) throw ddpmError(fn, 'opts.key is required (randomKey(seed))');
  if (opts.init !== undefined) {
    checkTensor(fn, 'init', opts.init);
    if (opts.init.shape.join() !== shape.join()) throw ddpmError(fn, `init has shape ${fmtShape(opts.init.shape)}; expected opts.shape ${fmtShape(shape)}`);
  }
  if (opts.cond !== undefined) {
    checkTensor(fn, 'cond', opts.cond);
    if (opts.cond.rank < 1 || opts.cond.shape[0] !== B) throw ddpmError(fn, `cond has shape ${fmtShape(opts.cond.shape)}; expected a batch of ${B} ([${B}, ...])`);
  }
  const guidance = opts.guidance;
  let nullCond: Tensor | null = null;
  if (guidance !== undefined) {
    if (typeof guidance.scale !== 'number' || !Number.isFinite(guidance.scale)) throw ddpmError(fn, `guidance.scale must be a finite number, got ${String(guidance?.scale)}`);
    const phi = guidance.rescale ?? 0;
    if (typeof phi !== 'number' || !(phi >= 0 && phi <= 1)) throw ddpmError(fn, `guidance.rescale must be in [0, 1], got ${String(phi)}`);
    if (opts.cond === undefined) throw ddpmError(fn, 'guidance needs opts.cond (the condition to guide towards)');
    checkTensor(fn, 'guidance.nullCond', guidance.nullCond);
    const row = opts.cond.shape.slice(1);
    const nc = guidance.nullCond.shape;
    const ok = nc.join() === opts.cond.shape.join() || nc.join() === row.join() || nc.join() === [1, ...row].join();
    if (!ok) throw ddpmError(fn, `guidance.nullCond has shape ${fmtShape(nc)}; expected cond's shape ${fmtShape(opts.cond.shape)} or one row ${fmtShape(row)} / ${fmtShape([1, ...row])}`);
  }
  const useGuidance = guidance !== undefined && guidance.scale !== 1;
  const sched = sampler === 'ddpm' ? respace(schedule, plan.timesteps) : schedule; // ddpm: the respaced process (identity when steps = T)
  // diffusers (DPMSolverMultistep, EulerDiscrete) replace alpha_bar = 0 (zero terminal SNR) with 2^-24 in the ODE solvers.
  const odeAb = (t: number) => (t >= 0 && schedule.alphasCumprod[t] === 0 ? 2 ** -24 : abAt(schedule, t));
  const [kInit, kNoise] = T.splitKey(opts.key, 2);

  // The (guided) model output at x for timestep t.
  const predict = (x: Tensor, t: number): Tensor => T.tidy(() => {
    if (!useGuidance) return callModel(fn, model, x, timestepTensor(t, B, x), opts.cond);
    const cond = opts.cond!;
    if (nullCond === null) {
      const nc = guidance!.nullCond;
      nullCond = T.keep(T.broadcastTo(nc.rank === cond.rank - 1 ? T.reshape(nc, [1, ...nc.shape]) : nc, cond.shape));
    }
    const out = callModel(fn, model, T.concat([x, x], 0), timestepTensor(t, 2 * B, x), T.concat([nullCond, cond], 0));
    const uncond = T.slice(out, 0, B);
    const condOut = T.slice(out, B, B);
    const guided = classifierFreeGuidance(uncond, condOut, guidance!.scale);
    return guidance!.rescale ? rescaleNoiseCfg(guided, condOut, guidance!.rescale) : guided;
  });

  let x: Tensor = opts.init ?? T.randomNormal(kInit, shape);
  let ownsX = opts.init === undefined;
  let prevX0: Tensor | null = null; // dpmsolver++ multistep memory
  const n = plan.timesteps.length;
  try {
    for (let i = 0; i < n; i++) {
      const t = plan.timesteps[i]!;
      const prevT = plan.prev[i]!;
      const abT = sampler === 'dpmsolver++' || sampler === 'euler' ? odeAb(t) : abAt(schedule, t);
      const held: Tensor[] = [];
      try {
        if (prediction === 'epsilon' && abT === 0) {
          throw ddpmError(fn, `prediction 'epsilon' cannot recover x0 at t=${t} where alpha_bar = 0 (a zero-terminal-SNR schedule); train with prediction 'v_prediction'`);
        }
        const out = predict(x, t);
        held.push(out);
        const est = predictionToX0Eps(prediction, x, out, abT);
        let x0 = est.x0;
        let eps = est.eps;
        held.push(x0, eps);
        if (clip) {
          const clipped = clip.kind === 'clip' ? clipX0(x0, clip.range) : await dynamicThreshold(x0, clip);
          held.push(clipped);
          x0 = clipped;
          if (sampler === 'ddim' && opts.useClippedModelOutput) {
            eps = epsFromX0(x, x0, abT);
            held.push(eps);
          }
        }
        let next: Tensor;
        if (sampler === 'ddpm') {
          const k = n - 1 - i; // index in the respaced (ascending) schedule
          next = T.tidy(() => {
            const z = k > 0 ? T.randomNormal(T.foldIn(kNoise, i), shape) : undefined;
            return ddpmStep(sched, k, x, x0, z, variance);
          });
        } else if (sampler === 'ddim') {
          next = T.tidy(() => {
            const abPrev = abAt(schedule, prevT);
            const z = eta > 0 && prevT >= 0 ? T.randomNormal(T.foldIn(kNoise, i), shape) : undefined;
            return ddimStep({ x0, eps, z, alphaBarT: abT, alphaBarPrev: abPrev, eta });
          });
        } else if (sampler === 'dpmsolver++') {
          // diffusers defaults: order 2 ('midpoint'), first-order first step (no history) and
          // last step (final sigma 0: lower_order_final).
          const second = prevX0 !== null && i < n - 1;
          next = dpmSolverPlusPlusStep(second
            ? { x, x0, alphaBarS0: abT, alphaBarT: odeAb(prevT), prevX0: prevX0!, alphaBarS1: odeAb(plan.timesteps[i - 1]!) }
            : { x, x0, alphaBarS0: abT, alphaBarT: odeAb(prevT) });
        } else {
          next = eulerStep({ x, x0, alphaBarS: abT, alphaBarT: odeAb(prevT) });
        }
        held.push(next);
        if (opts.onStep) await opts.onStep({ index: i, steps: n, t, prevT, x, x0, next });
        held.pop(); // next survives
        if (sampler === 'dpmsolver++') {
          prevX0?.dispose();
          prevX0 = x0;
          held.splice(held.indexOf(x0), 1);
        }
        if (ownsX) x.dispose();
        x = next;
        ownsX = true;
      } finally {
        for (const h of held) h.dispose();
      }
    }
    const result = x;
    ownsX = false;
    return result;
  } finally {
    if (ownsX) x.dispose();
    prevX0?.dispose();
    (nullCond as Tensor | null)?.dispose();
  }
}
