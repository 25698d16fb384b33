// The training configuration: what the user passes (TrainConfig, with code: the model family and
// the data source) and its resolved, JSON-serializable form (every default filled in) that is
// written into each checkpoint and compared on resume.

import { makeSchedule, type Schedule, type ScheduleKind, type ScheduleOptions } from '../schedule/schedule.ts';
import { checkPrediction, type PredictionType } from '../process/forward.ts';
import { ddpmError } from '../process/coef.ts';
import type { Denoiser } from '../models/denoiser.ts';
import type { DataSource } from './data.ts';

/** A noise schedule by name (JSON-serializable; makeSchedule(kind, T, options)). */
export interface ScheduleSpec {
  kind: ScheduleKind;
  T: number;
  options?: ScheduleOptions;
}

export interface TrainConfig<C = unknown, P = unknown> {
  /** The denoiser family (mlpDenoiser(cfg), unet2d, ...): code, not serialized. */
  model: Denoiser<P, C>;
  /** Its config (JSON-serializable): model.init(key, modelConfig). */
  modelConfig: C;
  /** A name for the family, written to checkpoints (e.g. 'mlp', 'unet2d'). Default 'custom'. */
  modelKind?: string;
  data: DataSource;
  /** Optimizer steps to reach (a resumed run continues up to this). */
  steps: number;
  batchSize: number;
  /** Seed of everything random (init, shuffling, t, noise, label dropout, dropout). Default 0. */
  seed?: number;
  /** Default { kind: 'linear', T: 1000 } (Ho et al. 2020, diffusers DDPMScheduler). */
  schedule?: ScheduleSpec;
  /** What the model predicts. Default 'epsilon'. */
  prediction?: PredictionType;
  /** Min-SNR-gamma loss weighting (Hang et al. 2023; 5 in the paper). Default none. */
  minSnrGamma?: number | null;
  /** Peak learning rate of AdamW. Default 1e-4 (diffusers train_unconditional). */
  lr?: number;
  /** After the warm-up: cosine decay to minLr (default) or constant. */
  lrSchedule?: 'cosine' | 'constant';
  /** Linear warm-up steps from 0. Default min(500, round(steps / 20)). */
  warmupSteps?: number;
  /** Final learning rate of the cosine decay. Default 0. */
  minLr?: number;
  /** AdamW decoupled weight decay. Default 1e-6 (diffusers adam_weight_decay). */
  weightDecay?: number;
  /** AdamW betas. Default [0.95, 0.999] (diffusers train_unconditional). */
  adamBetas?: [number, number];
  /** AdamW eps. Default 1e-8. */
  adamEps?: number;
  /** Clip gradients to this global L2 norm (PyTorch clip_grad_norm_). Default 1; null = off. */
  gradClip?: number | null;
  /**
   * EMA of the parameters with diffusers' EMAModel warm-up, decay_k = min(maxDecay, 1 - (1 + k/invGamma)^-power).
   * Default { maxDecay: 0.9999, invGamma: 1, power: 0.75 }; null = no EMA.
   */
  ema?: { maxDecay?: number; invGamma?: number; power?: number } | null;
  /**
   * Classifier-free guidance training: the probability that a label is replaced by the null
   * class (index data.numClasses). Default 0.1 when the data has classes, else 0 (must be 0).
   */
  labelDropout?: number;
  /** Write a checkpoint every this many steps (and at the end, and on abort). Default 1000. */
  checkpointEvery?: number;
  /** Checkpoints kept (the newest). Default 3. */
  keepCheckpoints?: number;
  /**
   * Read the loss and the gradient norm back every this many steps (one sync; onStep is then
   * called for each step of the window, in order). Default 10.
   */
  logEvery?: number;
}

/** The JSON-serializable training config with every default resolved. */
export interface ResolvedTrainConfig {
  modelKind: string;
  modelConfig: unknown;
  data: { size: number; shape: number[]; numClasses: number | null };
  steps: number;
  batchSize: number;
  seed: number;
  schedule: ScheduleSpec;
  prediction: PredictionType;
  minSnrGamma: number | null;
  lr: number;
  lrSchedule: 'cosine' | 'constant';
  warmupSteps: number;
  minLr: number;
  weightDecay: number;
  adamBetas: [number, number];
  adamEps: number;
  gradClip: number | null;
  ema: { maxDecay: number; invGamma: number; power: number } | null;
  labelDropout: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  logEvery: number;
}

const FN = 'train';

function num(name: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw ddpmError(FN, `config.${name} must be ${expected}, got ${JSON.stringify(v)}`);
  return v;
}
const int = (name: string, v: unknown, min: number) => num(name, v, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);

