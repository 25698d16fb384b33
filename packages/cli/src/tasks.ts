// What differs between the 2-D runs and the image runs: the batches, the model, the loss and the
// sample pictures. The training loop (commands/train.ts) is shared.

import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, type RandomKey, type Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import type { Tree } from '@tapegrad/nn';
import { diffusionLoss, sample, unet2d, type Model, type Schedule, type SamplerName, type StepInfo } from '@tapegrad/ddpm';
import type { RunConfig } from './run.ts';
import { stepName, trainKeys } from './run.ts';
import { applyDenoiser, denoiserModel, hostUniform, makeDataset, type DatasetName } from '@tapegrad/ddpm';
import { scatterSvg, writeSvg } from './pictures/svg.ts';
import { writeImageGrid } from './pictures/png.ts';
import { loadMnist, type ImageSet } from './data/mnist.ts';
import { loadPngFolder } from './data/png-folder.ts';

export interface Task {
  /** The clean batch of optimizer step `step` (and its labels), as fresh tensors. */
  batch(step: number): { x0: Tensor; cond?: Tensor };
  /** Per-sample shape of the data. */
  sampleShape: number[];
  lossAndGrad(params: Tree, x0: Tensor, t: Int32Array, noise: Tensor, cond?: Tensor): [Tensor, Tree];
  /** Write the training-time sample picture from the EMA params. */
  samplePicture(ema: Tree, step: number, outDir: string): Promise<void>;
}

/** The model bound to params (cond: [B] class labels for class-conditional image runs). */
export function modelOf(cfg: RunConfig, params: Tree): Model {
  if (cfg.kind === 'image') {
    const config = cfg.image!.unet;
    return (x, t, cond) => unet2d.apply(params, x, t, { config, classLabels: cond });
  }
  return denoiserModel(params, cfg.denoiser!);
}

export function twoDTask(cfg: RunConfig, schedule: Schedule): Task {
  const [, kData] = trainKeys(cfg.seed);
  const dcfg = cfg.denoiser!;
  const lg = valueAndGrad((p: Tree, x0: Tensor, t: Int32Array, noise: Tensor) =>
    diffusionLoss((x, tt) => applyDenoiser(p, x, tt, dcfg), x0, { schedule, t, noise, prediction: cfg.prediction }));
  const sampleKey = foldIn(randomKey(cfg.seed + 1_000_003), 7);
  const fixedData = makeDataset(cfg.data as DatasetName, foldIn(randomKey(cfg.seed + 1_000_003), 8), 500);
  return {
    sampleShape: [dcfg.dim],
    batch: (step) => ({ x0: T.tensor(makeDataset(cfg.data as DatasetName, foldIn(kData, step), cfg.batchSize), [cfg.batchSize, dcfg.dim]) }),
    lossAndGrad: (p, x0, t, noise) => lg(p, x0, t, noise) as [Tensor, Tree],
    async samplePicture(ema, step, outDir) {
      const x = await sample(denoiserModel(ema, dcfg), { shape: [500, 2], schedule, sampler: 'ddim', steps: 50, key: sampleKey, prediction: cfg.prediction, spacing: 'trailing' });
      const pts = await x.data();
      x.dispose();
      writeSvg(join(outDir, 'samples', `${stepName(step)}.svg`), scatterSvg([{ title: `EMA samples at step ${step} (DDIM, 50 steps)`, points: pts, reference: fixedData }], { cols: 1, size: 420 }));
    },
  };
}

/** The training images of an image run (MNIST: the 'train' split). */
export function loadImageData(cfg: RunConfig, split: 'train' | 'test' = 'train'): ImageSet {
  const im = cfg.image!;
  return im.source === 'mnist' ? loadMnist({ split, imageSize: im.height }) : loadPngFolder(im.source);
}

/** A permutation of 0..n-1 from a key (Fisher-Yates on host Threefry uniforms). */
export function permutation(key: RandomKey, n: number): Int32Array {
  const u = hostUniform(key, n);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(u[i]! * (i + 1)));
    const tmp = p[i]!; p[i] = p[j]!; p[j] = tmp;
  }
  return p;
}

/**
 * Batches walk a fresh seeded permutation per epoch; the data cursor is step * batchSize, so a
 * resumed run (which knows its step) continues with exactly the same images and labels.
 */
export function imageTask(cfg: RunConfig, schedule: Schedule, data: ImageSet): Task {
  const im = cfg.image!;
  const [, kData] = trainKeys(cfg.seed);
  const kLabel = foldIn(randomKey(cfg.seed), 5);
  const plane = im.channels * im.height * im.width;
  const B = cfg.batchSize;
  let permEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  const config = im.unet;
  const lg = valueAndGrad((p: Tree, x0: Tensor, t: Int32Array, noise: Tensor, cond?: Tensor) =>
    diffusionLoss((x, tt, c) => unet2d.apply(p, x, tt, { config, classLabels: c }), x0, { schedule, t, noise, prediction: cfg.prediction, cond }));
  return {
    sampleShape: [im.channels, im.height, im.width],
    batch(step) {
      const x = new Float32Array(B * plane);
      const labels = new Float32Array(B);
      const drop = im.conditional ? hostUniform(foldIn(kLabel, step), B) : null;
      for (let j = 0; j < B; j++) {
        const pos = step * B + j;
        const epoch = Math.floor(pos / data.n);
        if (epoch !== permEpoch) { perm = permutation(foldIn(kData, epoch), data.n); permEpoch = epoch; }
        const idx = perm[pos % data.n]!;
        x.set(data.images.subarray(idx * plane, (idx + 1) * plane), j * plane);
        if (drop) labels[j] = drop[j]! < im.labelDropout ? im.numClasses : data.labels![idx]!;
      }
      return { x0: T.tensor(x, [B, im.channels, im.height, im.width]), cond: im.conditional ? T.tensor(labels, [B]) : undefined };
    },
    lossAndGrad: (p, x0, t, noise, cond) => lg(p, x0, t, noise, cond) as [Tensor, Tree],
    async samplePicture(ema, step, outDir) {
      const g = await sampleImages(cfg, ema, schedule, { perClass: 4, n: 36, sampler: 'dpmsolver++', steps: 20, guidance: im.sampleGuidance, key: foldIn(randomKey(cfg.seed + 1_000_003), 7) });
      writeImageGrid(join(outDir, 'samples', `${stepName(step)}.png`), g.images, g.n, im.channels, im.height, im.width, { cols: g.cols, scale: im.height <= 14 ? 4 : 2 });
    },
  };
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
      cond, guidance: nullCond ? { scale: o.guidance, nullCond } : undefined, clip: true, onStep: o.onStep,
    });
    const images = Float32Array.from(await x.data());
    x.dispose();
    return { images, n, cols };
  } finally {
    cond?.dispose();
    nullCond?.dispose();
  }
}
