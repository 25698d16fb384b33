// What differs between the 2-D runs and the image runs: the library training config (model,
// data source, hyper-parameters) and the sample pictures. The training loop is @tapegrad/ddpm's
// train(); commands/train.ts wires it to the CLI.

import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, type RandomKey } from '@tapegrad/tensor';
import type { Tree } from '@tapegrad/nn';
import {
  arraySource, mlpDenoiser, sample, toy2dSource, unet2d, type DataSource, type Denoiser, type Model, type Schedule, type SamplerName, type SampleExecutor, type StepInfo, type TrainConfig,
} from '@tapegrad/ddpm';
import type { RunConfig } from './run.ts';
import { stepName } from './run.ts';
import { denoiserModel, makeDataset, type DatasetName } from '@tapegrad/ddpm';
import { scatterSvg, writeSvg } from './pictures/svg.ts';
import { writeImageGrid } from './pictures/png.ts';
import { loadMnist, type ImageSet } from './data/mnist.ts';
import { loadPngFolder } from './data/png-folder.ts';

/** Points in the training set of a 2-D run (drawn once from the seed; the loop shuffles them per epoch). */
export const TOY_TRAIN_POINTS = 2 ** 17;

/** The model family of a run as the library's Denoiser. */
export function denoiserOf(cfg: RunConfig): Denoiser<Tree, unknown> {
  if (cfg.kind === 'image') {
    const config = cfg.image!.unet;
    return {
      init: (key) => unet2d.init(key, config) as Tree,
      apply: (p, x, t, o = {}) => unet2d.apply(p, x, t, { config, classLabels: o.classLabels, train: o.train, key: o.key }),
    };
  }
  return mlpDenoiser(cfg.denoiser!) as unknown as Denoiser<Tree, unknown>;
}

/** The training data of a run as a DataSource (2-D: a fixed set of TOY_TRAIN_POINTS points from the seed). */
export function dataSourceOf(cfg: RunConfig): DataSource {
  if (cfg.kind === 'image') {
    const im = cfg.image!;
    const d = loadImageData(cfg);
    return im.conditional ? arraySource(d.images, [im.channels, im.height, im.width], d.labels!, im.numClasses) : arraySource(d.images, [im.channels, im.height, im.width]);
  }
  return toy2dSource(cfg.data as DatasetName, foldIn(randomKey(cfg.seed + 1_000_003), 9), TOY_TRAIN_POINTS);
}

/**
 * The CLI run config as the library's TrainConfig: AdamW (betas 0.9/0.999) with a linear warm-up
 * over the first 5% of the steps then cosine decay to 1% of the peak, EMA with warm-up
 * (invGamma 1, power 2/3), gradient clipping when --grad-clip > 0, label dropout for conditional runs.
 */
export function libraryTrainConfig(cfg: RunConfig): TrainConfig<unknown, Tree> {
  const im = cfg.kind === 'image' ? cfg.image! : null;
  return {
    model: denoiserOf(cfg),
    modelConfig: im ? im.unet : cfg.denoiser!,
    modelKind: im ? 'unet2d' : 'mlp',
    data: dataSourceOf(cfg),
    steps: cfg.steps,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    schedule: { kind: cfg.schedule, T: cfg.T },
    prediction: cfg.prediction,
    lr: cfg.lr,
    lrSchedule: 'cosine',
    warmupSteps: Math.min(cfg.steps - 1, Math.max(1, Math.round(cfg.steps * 0.05))),
    minLr: cfg.lr * 0.01,
    weightDecay: cfg.weightDecay,
    adamBetas: [0.9, 0.999],
    adamEps: 1e-8,
    gradClip: cfg.gradClip > 0 ? cfg.gradClip : null,
    ema: { maxDecay: cfg.emaDecay, invGamma: 1, power: 2 / 3 },
    labelDropout: im?.conditional ? im.labelDropout : 0,
    checkpointEvery: cfg.checkpointEvery,
    keepCheckpoints: cfg.keepCheckpoints,
    logEvery: cfg.logEvery,
  };
}