/** Fill in the defaults and validate (errors name the field, the value and what was expected). */
export function resolveTrainConfig<C, P>(cfg: TrainConfig<C, P>): ResolvedTrainConfig {
  if (!cfg || typeof cfg !== 'object') throw ddpmError(FN, 'config is required');
  if (!cfg.model || typeof cfg.model.init !== 'function' || typeof cfg.model.apply !== 'function') {
    throw ddpmError(FN, 'config.model must be a Denoiser { init(key, config), apply(params, x, t, opts) } (mlpDenoiser(cfg), unet2d)');
  }
  const d = cfg.data;
  if (!d || typeof d.get !== 'function' || !Number.isInteger(d.size) || d.size < 1 || !Array.isArray(d.shape)) {
    throw ddpmError(FN, 'config.data must be a DataSource { size >= 1, shape, numClasses?, get(indices) }');
  }
  const numClasses = d.numClasses ?? null;
  if (numClasses !== null) int('data.numClasses', numClasses, 1);
  const steps = int('steps', cfg.steps, 1);
  const schedule = cfg.schedule ?? { kind: 'linear', T: 1000 };
  makeSchedule(schedule.kind, schedule.T, schedule.options ?? {}); // validates
  const lrSchedule = cfg.lrSchedule ?? 'cosine';
  if (lrSchedule !== 'cosine' && lrSchedule !== 'constant') throw ddpmError(FN, `config.lrSchedule must be 'cosine' or 'constant', got ${JSON.stringify(lrSchedule)}`);
  const warmupSteps = int('warmupSteps', cfg.warmupSteps ?? Math.min(500, Math.round(steps / 20)), 0);
  if (lrSchedule === 'cosine' && warmupSteps >= steps) throw ddpmError(FN, `config.warmupSteps (${warmupSteps}) must be below steps (${steps}) for the cosine schedule`);
  const betas = cfg.adamBetas ?? [0.95, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) throw ddpmError(FN, `config.adamBetas must be [beta1, beta2], got ${JSON.stringify(betas)}`);
  betas.forEach((b, i) => num(`adamBetas[${i}]`, b, (x) => x >= 0 && x < 1, 'in [0, 1)'));
  const e = cfg.ema === null ? null : {
    maxDecay: num('ema.maxDecay', cfg.ema?.maxDecay ?? 0.9999, (x) => x >= 0 && x <= 1, 'in [0, 1]'),
    invGamma: num('ema.invGamma', cfg.ema?.invGamma ?? 1, (x) => x > 0, '> 0'),
    power: num('ema.power', cfg.ema?.power ?? 0.75, (x) => x > 0, '> 0'),
  };
  const labelDropout = num('labelDropout', cfg.labelDropout ?? (numClasses !== null ? 0.1 : 0), (x) => x >= 0 && x <= 1, 'in [0, 1]');
  if (numClasses === null && labelDropout > 0) throw ddpmError(FN, `config.labelDropout is ${labelDropout} but the data has no classes (data.numClasses is not set); expected 0`);
  const gradClip = cfg.gradClip === null ? null : num('gradClip', cfg.gradClip ?? 1, (x) => x > 0, '> 0 (or null for no clipping)');
  const minSnrGamma = cfg.minSnrGamma === undefined || cfg.minSnrGamma === null ? null : num('minSnrGamma', cfg.minSnrGamma, (x) => x > 0, '> 0');
  let modelConfig: unknown;
  try {
    modelConfig = JSON.parse(JSON.stringify(cfg.modelConfig ?? null));
  } catch (err) {
    throw ddpmError(FN, `config.modelConfig must be JSON-serializable (${(err as Error).message})`);
  }
  return {
    modelKind: cfg.modelKind ?? 'custom',
    modelConfig,
    data: { size: d.size, shape: d.shape.slice(), numClasses },
    steps,
    batchSize: int('batchSize', cfg.batchSize, 1),
    seed: int('seed', cfg.seed ?? 0, 0),
    schedule: JSON.parse(JSON.stringify(schedule)) as ScheduleSpec,
    prediction: checkPrediction(FN, cfg.prediction ?? 'epsilon'),
    minSnrGamma,
    lr: num('lr', cfg.lr ?? 1e-4, (x) => x >= 0, '>= 0'),
    lrSchedule,
    warmupSteps,
    minLr: num('minLr', cfg.minLr ?? 0, (x) => x >= 0, '>= 0'),
    weightDecay: num('weightDecay', cfg.weightDecay ?? 1e-6, (x) => x >= 0, '>= 0'),
    adamBetas: [betas[0], betas[1]],
    adamEps: num('adamEps', cfg.adamEps ?? 1e-8, (x) => x >= 0, '>= 0'),
    gradClip,
    ema: e,
    labelDropout,
    checkpointEvery: int('checkpointEvery', cfg.checkpointEvery ?? 1000, 1),
    keepCheckpoints: int('keepCheckpoints', cfg.keepCheckpoints ?? 3, 1),
    logEvery: int('logEvery', cfg.logEvery ?? 10, 1),
  };
}

/** The schedule of a resolved config. */
export function scheduleOf(cfg: { schedule: ScheduleSpec }): Schedule {
  return makeSchedule(cfg.schedule.kind, cfg.schedule.T, cfg.schedule.options ?? {});
}

/**
 * The fields of two resolved configs that differ (dotted paths), ignoring `steps` (a resumed run
 * may train longer) and the logging/checkpointing cadence. Empty: the runs are the same.
 */
export function configDifferences(a: ResolvedTrainConfig, b: ResolvedTrainConfig): string[] {
  const ignore = new Set(['steps', 'logEvery', 'checkpointEvery', 'keepCheckpoints']);
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, path: string) => {
    if (ignore.has(path)) return;
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${path} (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
  };
  walk(a, b, '');
  return out;
}
