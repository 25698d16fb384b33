// The small MNIST CNN that `tapegrad eval` scores image runs with (accuracy of class-conditional
// samples, Frechet distance in its feature space), built and trained with this stack: nn layers,
// autograd's valueAndGrad, nn's Adam, nn's safetensors.
//
// It lives in the CLI (not in @tapegrad/ddpm/src/eval) because it is an MNIST-specific metric
// model with a saved location on disk (runs/mnist-classifier-<size>/): the ddpm library keeps only
// data-agnostic metrics (Frechet distance, bits/dim, MMD) and stays free of MNIST and file layout.
//
//   conv3x3 1->16 (pad 1), ReLU, maxpool 2
//   conv3x3 16->32 (pad 1), ReLU, maxpool 2          28x28 -> 32 x 7 x 7, 14x14 -> 32 x 3 x 3
//   linear -> 128, ReLU                              the 128-d features (penultimate activations)
//   linear -> 10                                     logits
//
// Parameter names follow PyTorch's state_dict of the equivalent nn.Module (conv1.weight, ...).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, splitKey, type RandomKey, type Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { adam, conv2d, linear, loadSafetensorsInto, maxPool2d, saveSafetensors, writeFileAtomic, type ConvParams, type LinearParams } from '@tapegrad/nn';
import { epochPermutation } from '@tapegrad/ddpm';
import { ensureDir } from './fsx.ts';

export const CLASSIFIER_FORMAT = 'tapegrad-mnist-classifier';
export const CLASSIFIER_VERSION = 1;
export const CLASSIFIER_FILES = { weights: 'classifier.safetensors', config: 'classifier.json' } as const;

export interface ClassifierConfig {
  /** Input images are 1 x imageSize x imageSize in [-1, 1]. */
  imageSize: number;
  /** Output channels of the two convolutions. Default [16, 32]. */
  channels: [number, number];
  /** Width of the feature layer. Default 128. */
  features: number;
  numClasses: number;
}

export interface ClassifierParams {
  conv1: ConvParams;
  conv2: ConvParams;
  fc1: LinearParams;
  fc2: LinearParams;
}

export function classifierConfig(imageSize: number, o: Partial<Omit<ClassifierConfig, 'imageSize'>> = {}): ClassifierConfig {
  if (!Number.isInteger(imageSize) || imageSize < 4) throw new Error(`classifierConfig: imageSize must be an integer >= 4, got ${imageSize}`);
  return { imageSize, channels: o.channels ?? [16, 32], features: o.features ?? 128, numClasses: o.numClasses ?? 10 };
}

/** Spatial size after the two 2x2 max-pools (floor, as PyTorch). */
const pooledSize = (s: number) => Math.floor(Math.floor(s / 2) / 2);

export function initClassifier(key: RandomKey, cfg: ClassifierConfig): ClassifierParams {
  const [k1, k2, k3, k4] = splitKey(key, 4);
  const [c1, c2] = cfg.channels;
  const flat = c2 * pooledSize(cfg.imageSize) ** 2;
  return {
    conv1: conv2d.init(k1!, { inChannels: 1, outChannels: c1, kernelSize: 3, padding: 1 }),
    conv2: conv2d.init(k2!, { inChannels: c1, outChannels: c2, kernelSize: 3, padding: 1 }),
    fc1: linear.init(k3!, { inFeatures: flat, outFeatures: cfg.features }),
    fc2: linear.init(k4!, { inFeatures: cfg.features, outFeatures: cfg.numClasses }),
  };
}

/** x [N, 1, S, S] -> { logits [N, classes], features [N, 128] (the ReLU activations fed to the last layer) }. */
export function classifierForward(p: ClassifierParams, x: Tensor): { logits: Tensor; features: Tensor } {
  return T.tidy(() => {
    let h = T.relu(conv2d.apply(p.conv1, x, { padding: 1 }));
    h = maxPool2d.apply({}, h, { kernelSize: 2 });
    h = T.relu(conv2d.apply(p.conv2, h, { padding: 1 }));
    h = maxPool2d.apply({}, h, { kernelSize: 2 });
    h = T.reshape(h, [h.shape[0]!, -1]);
    const features = T.relu(linear.apply(p.fc1, h));
    return { logits: linear.apply(p.fc2, features), features };
  });
}

