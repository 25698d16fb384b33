// Sampling: one entry point, `sample(model, opts)`, for every sampler. The sampler (sampler.ts:
// one file per sampler) chooses the timesteps and does one reverse step; this loop owns the rest:
// the model call, classifier-free guidance, x0 clipping / thresholding, the random keys, tensor
// ownership (it frees only what it created) and the divergence check (a non-finite model output
// is an error naming the sampler, the step and t, read back once at the end, not per step).

import { checkTensor, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import type { Spacing } from '../schedule/timesteps.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import { timestepTensor } from '../process/coef.ts';
import { checkPrediction, conversionCoefs, predictionToX0Eps, predictionToX0EpsWith, type PredictionType } from '../process/forward.ts';
import { compileStep, type CompiledStep } from '@tapegrad/compile';
import { callModel, type Model } from '../models/model.ts';
import { checkThresholdOptions, classifierFreeGuidance, clipX0, dynamicThreshold, rescaleNoiseCfg } from './guidance.ts';
import { SAMPLERS, type Sampler, type SamplerName, type SamplerStepResult, type SamplingPlan } from './sampler.ts';
import { getSampler, samplingPlan } from './plan.ts';

export { SAMPLERS, type SamplerName, type SamplingPlan, samplingPlan };

/**
 * What to do with each x0 estimate: false (nothing, the default), true or { kind: 'clip', range }
 * (clip to [-range, range], range 1 by default), or { kind: 'dynamic', ratio, maxValue } (Imagen
 * dynamic thresholding, diffusers defaults ratio 0.995, maxValue 1).
 */
export type ClipOption = boolean | { kind: 'clip'; range?: number } | { kind: 'dynamic'; ratio?: number; maxValue?: number };

export interface GuidanceOptions {
  /** guided = uncond + scale (cond - uncond) (diffusers' guidance_scale; Ho & Salimans' w = scale - 1). */
  scale: number;
  /**
   * The null condition: cond's shape, or one row of it ([1, ...] or cond.shape.slice(1)), broadcast
   * over the batch (not disposed by sample). Give this or `nullClass`.
   */
  nullCond?: Tensor;
  /**
   * For class labels (cond = [B] labels as float values of integers): the learned null class index
   * (the label dropped during training; numClasses for a model with numClasses + 1 embeddings).
   */
  nullClass?: number;
  /** Guidance rescale phi in [0, 1] (Lin et al. 2023; diffusers guidance_rescale). Default 0 (off). */
  rescale?: number;
}

/** How `sample` runs its steps: 'compiled' (model + update), 'compiled-model' (the model call only) or 'eager'. */
export interface SampleExecutor {
  executor: 'compiled' | 'compiled-model' | 'eager';
  /** null for 'compiled'; else why not more is compiled. */
  reason: string | null;
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
  /** A sampler by name, or any object implementing the Sampler interface (sampler.ts). */
  sampler: SamplerName | Sampler;
  /** Number of model evaluations (per guidance pass). Default: sampler.defaultSteps(T) (T for 'ddpm', min(50, T) otherwise). */
  steps?: number;
  /** Randomness: x_T and the per-step noise (keys are split/folded, never reused). */
  key: RandomKey;
  /** Replaces the random x_T (not disposed by sample). Must have `shape`. */
  init?: Tensor;
  /** What the model predicts. Default 'epsilon'. */
  prediction?: PredictionType | 'v';
  clip?: ClipOption;
  guidance?: GuidanceOptions;
  /** Passed to the model as its third argument ([B, ...]; class labels: [B]). Not disposed by sample. */
  cond?: Tensor;
  /**
   * Check that the model output stayed finite (default true): one small reduction per step on the
   * device, read back once after the last step; a NaN / Inf throws an error naming the sampler,
   * the step and t instead of returning samples (clipping would hide it).
   */
  checkFinite?: boolean;
  /** Called after every step (awaited if it returns a promise). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /**
   * Run every step op by op. Default false: each step (the model call with guidance, the x0 / eps
   * conversion, clipping and the sampler's update) runs through @tapegrad/compile's compileStep,
   * the per-step numbers passed as arguments, with the same results bit for bit. A sampler without
   * a split step (a custom Sampler) or dynamic thresholding (a host read) compiles the model call
   * only; a model that cannot be traced (it reads a tensor on the host) runs eagerly. The model
   * must be a pure function of (x, t, cond) and what it closes over (held as constants).
   */
  eager?: boolean;
  /** Called once the executor of this call is known (and again if the model could not be traced). */
  onExecutor?: (e: SampleExecutor) => void;
  /** ddim (by name): 0 (deterministic, default) .. 1 (DDPM-like). */
  eta?: number;
  /** ddpm (by name): 'fixed_small' (beta tilde, default) or 'fixed_large' (beta). */
  variance?: DdpmVarianceType;
  /** Timestep spacing (diffusers timestep_spacing). Default 'leading' for ddpm/ddim, 'linspace' for dpmsolver++/euler. */
  spacing?: Spacing;
  /** diffusers steps_offset (used by 'leading'). Default 0. */
  offset?: number;
  /** ddim (by name): re-derive eps from the clipped x0 (improved-diffusion, lucidrains). Default false (diffusers). */
  useClippedModelOutput?: boolean;
}

function normClip(fn: string, clip: ClipOption | undefined): null | { kind: 'clip'; range: number } | { kind: 'dynamic'; ratio: number; maxValue: number } {
  if (clip === undefined || clip === false) return null;
  if (clip === true) return { kind: 'clip', range: 1 };
  if (typeof clip === 'object' && clip !== null && clip.kind === 'clip') {
    const range = clip.range ?? 1;
    if (typeof range !== 'number' || !(range > 0) || !Number.isFinite(range)) throw opError(fn, `clip.range must be a finite number > 0, got ${String(range)}`);
    return { kind: 'clip', range };
  }
  if (typeof clip === 'object' && clip !== null && clip.kind === 'dynamic') {
    return { kind: 'dynamic', ...checkThresholdOptions(fn, clip) };
  }
  throw opError(fn, `clip must be a boolean, { kind: 'clip', range? } or { kind: 'dynamic', ratio?, maxValue? }, got ${JSON.stringify(clip)}`);
}

/** Free every tensor of `ts` that is not in `keep` or `borrowed` (each once). */
function release(ts: Iterable<Tensor | null | undefined>, keep: ReadonlySet<Tensor | null | undefined>, borrowed: ReadonlySet<Tensor>): void {
  for (const t of new Set(ts)) if (T.isTensor(t) && !keep.has(t) && !borrowed.has(t)) t.dispose();
}

/**
 * Draw samples by integrating the reverse process from x_T ~ N(0, I) (or `init`) with the chosen
 * sampler. `model(x, t, cond?)` gets a [B] tensor of 0-based timesteps. Returns x_0 (a new tensor
 * the caller owns). Ownership: sample frees only the tensors it created; `init`, `cond`,
 * `guidance.nullCond` and anything the model returns that existed before the call (its input, a
 * closed-over tensor, a parameter) are left alone.
 */
export async function sample(model: Model, opts: SampleOptions): Promise<Tensor> {
  const fn = 'sample';
  if (typeof model !== 'function') throw opError(fn, `model must be a function (x, t, cond?) => Tensor, got ${typeof model}`);
  if (!opts || typeof opts !== 'object') throw opError(fn, 'opts is required');
  const { schedule } = opts;
  if (!schedule || !(schedule.alphasCumprod instanceof Float64Array)) throw opError(fn, 'opts.schedule must be a Schedule (makeSchedule / scheduleFromBetas)');
  const shape = opts.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw opError(fn, `shape must be [B, ...] with positive integer dimensions, got ${JSON.stringify(shape)}`);
  }
  const B = shape[0]!;
  const Tn = schedule.T;
  let smp: Sampler;
  if (typeof opts.sampler === 'object' && opts.sampler !== null) {
    for (const k of ['eta', 'variance', 'useClippedModelOutput'] as const) {
      if (opts[k] !== undefined) throw opError(fn, `opts.${k} applies to a sampler given by name; pass it to the sampler's factory (ddimSampler({ eta }), ddpmSampler({ variance })) instead`);
    }
    smp = opts.sampler;
  } else {
    if (!(SAMPLERS as readonly unknown[]).includes(opts.sampler)) smp = getSampler(opts.sampler, {}, fn); // throws the unknown-sampler error
    if (opts.eta !== undefined && opts.sampler !== 'ddim') throw opError(fn, `eta applies to the 'ddim' sampler only, got sampler '${opts.sampler}'`);
    const variance = opts.variance ?? 'fixed_small';
    if (variance !== 'fixed_small' && variance !== 'fixed_large') {
      throw opError(fn, `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
    }
    smp = getSampler(opts.sampler, { eta: opts.eta, variance, useClippedModelOutput: opts.useClippedModelOutput }, fn);
  }
  const steps = opts.steps ?? smp.defaultSteps(Tn);
  const plan = samplingPlan(smp, Tn, steps, opts.spacing, opts.offset ?? 0);
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const clip = normClip(fn, opts.clip);
  if (opts.key === undefined) throw opError(fn, 'opts.key is required (randomKey(seed))');
  if (opts.init !== undefined) {
    checkTensor(fn, 'init', opts.init);
    if (opts.init.shape.join() !== shape.join()) throw opError(fn, `init has shape ${fmtShape(opts.init.shape)}; expected opts.shape ${fmtShape(shape)}`);
  }
  if (opts.cond !== undefined) {
    checkTensor(fn, 'cond', opts.cond);
    if (opts.cond.rank < 1 || opts.cond.shape[0] !== B) throw opError(fn, `cond has shape ${fmtShape(opts.cond.shape)}; expected a batch of ${B} ([${B}, ...])`);
  }
  const guidance = opts.guidance;
  if (guidance !== undefined) {
    if (typeof guidance.scale !== 'number' || !Number.isFinite(guidance.scale)) throw opError(fn, `guidance.scale must be a finite number, got ${String(guidance?.scale)}`);
    const phi = guidance.rescale ?? 0;
    if (typeof phi !== 'number' || !(phi >= 0 && phi <= 1)) throw opError(fn, `guidance.rescale must be in [0, 1], got ${String(phi)}`);
    if (opts.cond === undefined) throw opError(fn, 'guidance needs opts.cond (the condition to guide towards)');
    if ((guidance.nullCond === undefined) === (guidance.nullClass === undefined)) {
      throw opError(fn, 'guidance needs exactly one of nullCond (a tensor) and nullClass (the null class index)');
    }
    if (guidance.nullClass !== undefined) {
      if (!Number.isInteger(guidance.nullClass) || guidance.nullClass < 0) throw opError(fn, `guidance.nullClass must be an integer >= 0, got ${String(guidance.nullClass)}`);
      if (opts.cond.rank !== 1) throw opError(fn, `guidance.nullClass needs cond to be class labels of shape [${B}], got ${fmtShape(opts.cond.shape)}`);
    } else {
      checkTensor(fn, 'guidance.nullCond', guidance.nullCond);
      const row = opts.cond.shape.slice(1);
      const nc = guidance.nullCond!.shape;
      const ok = nc.join() === opts.cond.shape.join() || nc.join() === row.join() || nc.join() === [1, ...row].join();
      if (!ok) throw opError(fn, `guidance.nullCond has shape ${fmtShape(nc)}; expected cond's shape ${fmtShape(opts.cond.shape)} or one row ${fmtShape(row)} / ${fmtShape([1, ...row])}`);
    }
  }
  if (opts.checkFinite !== undefined && typeof opts.checkFinite !== 'boolean') throw opError(fn, `checkFinite must be a boolean, got ${String(opts.checkFinite)}`);
  const checkFinite = opts.checkFinite ?? true;
  const useGuidance = guidance !== undefined && guidance.scale !== 1;
  const run = smp.start(schedule, plan);
  const [kInit, kNoise] = T.splitKey(opts.key, 2);

  // Tensors sample must never free: the caller's, and model outputs that existed before the call.
  const borrowed = new Set<Tensor>();
  for (const t of [opts.init, opts.cond, guidance?.nullCond]) if (t) borrowed.add(t);
  let nullCond: Tensor | null = null; // the broadcast null condition (created here)
  const at = (i: number) => `step ${i + 1} of ${plan.timesteps.length} (t=${plan.timesteps[i]})`;

  // The (guided) model output at x for the timestep tensor tT ([B], or [2B] with guidance:
  // the unconditional and the conditional half in one batch). Shared by both executors.
  const modelOut = (x: Tensor, tT: Tensor, nullC: Tensor | null): Tensor => {
    if (!useGuidance) return callModel(fn, model, x, tT, opts.cond);
    const both = callModel(fn, model, T.concat([x, x], 0), tT, T.concat([nullC!, opts.cond!], 0));
    const uncond = T.slice(both, 0, B);
    const condOut = T.slice(both, B, B);
    const guided = classifierFreeGuidance(uncond, condOut, guidance!.scale);
    return guidance!.rescale ? rescaleNoiseCfg(guided, condOut, guidance!.rescale) : guided;
  };
  const makeNullCond = () => {
    if (nullCond === null && useGuidance) {
      const cond = opts.cond!;
      nullCond = T.tidy(() => {
        const nc = guidance!.nullCond ?? T.useBackend(cond.backend, () => T.full([B], guidance!.nullClass!));
        return T.broadcastTo(nc.rank === cond.rank - 1 ? T.reshape(nc, [1, ...nc.shape]) : nc, cond.shape);
      });
    }
    return nullCond;
  };

  // The (guided) model output at x for timestep t, and whether this call created it.
  const predict = (x: Tensor, t: number): { out: Tensor; created: boolean } => {
    let marker = -1;
    const nullC = makeNullCond();
    const out = T.tidy(() => {
      const tt = timestepTensor(t, useGuidance ? 2 * B : B, x);
      marker = tt.id; // every tensor the model creates has a larger id
      return modelOut(x, tt, nullC);
    });
    return { out, created: useGuidance || out.id > marker };
  };

  // The executor: one compiled step per call of sample (model + conversion + clipping + update,
  // numbers as arguments), or the model call alone, or nothing (eager).
  if (opts.eager !== undefined && typeof opts.eager !== 'boolean') throw opError(fn, `eager must be a boolean, got ${String(opts.eager)}`);
  let executor: SampleExecutor = opts.eager
    ? { executor: 'eager', reason: 'eager: true' }
    : !run.split ? { executor: 'compiled-model', reason: `sampler '${smp.name}' has no split step (SamplerRun.split): its update runs eagerly` }
      : clip?.kind === 'dynamic' ? { executor: 'compiled-model', reason: 'dynamic thresholding reads x0 back to the host: the update runs eagerly' }
        : { executor: 'compiled', reason: null };
  const fullStep = (x: Tensor, tT: Tensor, nullC: Tensor | null, z: Tensor | null, carry: Tensor | null, mode: string, conv: Record<string, number>, coefs: Record<string, number>) => {
    const out = modelOut(x, tT, nullC);
    const flag = checkFinite ? T.sum(T.mul(out, 0)) : null;
    const est = predictionToX0EpsWith(prediction, x, out, conv);
    const x0 = clip?.kind === 'clip' ? clipX0(est.x0, clip.range) : est.x0;
    const r = run.split!.apply(mode, { x, x0, eps: est.eps, noise: z, carry }, coefs);
    return { next: r.next, carry: r.carry ?? null, x0, flag };
  };
  const modelStep = (x: Tensor, tT: Tensor, nullC: Tensor | null) => {
    const out = modelOut(x, tT, nullC);
    return { out, flag: checkFinite ? T.sum(T.mul(out, 0)) : null };
  };
  let compiledFull: CompiledStep<typeof fullStep> | null = executor.executor === 'compiled' ? compileStep(fullStep) : null;
  let compiledModel: CompiledStep<typeof modelStep> | null = executor.executor === 'compiled-model' ? compileStep(modelStep) : null;
  opts.onExecutor?.(executor);
  /** A trace that read a traced value on the host: the model is not traceable; the rest runs eagerly. */
  const untraceable = (e: unknown): boolean => {
    if (!/is a traced value inside compileStep/.test((e as Error)?.message ?? '')) return false;
    compiledFull?.dispose(); compiledModel?.dispose();
    compiledFull = null; compiledModel = null;
    executor = { executor: 'eager', reason: `the model could not be traced (${(e as Error).message.split('\n')[0]})` };
    opts.onExecutor?.(executor);
    return true;
  };

  let x: Tensor = opts.init ?? T.randomNormal(kInit, shape);
  let carry: Tensor | null = null;
  // Divergence check without a sync per step: flag_i = sum(out_i * 0) is 0, or NaN iff the output
  // had a NaN / Inf; acc sums the flags on the device and is read back once at the end. The flags
  // are kept (scalars) only to name the first bad step on the failure path.
  const flags: Tensor[] = [];
  let acc: Tensor | null = null;
  const addFlag = (t: Tensor, computed?: Tensor) => {
    const f = computed ?? T.tidy(() => T.sum(T.mul(t, 0)));
    flags.push(f);
    const next = acc === null ? T.clone(f) : T.add(acc, f);
    acc?.dispose();
    acc = next;
  };
  const n = plan.timesteps.length;
  try {
    for (let i = 0; i < n; i++) {
      const t = plan.timesteps[i]!;
      const prevT = plan.prev[i]!;
      const abT = run.alphaBar(t);
      const temps: Tensor[] = [];
      let keep = new Set<Tensor | null>();
      let res: SamplerStepResult | undefined;
      let done = false;
      try {
        if (prediction === 'epsilon' && abT === 0) {
          throw opError(fn, `prediction 'epsilon' cannot recover x0 at t=${t} where alpha_bar = 0 (a zero-terminal-SNR schedule); train with prediction 'v_prediction'`);
        }
        if (compiledFull) {
          const sc = run.split!.scalars({ index: i, t, prevT, alphaBarT: abT, alphaBarPrev: run.alphaBar(prevT), hasCarry: carry !== null });
          const nullC = makeNullCond();
          const tT = timestepTensor(t, useGuidance ? 2 * B : B, x);
          const z = sc.noise ? T.randomNormal(T.foldIn(kNoise, i), shape) : null;
          let r: ReturnType<typeof fullStep> | null = null;
          try {
            r = compiledFull(x, tT, nullC, z, carry, sc.mode, conversionCoefs(prediction, abT), sc.coefs);
          } catch (e) {
            if (!untraceable(e)) throw e;
          } finally {
            T.dispose([tT, z]);
          }
          if (r) {
            res = { next: r.next, carry: r.carry ?? undefined };
            if (r.flag) addFlag(r.next, r.flag);
            temps.push(r.x0);
            keep = new Set([r.next, r.carry]);
            if (opts.onStep) await opts.onStep({ index: i, steps: n, t, prevT, x, x0: r.x0, next: r.next });
            temps.push(x);
            if (carry) temps.push(carry);
            x = r.next;
            carry = r.carry;
            done = true;
            continue;
          }
        }
        let out: Tensor, created: boolean;
        const mr = compiledModel ? (() => {
          const nullC = makeNullCond();
          const tT = timestepTensor(t, useGuidance ? 2 * B : B, x);
          try {
            return compiledModel!(x, tT, nullC);
          } catch (e) {
            if (!untraceable(e)) throw e;
            return null;
          } finally {
            tT.dispose();
          }
        })() : null;
        if (mr) {
          ({ out } = mr);
          created = true;
          temps.push(out);
          if (mr.flag) addFlag(out, mr.flag);
        } else {
          ({ out, created } = predict(x, t));
          if (created) temps.push(out);
          else if (out !== x && out !== carry) borrowed.add(out); // the model's own or the caller's tensor
          if (checkFinite) addFlag(out);
        }
        const est = predictionToX0Eps(prediction, x, out, abT);
        temps.push(est.x0, est.eps);
        let x0 = est.x0;
        if (clip) {
          if (clip.kind === 'clip') x0 = clipX0(x0, clip.range);
          else {
            try {
              x0 = await dynamicThreshold(x0, clip);
            } catch (e) {
              if (/non-finite/.test((e as Error).message)) throw opError(fn, `the model output is not finite (NaN or Inf) at ${at(i)} of sampler '${smp.name}'; the model diverged (found by dynamic thresholding, which reads x0 back)`);
              throw e;
            }
          }
          temps.push(x0);
        }
        const stepKey = T.foldIn(kNoise, i);
        res = run.step({
          x, x0, eps: est.eps, index: i, t, prevT, alphaBarT: abT, alphaBarPrev: run.alphaBar(prevT), carry,
          noise: () => {
            const z = T.randomNormal(stepKey, shape);
            temps.push(z);
            return z;
          },
        });
        if (!res || !T.isTensor(res.next)) throw opError(fn, `sampler '${smp.name}' returned ${res === null ? 'null' : typeof res?.next} from step ${i + 1}; expected { next: Tensor, carry? }`);
        keep = new Set([res.next, res.carry ?? null]);
        if (opts.onStep) await opts.onStep({ index: i, steps: n, t, prevT, x, x0, next: res.next });
        temps.push(x);
        if (carry) temps.push(carry);
        x = res.next;
        carry = res.carry ?? null;
        done = true;
      } finally {
        if (done) release(temps, keep, borrowed);
        else release([...temps, res?.next, res?.carry], new Set([x, carry]), borrowed); // x and carry: freed below
      }
    }
    if (checkFinite) {
      addFlag(x);
      if (!Number.isFinite((await acc!.data())[0]!)) {
        let bad = flags.length - 1;
        for (let i = 0; i < flags.length; i++) {
          if (!Number.isFinite((await flags[i]!.data())[0]!)) { bad = i; break; }
        }
        const what = bad < n ? `the model output is not finite (NaN or Inf) at ${at(bad)}` : `the samples are not finite (NaN or Inf) after the last step (t=${plan.timesteps[n - 1]})`;
        throw opError(fn, `${what} of sampler '${smp.name}'; the model diverged (no samples returned: clipping would have hidden it)`);
      }
    }
    let result = x;
    if (borrowed.has(result)) result = T.clone(result); // a sampler handed back a caller's tensor: the caller owns the result
    x = null as unknown as Tensor;
    return result;
  } finally {
    release([x, carry, ...flags, acc, nullCond], new Set(), borrowed);
    compiledFull?.dispose();
    compiledModel?.dispose();
  }
}
