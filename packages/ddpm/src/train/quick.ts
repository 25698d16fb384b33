// Training the toy denoiser with this package's loss and @tapegrad/nn's AdamW (+ EMA). Used by
// the two-moons demo and, shortened, by the end-to-end test.

import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, splitKey, type Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { adamw, ema, warmupCosineDecay, type MlpParams } from '@tapegrad/nn';
import { diffusionLoss, sampleTimesteps } from '../process/loss.ts';
import type { PredictionType } from '../process/forward.ts';
import type { Schedule } from '../schedule/schedule.ts';
import { applyDenoiser, DEFAULT_DENOISER, initDenoiser, type DenoiserConfig } from '../models/mlp.ts';
import { makeDataset, type DatasetName } from '../data/toy2d.ts';

export interface TrainConfig {
  dataset: DatasetName;
  schedule: Schedule;
  seed: number;
  /** Optimizer steps. */
  steps: number;
  batch: number;
  /** Peak learning rate (linear warm-up over the first 5% of steps, then cosine decay to 1%). */
  lr: number;
  weightDecay: number;
  /** EMA decay of the parameters (0: no EMA, the raw parameters are returned). */
  emaDecay: number;
  prediction: PredictionType;
  minSnrGamma?: number;
  denoiser?: DenoiserConfig;
  /** Read the loss back every this many steps (it is the only read-back). Default 100. */
  logEvery?: number;
  onLog?: (step: number, loss: number, seconds: number) => void;
}

export interface TrainResult {
  /** The parameters to sample with (the EMA when emaDecay > 0); the caller disposes them. */
  params: MlpParams;
  /** Mean loss over each logging window. */
  losses: { step: number; loss: number }[];
  seconds: number;
}

/**
 * Fresh data every step (the data set is a generator: foldIn(dataKey, step)), t ~ U{0..T-1} and
 * eps ~ N(0, I) from their own keys, loss = diffusionLoss, AdamW step, EMA step.
 */
export async function trainDenoiser(cfg: TrainConfig): Promise<TrainResult> {
  const dcfg = cfg.denoiser ?? DEFAULT_DENOISER;
  const [kInit, kData, kT, kNoise] = splitKey(randomKey(cfg.seed), 4);
  let params = initDenoiser(kInit, dcfg);
  const opt = adamw({
    learningRate: warmupCosineDecay({ peak: cfg.lr, warmupSteps: Math.max(1, Math.round(cfg.steps * 0.05)), decaySteps: cfg.steps, end: cfg.lr * 0.01 }),
    weightDecay: cfg.weightDecay,
  });
  let state = opt.init(params);
  const avg = cfg.emaDecay > 0 ? ema({ decay: cfg.emaDecay, warmup: { invGamma: 1, power: 2 / 3 } }) : null;
  let emaState = avg ? avg.init(params) : null;
  const lossAndGrad = valueAndGrad((p: MlpParams, x0: Tensor, t: Int32Array, noise: Tensor) =>
    diffusionLoss((x, tt) => applyDenoiser(p, x, tt, dcfg), x0, {
      schedule: cfg.schedule, t, noise, prediction: cfg.prediction, minSnrGamma: cfg.minSnrGamma,
    }));
  const logEvery = cfg.logEvery ?? 100;
  const losses: { step: number; loss: number }[] = [];
  let window: Tensor[] = [];
  const t0 = performance.now();
  for (let step = 0; step < cfg.steps; step++) {
    const x0 = T.tensor(makeDataset(cfg.dataset, foldIn(kData, step), cfg.batch), [cfg.batch, dcfg.dim]);
    const t = sampleTimesteps(foldIn(kT, step), cfg.batch, cfg.schedule.T);
    const noise = T.randomNormal(foldIn(kNoise, step), [cfg.batch, dcfg.dim]);
    const [loss, grads] = lossAndGrad(params, x0, t, noise);
    x0.dispose();
    noise.dispose();
    ({ params, state } = opt.step(grads, state, params));
    if (avg && emaState) emaState = avg.step(emaState, params);
    window.push(loss);
    if ((step + 1) % logEvery === 0 || step === cfg.steps - 1) {
      const stacked = T.stack(window);
      const mean = T.mean(stacked);
      const value = (await mean.data())[0]!;
      stacked.dispose(); mean.dispose();
      for (const l of window) l.dispose();
      window = [];
      losses.push({ step: step + 1, loss: value });
      if (!Number.isFinite(value)) throw new Error(`trainDenoiser: the loss became ${value} at step ${step + 1}; lower the learning rate`);
      cfg.onLog?.(step + 1, value, (performance.now() - t0) / 1000);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  T.dispose(state);
  if (emaState) {
    T.dispose(params); // the raw parameters; the EMA holds its own tensors
    return { params: emaState.params, losses, seconds };
  }
  return { params, losses, seconds };
}
