// The training loop for any Denoiser (the MLP, the UNet): AdamW with warm-up and cosine or
// constant lr, gradient clipping by global norm, EMA with warm-up, uniform random t, label dropout
// for classifier-free guidance, eps / v / x0 prediction with optional Min-SNR weighting, seeded
// per-epoch shuffling, atomic checkpoints and exact resume.
//
// Determinism: every random draw of update s (0-based) comes from foldIn(<its own key>, s) or
// from the data cursor, never from a running generator, so the same seed + config + backend
// gives the same losses bit for bit, and a run resumed from the checkpoint of step s continues
// exactly as the uninterrupted run (params, EMA and AdamW moments are stored as float32, which
// is exact for the float32 backends).
//
// Executor: one update is one pure step function (loss + gradient + clipping + AdamW + EMA, every
// per-update value an argument: x0, noise, the per-sample coefficients of t computed on the host,
// labels, lr, the bias corrections and the EMA decay). By default it runs through
// @tapegrad/compile's compileStep (traced once, replayed); `eager: true` calls the same function
// directly. Both run the same ops, so they give the same losses and params bit for bit (webasm).
// A model with dropout in training mode draws masks from a RandomKey inside the step, which a
// plan would replay as a constant: such a run is eager, and says why (TrainResult.executor).

import { opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, RandomKey, splitKey, threefry2x32, type Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { compileStep, type CompiledStep, type CompileOptions } from '@tapegrad/compile';
import { adamw, clipByGlobalNorm, ema as makeEma, globalNorm, linearWarmup, warmupCosineDecay, type AdamState, type EmaState } from '@tapegrad/nn';
import { diffusionLossWith, lossCoefficients, minSnrWeights, sampleTimesteps, uploadLossCoefficients, type LossCoefficients } from '../process/loss.ts';

import { configDifferences, resolveTrainConfig, scheduleOf, type ResolvedTrainConfig, type TrainConfig } from './config.ts';
import type { Denoiser } from '../models/denoiser.ts';
import { nextBatchIndices, type DataCursor } from './data.ts';
import { loadCheckpoint, readCheckpointState, resolveCheckpoint, saveCheckpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type CheckpointState } from './checkpoint.ts';

/** What onStep gets for every update (delivered in order, every logEvery steps). */
export interface StepMetrics {
  /** Updates done (1-based: the first update is step 1). */
  step: number;
  /** The (weighted) training loss of this update's batch. */
  loss: number;
  /** The learning rate this update used. */
  lr: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Training throughput over the read-back window (examples per second). */
  imagesPerSec: number;
  /** Wall-clock seconds of training up to this window's read-back (over every resumed segment). */
  wallSeconds: number;
}

export interface TrainOptions<P = unknown> {
  /** Where checkpoints go (<runDir>/checkpoints/). Without it no checkpoint is written. */
  runDir?: string;
  /**
   * Continue from a checkpoint: true = runDir's latest, or a path (run folder or checkpoint folder).
   * The resolved config must equal the checkpoint's (except steps and the logging / checkpoint cadence).
   */
  resume?: boolean | string;
  /** Called for every update, in order, after its loss was read back (awaited). */
  onStep?: (m: StepMetrics) => void | Promise<void>;
  /**
   * Called after every update (after that step's onStep when it was a read-back step, before its
   * checkpoint), with the current parameters and EMA parameters. They are borrowed: read them (e.g.
   * sample a picture from the EMA) but do not dispose or keep them past the call. Throwing from
   * it stops training before that step's checkpoint (the error propagates; params are disposed).
   */
  onUpdate?: (u: { step: number; params: P; emaParams: P | null }) => void | Promise<void>;
  /** Called after each checkpoint is written. */
  onCheckpoint?: (info: { step: number; dir: string }) => void | Promise<void>;
  /** Abort (Ctrl-C): the loop finishes the current update, writes a checkpoint and returns with status 'aborted'. */
  signal?: AbortSignal;
  /**
   * Run each update eagerly (op by op) instead of through compileStep. Default false: compiled,
   * unless the model cannot be (see TrainExecutor.reason). Same results either way.
   */
  eager?: boolean;
  /** The opposite of `eager` (compile: false = eager: true). Default true. */
  compile?: boolean;
  /** Options of the compiled step (@tapegrad/compile: fuse, multiTensor, maxPlans). Default: its defaults. */
  compileOptions?: CompileOptions;
  /** Called before the first update with the executor that runs, and again if it changes (a fallback). */
  onExecutor?: (e: TrainExecutor & { step: number }) => void | Promise<void>;
}

/** Which executor runs the updates, and why not compiled when it is not. */
export interface TrainExecutor {
  executor: 'compiled' | 'eager';
  /** null when compiled; else a one-line reason ('--eager', dropout, a step that could not be traced). */
  reason: string | null;
}

/**
 * The executor `train(config, opts)` starts with: compiled, unless opts.eager / compile: false,
 * or the model has dropout (config.modelConfig.dropout > 0: training-mode masks are drawn from a
 * RandomKey inside the step, which a compiled plan would replay as the same mask every update).
 */
export function trainExecutor(config: Pick<TrainConfig<unknown, unknown>, 'modelConfig'>, opts: Pick<TrainOptions, 'eager' | 'compile'> = {}): TrainExecutor {
  if (opts.eager !== undefined && typeof opts.eager !== 'boolean') throw opError('train', `opts.eager must be a boolean, got ${JSON.stringify(opts.eager)}`);
  if (opts.compile !== undefined && typeof opts.compile !== 'boolean') throw opError('train', `opts.compile must be a boolean, got ${JSON.stringify(opts.compile)}`);
  if (opts.eager === true && opts.compile === true) throw opError('train', 'opts.eager and opts.compile are both true; expected at most one of them');
  if (opts.eager || opts.compile === false) return { executor: 'eager', reason: 'eager execution requested (--eager / eager: true)' };
  const dropout = (config.modelConfig as { dropout?: unknown } | null)?.dropout;
  if (typeof dropout === 'number' && dropout > 0) {
    return { executor: 'eager', reason: `the model has dropout ${dropout}: its training masks are drawn from a RandomKey inside the step, which a compiled plan would replay as one fixed mask` };
  }
  return { executor: 'compiled', reason: null };
}

export interface TrainResult<P> {
  /** The trained parameters and their EMA (null without EMA); the caller owns (disposes) both. */
  params: P;
  emaParams: P | null;
  /** Updates done in total. */
  step: number;
  status: 'completed' | 'aborted';
  /** The last checkpoint written or resumed from (null without runDir). */
  checkpoint: string | null;
  config: ResolvedTrainConfig;
  /** The executor that ran the last update (and why it is eager, if it is). */
  executor: TrainExecutor;
  /** The loss of every update this call ran (index 0 = the first update after the start / resume point). */
  losses: Float64Array;
}

/** A non-finite loss: training stopped at `step`; `checkpoint` (if any) is the last good one, left intact. */
export class TrainDivergedError extends Error {
  constructor(message: string, readonly step: number, readonly checkpoint: string | null) {
    super(message);
    this.name = 'TrainDivergedError';
  }
}

/**
 * The keys of a run: splitKey(randomKey(seed), 6) = init, data (epoch permutations), t, noise,
 * label dropout, model (dropout); update s uses foldIn(key, s) of the last four.
 */
export function runKeys(root: RandomKey): { init: RandomKey; data: RandomKey; t: RandomKey; noise: RandomKey; drop: RandomKey; model: RandomKey } {
  const [init, data, t, noise, drop, model] = splitKey(root, 6);
  return { init: init!, data: data!, t: t!, noise: noise!, drop: drop!, model: model! };
}

/** Replace each label by `nullClass` with probability p (host Threefry draws from `key`). */
export function dropLabels(labels: Int32Array, p: number, nullClass: number, key: RandomKey): Int32Array {
  if (p <= 0) return labels;
  const [k0, k1] = key.words;
  return Int32Array.from(labels, (v, j) => ((threefry2x32(k0, k1, j, 4)[0] >>> 8) * 2 ** -24 < p ? nullClass : v));
}

/** A RandomKey that calls `onRead` when its words are read (a random draw from it). */
function watchedKey(k: RandomKey, onRead: () => void): RandomKey {
  const w = Object.create(RandomKey.prototype) as RandomKey;
  Object.defineProperty(w, 'words', { get: () => { onRead(); return k.words; } });
  return w;
}

/**
 * Train `config.model` on `config.data`. Returns the final parameters and EMA (the caller
 * disposes them). Throws TrainDivergedError on a non-finite loss (naming the step and the last
 * good checkpoint). See TrainConfig for every option and its default.
 */
export async function train<P, C>(config: TrainConfig<C, P>, opts: TrainOptions<P> = {}): Promise<TrainResult<P>> {
  const fn = 'train';
  const cfg = resolveTrainConfig(config);
  const model = config.model;
  const data = config.data;
  const schedule = scheduleOf(cfg);
  const shape = cfg.data.shape;
  const B = cfg.batchSize;
  const per = shape.reduce((a, b) => a * b, 1);
  const nullClass = cfg.data.numClasses ?? -1;
  if (opts.resume && !opts.runDir && typeof opts.resume !== 'string') throw opError(fn, 'resume: true needs opts.runDir');
  const root = randomKey(cfg.seed);
  const keys = runKeys(root);

  const lrSchedule = cfg.lrSchedule === 'cosine'
    ? warmupCosineDecay({ peak: cfg.lr, warmupSteps: cfg.warmupSteps, decaySteps: cfg.steps, end: cfg.minLr })
    : linearWarmup({ peak: cfg.lr, warmupSteps: cfg.warmupSteps });
  const opt = adamw({ learningRate: lrSchedule, beta1: cfg.adamBetas[0], beta2: cfg.adamBetas[1], eps: cfg.adamEps, weightDecay: cfg.weightDecay });
  const avg = cfg.ema ? makeEma({ decay: cfg.ema.maxDecay, warmup: { invGamma: cfg.ema.invGamma, power: cfg.ema.power } }) : null;

  // State: fresh, or from the checkpoint.
  let params: P = model.init(keys.init, config.modelConfig);
  let optState: AdamState;
  let emaState: EmaState<P> | null;
  let step = 0;
  let cursor: DataCursor = { epoch: 0, index: 0 };
  let wallBefore = 0;
  let lastCheckpoint: string | null = null;
  try {
    if (opts.resume) {
      const dir = await resolveCheckpoint(typeof opts.resume === 'string' ? opts.resume : opts.runDir!);
      const head = await readCheckpointState(dir);
      const diff = configDifferences(cfg, head.config);
      if (diff.length) throw opError(fn, `cannot resume from ${dir}: the config differs from the checkpoint's in ${diff.join('; ')}`);
      if (head.rngKey[0] !== root.words[0] || head.rngKey[1] !== root.words[1]) {
        throw opError(fn, `cannot resume from ${dir}: its RNG key ${JSON.stringify(head.rngKey)} is not randomKey(seed ${cfg.seed})`);
      }
      const { state, tensors } = await loadCheckpoint(dir, params);
      T.dispose(params);
      params = tensors.params;
      optState = { step: state.optimizerStep, mu: tensors.optimizer.mu, nu: tensors.optimizer.nu };
      emaState = avg ? { step: state.emaStep!, params: tensors.ema! } : null;
      step = state.step;
      cursor = state.dataCursor;
      wallBefore = state.wallSeconds;
      lastCheckpoint = dir;
    } else {
      optState = opt.init(params);
      emaState = avg ? avg.init(params) : null;
    }
  } catch (e) {
    T.dispose(params);
    throw e;
  }

  // One update as a pure function of its arguments (what compileStep traces; eager calls it).
  // Numbers (lr, bc1, bc2, the EMA decay) are rank-0 tensors inside a compiled call.
  let modelKey: RandomKey = foldIn(keys.model, 0); // dropout only (a dropout model runs eagerly)
  type Scalar = number | Tensor;
  const updateFn = (
    p: P, mu: P, nu: P, emaP: P | null, x0: Tensor, noise: Tensor, coefs: LossCoefficients, labels: Tensor | null,
    lr: Scalar, bc1: Scalar, bc2: Scalar, emaDecay: Scalar, emaRest: Scalar,
  ) => {
    const key = modelKey;
    const [loss, g0] = valueAndGrad((pp: P) =>
      diffusionLossWith((x, tt, cond) => model.apply(pp, x, tt, { classLabels: cond, train: true, key }), x0, noise, coefs, {
        prediction: cfg.prediction, cond: labels ?? undefined,
      }))(p) as [Tensor, P];
    let grads = g0;
    let norm: Tensor;
    if (cfg.gradClip !== null) ({ grads, norm } = clipByGlobalNorm(grads, cfg.gradClip));
    else norm = globalNorm(grads);
    const o = opt.apply(grads, { mu, nu }, p, { lr, bc1, bc2 });
    const e = avg && emaP ? avg.apply(emaP, o.params as P, { decay: emaDecay, rest: emaRest }) : null;
    return { params: o.params as P, mu: o.state.mu as P, nu: o.state.nu as P, ema: e, loss, norm };
  };
  type UpdateOut = ReturnType<typeof updateFn>;
  let executor = trainExecutor(config, opts);
  let compiled: CompiledStep<typeof updateFn> | null = executor.executor === 'compiled' ? compileStep(updateFn, null, opts.compileOptions) : null;
  const weightsOf = (t: Int32Array) => (cfg.minSnrGamma !== null ? minSnrWeights(schedule, t, cfg.minSnrGamma, cfg.prediction) : null);

  const startStep = step;
  const losses: number[] = [];
  const window: { step: number; loss: Tensor; norm: Tensor; lr: number }[] = [];
  let cache: { epoch: number; perm: Int32Array } | null = null;
  const t0 = performance.now();
  let windowStart = t0;
  const wall = () => wallBefore + (performance.now() - t0) / 1000;

  /** Read the window's losses back (one sync), check them, report them. */
  const flush = async () => {
    if (!window.length) return;
    const items = window.splice(0);
    const stacked = T.stack(items.flatMap((w) => [w.loss, w.norm]));
    let v: ArrayLike<number>;
    try {
      v = await stacked.data();
    } finally {
      stacked.dispose();
      for (const w of items) { w.loss.dispose(); w.norm.dispose(); }
    }
    const now = performance.now();
    const ips = (items.length * B) / Math.max(1e-9, (now - windowStart) / 1000);
    windowStart = now;
    for (let k = 0; k < items.length; k++) {
      const loss = v[2 * k]!;
      if (!Number.isFinite(loss)) {
        throw new TrainDivergedError(
          `train: the loss became ${loss} at step ${items[k]!.step}; training stopped. ${lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint} (intact)` : 'No checkpoint was written'}; lower the learning rate or enable gradient clipping`,
          items[k]!.step, lastCheckpoint,
        );
      }
      losses.push(loss);
      await opts.onStep?.({ step: items[k]!.step, loss, lr: items[k]!.lr, gradNorm: v[2 * k + 1]!, imagesPerSec: ips, wallSeconds: wall() });
    }
  };

  const checkpoint = async () => {
    await flush();
    if (!opts.runDir) return;
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step, config: cfg, rngKey: [root.words[0], root.words[1]], dataCursor: cursor,
      optimizerStep: optState.step, emaStep: emaState ? emaState.step : null, wallSeconds: wall(), lastLoss: losses.length ? losses[losses.length - 1]! : null,
    };
    lastCheckpoint = await saveCheckpoint(opts.runDir, state, { params, ema: emaState?.params ?? null, optimizer: { mu: optState.mu as P, nu: optState.nu as P } }, cfg.keepCheckpoints);
    await opts.onCheckpoint?.({ step, dir: lastCheckpoint });
  };

  let status: 'completed' | 'aborted' = 'completed';
  try {
    await opts.onExecutor?.({ ...executor, step: step + 1 });
    while (step < cfg.steps) {
      if (opts.signal?.aborted) { status = 'aborted'; break; }
      const s = step; // 0-based index of this update
      const b = nextBatchIndices(keys.data, data.size, cursor, B, cache);
      cache = b.cache;
      const batch = data.get(b.indices);
      if (!batch || !(batch.x instanceof Float32Array) || batch.x.length !== B * per) {
        throw opError(fn, `data.get returned ${batch?.x?.length ?? 'no'} values for ${B} examples of shape [${shape.join(', ')}]; expected a Float32Array of ${B * per}`);
      }
      if (cfg.data.numClasses !== null && !(batch.labels instanceof Int32Array && batch.labels.length === B)) {
        throw opError(fn, `data.get returned no labels (or not ${B}) but the data has numClasses ${cfg.data.numClasses}; expected an Int32Array of ${B}`);
      }
      const sc = opt.scalars(optState.step);
      const es = avg && emaState ? avg.scalars(emaState.step) : { decay: 0, rest: 0 };
      const lr = sc.lr;
      const t = sampleTimesteps(foldIn(keys.t, s), B, schedule.T);
      const x0 = T.tensor(batch.x, [B, ...shape]);
      const noise = T.randomNormal(foldIn(keys.noise, s), [B, ...shape]);
      const labels = cfg.data.numClasses !== null
        ? T.tensor(Float32Array.from(dropLabels(batch.labels!, cfg.labelDropout, nullClass, foldIn(keys.drop, s))), [B])
        : null;
      const coefs = uploadLossCoefficients(lossCoefficients(schedule, t, weightsOf(t)), x0);
      modelKey = foldIn(keys.model, s);
      const args = [params, optState.mu as P, optState.nu as P, emaState ? emaState.params : null, x0, noise, coefs, labels, lr, sc.bc1!, sc.bc2!, es.decay, es.rest] as const;
      let out: UpdateOut | null = null;
      try {
        if (compiled) {
          try {
            const first = compiled.report().traces === 0;
            let keyRead = false;
            if (first) modelKey = watchedKey(modelKey, () => { keyRead = true; });
            out = compiled(...args);
            const drawn = first ? compiled.report().plans[0]?.randomConstants[0] : undefined;
            if (keyRead || drawn) {
              // this update's trace ran eagerly with this update's key (its results are right);
              // a replay would reuse the traced random values: the rest runs eagerly
              executor = {
                executor: 'eager',
                reason: keyRead
                  ? 'the model drew random values from its RandomKey (dropout?) while the step was traced; a compiled plan would replay them as one fixed draw'
                  : `the step draws random values inside ('${drawn}' while tracing): a compiled plan would replay them as one fixed draw`,
              };
              compiled.dispose();
              compiled = null;
              await opts.onExecutor?.({ ...executor, step: s + 1 });
            }
          } catch (e) {
            if (!/is a traced value inside compileStep/.test((e as Error)?.message ?? '')) throw e;
            executor = { executor: 'eager', reason: `the step could not be traced (${(e as Error).message.split('\n')[0]})` };
            compiled?.dispose();
            compiled = null;
            await opts.onExecutor?.({ ...executor, step: s + 1 });
          }
        }
        if (!out) out = T.tidy(() => updateFn(...args));
      } finally {
        T.dispose([x0, noise, coefs, labels]);
      }
      // the old state: free what the update did not return (an argument returned unchanged is
      // the same object eagerly, a new view when compiled)
      const kept = new Set(T.treeLeaves(out));
      for (const old of T.treeLeaves([params, optState.mu, optState.nu, emaState?.params ?? null])) {
        if (T.isTensor(old) && !kept.has(old)) old.dispose();
      }
      params = out.params;
      optState = { step: optState.step + 1, mu: out.mu, nu: out.nu };
      if (emaState) emaState = { step: emaState.step + 1, params: out.ema! };
      const { loss, norm } = out;
      step = s + 1;
      cursor = b.cursor;
      window.push({ step, loss, norm, lr });
      if (step % cfg.logEvery === 0) await flush();
      if (opts.onUpdate) {
        if (step === cfg.steps) await flush();
        await opts.onUpdate({ step, params, emaParams: emaState ? emaState.params : null });
      }
      if (step % cfg.checkpointEvery === 0 && step < cfg.steps) await checkpoint();
    }
    if (step > startStep || status === 'aborted' || !lastCheckpoint) await checkpoint();
  } catch (e) {
    for (const w of window) { w.loss.dispose(); w.norm.dispose(); }
    T.dispose([params, optState, emaState]);
    compiled?.dispose();
    throw e;
  }
  compiled?.dispose();
  T.dispose(optState);
  return {
    params,
    emaParams: emaState ? emaState.params : null,
    step,
    status,
    checkpoint: lastCheckpoint,
    config: cfg,
    executor,
    losses: Float64Array.from(losses),
  };
}