/** Mean cross-entropy of logits [N, K] against integer labels (as a one-hot [N, K] tensor). */
export function crossEntropy(logits: Tensor, oneHot: Tensor): Tensor {
  return T.tidy(() => T.neg(T.mean(T.sum(T.mul(T.logSoftmax(logits, -1), oneHot), -1))));
}

/** A labelled image set in memory: n x 1 x size x size float32 in [-1, 1], labels 0..classes-1. */
export interface LabelledImages {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  size: number;
}

function checkSet(op: string, what: string, d: LabelledImages, cfg: ClassifierConfig): void {
  if (d.size !== cfg.imageSize) throw new Error(`${op}: the ${what} images are ${d.size}x${d.size}; the classifier takes ${cfg.imageSize}x${cfg.imageSize}`);
  if (d.images.length !== d.n * d.size * d.size || d.labels.length !== d.n || d.n < 1) {
    throw new Error(`${op}: the ${what} set has ${d.images.length} pixel values and ${d.labels.length} labels for n = ${d.n} images of ${d.size}x${d.size}; expected n*size*size values and n labels, n >= 1`);
  }
}

function gatherBatch(d: LabelledImages, idx: Int32Array, classes: number): { x: Tensor; y: Tensor } {
  const px = d.size * d.size;
  const xs = new Float32Array(idx.length * px);
  const ys = new Float32Array(idx.length * classes);
  idx.forEach((src, j) => {
    xs.set(d.images.subarray(src * px, (src + 1) * px), j * px);
    ys[j * classes + d.labels[src]!] = 1;
  });
  return { x: T.tensor(xs, [idx.length, 1, d.size, d.size]), y: T.tensor(ys, [idx.length, classes]) };
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Adam's learning rate; cosine-decayed to 5% of itself over the run. */
  lr: number;
  seed: number;
  /** Only train on the first `limit` examples (tests). Default: all. */
  limit?: number;
  /** Stop after this many steps (tests). Default: epochs * ceil(n / batch). */
  maxSteps?: number;
  /** Read the loss back every `logEvery` steps and report it. Default 50. */
  logEvery?: number;
  onLog?: (info: { step: number; steps: number; epoch: number; loss: number; imagesPerSec: number }) => void;
}

/**
 * Train `params` (consumed: disposed and replaced) on `data` with Adam and mini-batches in a
 * seeded per-epoch order (the last partial batch of an epoch is dropped). Returns the trained
 * params and the losses read back (one per logEvery steps, each the mean of those steps).
 */