/** Write the training-time sample picture of `step` from the EMA params (samples/step-NNNNNN.svg or .png). */
export function samplePictureFor(cfg: RunConfig, schedule: Schedule): (ema: Tree, step: number, outDir: string) => Promise<void> {
  const sampleKey = foldIn(randomKey(cfg.seed + 1_000_003), 7);
  if (cfg.kind === 'image') {
    const im = cfg.image!;
    return async (ema, step, outDir) => {
      const g = await sampleImages(cfg, ema, schedule, { perClass: 4, n: 36, sampler: 'dpmsolver++', steps: 20, guidance: im.sampleGuidance, key: sampleKey });
      writeImageGrid(join(outDir, 'samples', `${stepName(step)}.png`), g.images, g.n, im.channels, im.height, im.width, { cols: g.cols, scale: im.height <= 14 ? 4 : 2 });
    };
  }
  const dcfg = cfg.denoiser!;
  const fixedData = makeDataset(cfg.data as DatasetName, foldIn(randomKey(cfg.seed + 1_000_003), 8), 500);
  return async (ema, step, outDir) => {
    const x = await sample(denoiserModel(ema as never, dcfg), { shape: [500, 2], schedule, sampler: 'ddim', steps: 50, key: sampleKey, prediction: cfg.prediction, spacing: 'trailing' });
    const pts = await x.data();
    x.dispose();
    writeSvg(join(outDir, 'samples', `${stepName(step)}.svg`), scatterSvg([{ title: `EMA samples at step ${step} (DDIM, 50 steps)`, points: pts, reference: fixedData }], { cols: 1, size: 420 }));
  };
}

/** The model bound to params (cond: [B] class labels for class-conditional image runs). */
export function modelOf(cfg: RunConfig, params: Tree): Model {
  if (cfg.kind === 'image') {
    const config = cfg.image!.unet;
    return (x, t, cond) => unet2d.apply(params, x, t, { config, classLabels: cond });
  }
  return denoiserModel(params, cfg.denoiser!);
}

/** The training images of an image run (MNIST: the 'train' split). */
export function loadImageData(cfg: RunConfig, split: 'train' | 'test' = 'train'): ImageSet {
  const im = cfg.image!;
  return im.source === 'mnist' ? loadMnist({ split, imageSize: im.height }) : loadPngFolder(im.source);
}

export interface ImageSampleOptions {
  /** Conditional runs: samples per class when `classes` covers all classes (one row per class). */
  perClass?: number;
  /** Conditional runs: only this class. */
  classIndex?: number;
  /** Unconditional runs, or with classIndex: the number of samples. */
  n?: number;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  key: RandomKey;
  onStep?: (s: StepInfo) => void | Promise<void>;
  /** Run each denoising step op by op instead of compiled (sample's `eager`). */
  eager?: boolean;
  /** How sample ran its steps (compiled, compiled model call only, or eager, and why). */
  onExecutor?: (e: SampleExecutor) => void;
}

/** Draw images from an image run: returns N x C x H x W values and the grid's column count. */
export async function sampleImages(cfg: RunConfig, params: Tree, schedule: Schedule, o: ImageSampleOptions): Promise<{ images: Float32Array; n: number; cols: number }> {
  const im = cfg.image!;
  let labels: number[] | null = null;
  let cols: number;
  if (im.conditional) {
    if (o.classIndex !== undefined) { labels = new Array(o.n ?? 16).fill(o.classIndex); cols = Math.ceil(Math.sqrt(labels.length)); }
    else {
      const per = o.perClass ?? 4;
      labels = [];
      for (let c = 0; c < im.numClasses; c++) for (let k = 0; k < per; k++) labels.push(c);
      cols = per;
    }
  } else cols = Math.ceil(Math.sqrt(o.n ?? 36));
  const n = labels ? labels.length : (o.n ?? 36);
  const cond = labels ? T.tensor(labels, [n]) : undefined;
  const nullCond = labels && o.guidance !== 1 ? T.tensor([im.numClasses], [1]) : undefined;
  try {
    const x = await sample(modelOf(cfg, params), {
      shape: [n, im.channels, im.height, im.width], schedule, sampler: o.sampler, steps: o.steps, key: o.key, prediction: cfg.prediction, spacing: 'trailing',
      cond, guidance: nullCond ? { scale: o.guidance, nullCond } : undefined, clip: true, onStep: o.onStep, eager: o.eager, onExecutor: o.onExecutor,
    });
    const images = Float32Array.from(await x.data());
    x.dispose();
    return { images, n, cols };
  } finally {
    cond?.dispose();
    nullCond?.dispose();
  }
}