export async function fitClassifier(params: ClassifierParams, cfg: ClassifierConfig, data: LabelledImages, o: FitOptions): Promise<{ params: ClassifierParams; losses: number[]; steps: number; seconds: number }> {
  const op = 'fitClassifier';
  try {
    checkSet(op, 'training', data, cfg);
    for (const [k, v, min] of [['epochs', o.epochs, 1], ['batchSize', o.batchSize, 1]] as const) {
      if (!Number.isInteger(v) || v < min) throw new Error(`${op}: ${k} must be an integer >= ${min}, got ${v}`);
    }
    if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new Error(`${op}: lr must be a finite number > 0, got ${o.lr}`);
  } catch (e) {
    T.dispose(params); // consumed, as on success
    throw e;
  }
  const n = Math.min(o.limit ?? data.n, data.n);
  const B = Math.min(o.batchSize, n);
  const perEpoch = Math.floor(n / B);
  const total = Math.min(o.maxSteps ?? Infinity, o.epochs * perEpoch);
  const lrAt = (s: number) => o.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * s) / Math.max(1, total))));
  const opt = adam({ learningRate: lrAt });
  let state = opt.init(params);
  const lossAndGrad = valueAndGrad((p: ClassifierParams, x: Tensor, y: Tensor) => crossEntropy(classifierForward(p, x).logits, y));
  const shuffleKey = foldIn(randomKey(o.seed), 1);
  const logEvery = o.logEvery ?? 50;
  const losses: number[] = [];
  let window: Tensor[] = [];
  const t0 = performance.now();
  let tWin = t0;
  const flush = async (step: number, epoch: number) => {
    if (!window.length) return;
    const s = T.stack(window);
    let v: ArrayLike<number>;
    try { v = await s.data(); } finally { s.dispose(); T.dispose(window); }
    const k = window.length;
    window = [];
    const mean = Array.from(v).reduce((a, b) => a + b, 0) / k;
    if (!Number.isFinite(mean)) throw new Error(`${op}: the loss became ${mean} by step ${step}; lower --lr`);
    losses.push(mean);
    const now = performance.now();
    o.onLog?.({ step, steps: total, epoch, loss: mean, imagesPerSec: (k * B) / Math.max(1e-9, (now - tWin) / 1000) });
    tWin = now;
  };
  try {
    let step = 0;
    for (let epoch = 0; step < total; epoch++) {
      const perm = epochPermutation(shuffleKey, epoch, n);
      for (let b = 0; b < perEpoch && step < total; b++) {
        const { x, y } = gatherBatch(data, perm.subarray(b * B, (b + 1) * B), cfg.numClasses);
        let loss: Tensor, grads: ClassifierParams;
        try {
          [loss, grads] = lossAndGrad(params, x, y) as [Tensor, ClassifierParams];
        } finally {
          x.dispose(); y.dispose();
        }
        ({ params, state } = opt.step(grads, state, params));
        window.push(loss);
        step++;
        if (step % logEvery === 0 || step === total) await flush(step, epoch);
      }
    }
    return { params, losses, steps: total, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    T.dispose(window);
    T.dispose(params);
    throw e;
  } finally {
    T.dispose(state);
  }
}

/**
 * Run the classifier over images (n x 1 x S x S in [-1, 1]) in batches; returns the predicted
 * class and the 128-d features of each (host arrays). `images` may be any Float32Array of n images.
 */
export async function classify(p: ClassifierParams, cfg: ClassifierConfig, images: Float32Array, n: number, batchSize = 500): Promise<{ predictions: Int32Array; features: Float32Array }> {
  const op = 'classify';
  const px = cfg.imageSize * cfg.imageSize;
  if (images.length !== n * px) {
    throw new Error(`${op}: got ${images.length} pixel values for ${n} images; the classifier takes 1 x ${cfg.imageSize} x ${cfg.imageSize} images (${n * px} values)`);
  }
  const predictions = new Int32Array(n);
  const features = new Float32Array(n * cfg.features);
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    const x = T.tensor(images.subarray(s * px, (s + m) * px), [m, 1, cfg.imageSize, cfg.imageSize]);
    let out: { logits: Tensor; features: Tensor } | null = null;
    try {
      out = classifierForward(p, x);
      const [lg, ft] = await Promise.all([out.logits.data(), out.features.data()]);
      features.set(ft, s * cfg.features);
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let k = 1; k < cfg.numClasses; k++) if (lg[i * cfg.numClasses + k]! > lg[i * cfg.numClasses + best]!) best = k;
        predictions[s + i] = best;
      }
    } finally {
      x.dispose();
      if (out) { out.logits.dispose(); out.features.dispose(); }
    }
  }
  return { predictions, features };
}

/** Fraction of predictions equal to labels. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length || labels.length === 0) throw new Error(`accuracy: got ${predictions.length} predictions for ${labels.length} labels; expected as many, at least one`);
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) ok++;
  return ok / labels.length;
}

/** What classifier.json holds beside the weights. */
export interface ClassifierMeta {
  format: typeof CLASSIFIER_FORMAT;
  version: number;
  config: ClassifierConfig;
  /** Accuracy on the 10,000 MNIST test digits at this image size, measured after training. */
  testAccuracy: number;
  /** How many test digits the accuracy was measured on (10,000 unless --test-limit). */
  testDigits: number;
  /** How many training digits it was trained on (60,000 unless --limit). */
  trainDigits: number;
  /** Down-sampling of the data (2x2 area mean for 14). */
  data: string;
  training: { epochs: number; batchSize: number; lr: number; seed: number; steps: number; seconds: number; backend: string; finalLoss: number | null };
  createdAt: string;
}

/** The default folder of the classifier for an image size, relative to the working directory. */
export const defaultClassifierDir = (imageSize: number) => join('runs', `mnist-classifier-${imageSize}`);

/** Write classifier.safetensors then classifier.json (both atomically; the JSON last, so its presence means complete). */
export async function saveClassifier(dir: string, params: ClassifierParams, meta: ClassifierMeta): Promise<void> {
  ensureDir(dir, 'classifier folder');
  await saveSafetensors(join(dir, CLASSIFIER_FILES.weights), params as never, { format: CLASSIFIER_FORMAT });
  await writeFileAtomic(join(dir, CLASSIFIER_FILES.config), JSON.stringify(meta, null, 2) + '\n');
}

/**
 * Read a classifier folder. `imageSize`, when given, must match the one it was trained for.
 * Errors name the file and what was expected: missing files, bad JSON, another format or
 * version, a wrong image size, weights that do not match the config.
 */
export async function loadClassifier(dir: string, imageSize?: number): Promise<{ params: ClassifierParams; meta: ClassifierMeta }> {
  const op = 'loadClassifier';
  const cfgFile = join(dir, CLASSIFIER_FILES.config);
  const wFile = join(dir, CLASSIFIER_FILES.weights);
  if (!existsSync(cfgFile)) throw new Error(`${op}: '${cfgFile}' does not exist; expected a folder written by 'tapegrad train-classifier'`);
  let meta: ClassifierMeta;
  try { meta = JSON.parse(readFileSync(cfgFile, 'utf8')) as ClassifierMeta; } catch (e) {
    throw new Error(`${op}: '${cfgFile}' is not valid JSON (${(e as Error).message}); expected the file written by 'tapegrad train-classifier'`);
  }
  if (meta?.format !== CLASSIFIER_FORMAT || meta.version !== CLASSIFIER_VERSION) {
    throw new Error(`${op}: '${cfgFile}' has format ${JSON.stringify(meta?.format)} version ${JSON.stringify(meta?.version)}; expected format '${CLASSIFIER_FORMAT}' version ${CLASSIFIER_VERSION}`);
  }
  const c = meta.config;
  if (!c || !Number.isInteger(c.imageSize) || !Array.isArray(c.channels) || c.channels.length !== 2 || !Number.isInteger(c.features) || !Number.isInteger(c.numClasses)) {
    throw new Error(`${op}: '${cfgFile}' has config ${JSON.stringify(c)}; expected { imageSize, channels: [c1, c2], features, numClasses }`);
  }
  if (imageSize !== undefined && c.imageSize !== imageSize) {
    throw new Error(`${op}: the classifier in '${dir}' was trained on ${c.imageSize}x${c.imageSize} digits; expected ${imageSize}x${imageSize} (train one with 'tapegrad train-classifier --image-size ${imageSize}')`);
  }
  if (!existsSync(wFile)) throw new Error(`${op}: '${wFile}' does not exist; expected the weights beside '${cfgFile}'`);
  const template = initClassifier(randomKey(0), c);
  try {
    const { params } = await loadSafetensorsInto(wFile, template);
    return { params, meta };
  } catch (e) {
    throw new Error(`${op}: ${(e as Error).message}`);
  } finally {
    T.dispose(template);
  }
}
