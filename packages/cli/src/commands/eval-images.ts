// `tapegrad eval` for MNIST image runs: the classifier's accuracy on class-conditional samples
// (each requested class, with guidance), the Frechet distance of the samples in the classifier's
// 128-d feature space against the test digits beside the floor (as many training digits against
// the same test digits), and bits/dim (variational bound) on held-out test digits.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey } from '@tapegrad/tensor';
import type { Tree } from '@tapegrad/nn';
import { arraySource, bitsPerDim, epochPermutation, frechetDistanceOfFeatures, makeSchedule, type SamplerName } from '@tapegrad/ddpm';
import { accuracy, classify, CLASSIFIER_FILES, defaultClassifierDir, loadClassifier, type ClassifierConfig, type ClassifierParams } from '../classifier.ts';
import { loadMnist } from '../data/mnist.ts';
import { checkWritableDir, UsageError, writeFileAtomic } from '../fsx.ts';
import { writeImageGrid } from '../pictures/png.ts';
import type { RunConfig } from '../run.ts';
import { modelOf, sampleImages } from '../tasks.ts';
import { trainClassifierInto, type TrainClassifierFlags } from './train-classifier.ts';
import type { Io } from '../io.ts';

export interface ImageEvalFlags {
  /** Conditional runs: samples per requested class (default 50); unconditional: samples (default 500). */
  n?: number;
  sampler?: SamplerName;
  steps?: number;
  guidance?: number;
  classes?: number[];
  seed?: number;
  classifier?: string;
  /** Test digits in the Frechet reference (default all 10,000). */
  referenceN?: number;
  /** Test digits for bits/dim (default 100; 0 skips it). */
  bpdN?: number;
  /** Timesteps of the bound per batch (default 100 of T = 1000, the stratified estimate; T: exact). */
  bpdTimesteps?: number;
  /** Images per model call when sampling and in the bound (default 50). */
  batch?: number;
  quiet?: boolean;
  /** Sample op by op instead of compiled denoising steps (the default). Same results. */
  eager?: boolean;
}

export const IMAGE_EVAL_DEFAULTS = { perClass: 50, n: 500, sampler: 'dpmsolver++' as SamplerName, steps: 20, guidance: 3, bpdN: 100, bpdTimesteps: 100, batch: 50 } as const;

/** Flags that only mean something for image runs / 2-D runs: refused on the other kind before any work. */
export function checkImageEvalFlags(cfg: RunConfig, f: ImageEvalFlags & { bandwidth?: unknown; samplers?: unknown }, run: string): void {
  const im = cfg.image;
  if (!im) {
    const given = (['sampler', 'steps', 'guidance', 'classes', 'seed', 'classifier', 'referenceN', 'bpdN', 'bpdTimesteps', 'batch', 'quiet'] as const).filter((k) => f[k] !== undefined);
    if (given.length) throw new UsageError(`--${given.map((k) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', --')} appl${given.length > 1 ? 'y' : 'ies'} to MNIST image runs; '${run}' is a 2-D run (its eval takes --n, --bandwidth, --samplers)`);
    return;
  }
  if (f.bandwidth !== undefined || f.samplers !== undefined) throw new UsageError(`--bandwidth and --samplers apply to 2-D runs; '${run}' is an image run (use --sampler, --steps, --guidance)`);
  if (im.source !== 'mnist') throw new UsageError(`eval: '${run}' was trained on the PNG folder '${im.source}'; image metrics need MNIST (the classifier and the held-out test digits); expected a run of 'tapegrad train --data mnist'`);
  if (im.height !== im.width || (im.height !== 28 && im.height !== 14)) throw new UsageError(`eval: '${run}' has ${im.height}x${im.width} images; the MNIST classifier exists for 28x28 and 14x14`);
  if (f.steps !== undefined && f.steps > cfg.T) throw new UsageError(`--steps ${f.steps} is more than the ${cfg.T} training timesteps of the run; expected 1..${cfg.T}`);
  if (!im.conditional && (f.guidance !== undefined || f.classes !== undefined)) throw new UsageError(`--guidance and --classes need a class-conditional model; the run '${run}' is unconditional`);
  const bad = (f.classes ?? []).find((c) => c >= im.numClasses);
  if (bad !== undefined) throw new UsageError(`--classes: ${bad} is not a class of the run; expected 0..${im.numClasses - 1}`);
  if (f.bpdTimesteps !== undefined && (f.bpdTimesteps < 2 || f.bpdTimesteps > cfg.T)) throw new UsageError(`--bpd-timesteps ${f.bpdTimesteps}: expected 2..${cfg.T} (${cfg.T}: the exact bound)`);
  if (f.referenceN !== undefined && f.referenceN < 2) throw new UsageError(`--reference-n ${f.referenceN}: expected at least 2 test digits (a covariance needs 2)`);
}

/**
 * The classifier for `size`: loaded from `dir`, or trained into it first (with `training`, by
 * default train-classifier's defaults) when the folder has none, which is said on stdout.
 */
export async function ensureClassifier(dir: string, size: number, io: Io, backend: string, training: TrainClassifierFlags = {}): Promise<{ params: ClassifierParams; cfg: ClassifierConfig; testAccuracy: number; testDigits: number; trainedNow: boolean }> {
  let trainedNow = false;
  if (!existsSync(join(dir, CLASSIFIER_FILES.config))) {
    try { checkWritableDir(dir, '--classifier folder'); } catch (e) { throw new UsageError(`eval: no MNIST classifier for ${size}x${size} digits in '${dir}', and it cannot be trained there: ${(e as Error).message}`); }
    io.stdout(`eval: no MNIST classifier for ${size}x${size} digits in '${dir}'; training it first (= tapegrad train-classifier --image-size ${size} --out ${dir})\n`);
    await trainClassifierInto(dir, size, training, io, backend);
    trainedNow = true;
  }
  const { params, meta } = await loadClassifier(dir, size).catch((e: Error) => { throw new Error(`eval: ${e.message}`); });
  return { params, cfg: meta.config, testAccuracy: meta.testAccuracy, testDigits: meta.testDigits, trainedNow };
}

export async function evalImageRun(run: { cfg: RunConfig; dir: string; ema: Tree; step: number; ckpt: string }, flags: ImageEvalFlags, io: Io, backend: string): Promise<number> {
  const { cfg } = run;
  const im = cfg.image!;
  const size = im.height;
  const say = (s: string) => { if (!flags.quiet) io.stdout(s + '\n'); };
  const sampler = flags.sampler ?? IMAGE_EVAL_DEFAULTS.sampler;
  const steps = flags.steps ?? IMAGE_EVAL_DEFAULTS.steps;
  const guidance = im.conditional ? (flags.guidance ?? IMAGE_EVAL_DEFAULTS.guidance) : 1;
  const classes = im.conditional ? (flags.classes ?? Array.from({ length: im.numClasses }, (_, c) => c)) : [];
  const perClass = flags.n ?? IMAGE_EVAL_DEFAULTS.perClass;
  const nSamples = im.conditional ? perClass * classes.length : (flags.n ?? IMAGE_EVAL_DEFAULTS.n);
  const batch = flags.batch ?? IMAGE_EVAL_DEFAULTS.batch;
  const seed = flags.seed ?? 0;
  const clsDir = resolve(flags.classifier ?? defaultClassifierDir(size));
  const clf = await ensureClassifier(clsDir, size, io, backend, { quiet: flags.quiet });
  try {
    const schedule = makeSchedule(cfg.schedule, cfg.T);
    const root = randomKey(seed);
    const px = size * size;

    // 1. samples (conditional: perClass of each requested class), in chunks of `batch`
    const t0 = performance.now();
    const samples = new Float32Array(nSamples * px);
    const requested = new Int32Array(nSamples);
    let filled = 0;
    const groups = im.conditional ? classes.map((c) => ({ c, n: perClass })) : [{ c: -1, n: nSamples }];
    for (const g of groups) {
      for (let done = 0, chunk = 0; done < g.n; chunk++) {
        const m = Math.min(batch, g.n - done);
        const key = foldIn(foldIn(foldIn(root, 1), g.c + 1), chunk);
        const r = await sampleImages(cfg, run.ema, schedule, { sampler, steps, guidance, key, n: m, classIndex: g.c >= 0 ? g.c : undefined, eager: flags.eager });
        samples.set(r.images, filled * px);
        requested.fill(g.c, filled, filled + m);
        filled += m; done += m;
        say(`  sampled ${filled}/${nSamples} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      }
    }
    const sampleSeconds = (performance.now() - t0) / 1000;

    // 2. classifier: accuracy of the requested classes, features
    const sc = await classify(clf.params, clf.cfg, samples, nSamples);
    let acc: { overall: number; perClass: Record<string, number> } | null = null;
    if (im.conditional) {
      const perClassAcc: Record<string, number> = {};
      for (const c of classes) {
        const idx = [...requested.keys()].filter((i) => requested[i] === c);
        perClassAcc[String(c)] = accuracy(idx.map((i) => sc.predictions[i]!), idx.map(() => c));
      }
      acc = { overall: accuracy(sc.predictions, requested), perClass: perClassAcc };
    }

    // 3. Frechet distance vs the test digits, and the floor: as many training digits vs the same test digits
    const test = loadMnist({ split: 'test', imageSize: size });
    const refN = Math.min(flags.referenceN ?? test.n, test.n);
    const ref = await classify(clf.params, clf.cfg, test.images.subarray(0, refN * px), refN);
    const train = loadMnist({ split: 'train', imageSize: size });
    const pick = epochPermutation(foldIn(root, 2), 0, train.n).subarray(0, nSamples);
    const floorImages = new Float32Array(nSamples * px);
    pick.forEach((src, j) => floorImages.set(train.images.subarray(src * px, (src + 1) * px), j * px));
    const fl = await classify(clf.params, clf.cfg, floorImages, nSamples);
    const d = clf.cfg.features;
    const frechet = {
      samples: frechetDistanceOfFeatures(sc.features, ref.features, d),
      floor: frechetDistanceOfFeatures(fl.features, ref.features, d),
    };

    // 4. bits/dim on held-out test digits (the last ones, so a reference of the first ones overlaps least)
    const bpdN = Math.min(flags.bpdN ?? IMAGE_EVAL_DEFAULTS.bpdN, test.n);
    const K = Math.min(flags.bpdTimesteps ?? IMAGE_EVAL_DEFAULTS.bpdTimesteps, cfg.T);
    let bpd: { value: number; stdErr: number; n: number; timesteps: number; T: number; exact: boolean; labels: string; seconds: number } | null = null;
    if (bpdN > 0) {
      const t1 = performance.now();
      const start = test.n - bpdN;
      const heldOut = arraySource(test.images.subarray(start * px), [1, size, size], test.labels!.subarray(start), im.numClasses);
      const r = await bitsPerDim(modelOf(cfg, run.ema), heldOut, {
        schedule, key: foldIn(root, 3), batchSize: batch, prediction: cfg.prediction, timesteps: K, labels: im.conditional ? 'data' : undefined,
      });
      bpd = { value: r.bitsPerDim, stdErr: r.stdErr, n: r.n, timesteps: K, T: cfg.T, exact: K === cfg.T, labels: im.conditional ? 'the digits\' labels (class-conditional likelihood)' : 'none (unconditional)', seconds: (performance.now() - t1) / 1000 };
    }

    const report = {
      run: run.dir, checkpoint: run.ckpt, step: run.step, data: 'mnist', imageSize: size, conditional: im.conditional, backend,
      classifier: { dir: clsDir, testAccuracy: clf.testAccuracy, testDigits: clf.testDigits, trainedNow: clf.trainedNow },
      sampling: { sampler, steps, spacing: 'trailing', guidance, seed, classes: im.conditional ? classes : null, perClass: im.conditional ? perClass : null, n: nSamples, seconds: sampleSeconds },
      accuracy: acc,
      frechet: {
        ...frechet, n: nSamples, referenceN: refN,
        features: `the classifier's ${d}-d penultimate activations (ReLU of fc1)`,
        reference: `the first ${refN} MNIST test digits`,
        floorData: `${nSamples} MNIST training digits (seeded choice) against the same reference`,
      },
      bitsPerDim: bpd,
    };
    writeFileAtomic(join(run.dir, 'eval.json'), JSON.stringify(report, null, 2) + '\n');
    const gridN = Math.min(nSamples, im.conditional ? 10 * classes.length : 100);
    const cols = im.conditional ? Math.min(10, perClass) : 10;
    const show = new Float32Array(gridN * px);
    let k = 0;
    for (let i = 0; i < nSamples && k < gridN; i++) {
      if (im.conditional && i % perClass >= cols) continue;
      show.set(samples.subarray(i * px, (i + 1) * px), k++ * px);
    }
    writeImageGrid(join(run.dir, 'eval-samples.png'), show.subarray(0, k * px), k, 1, size, size, { cols, scale: size <= 14 ? 4 : 2 });

    io.stdout(`eval of ${run.ckpt} (MNIST ${size}x${size}, ${nSamples} samples: ${sampler} ${steps} steps${im.conditional ? `, guidance ${guidance}` : ''}, ${sampleSeconds.toFixed(1)} s)\n`);
    io.stdout(`  classifier                 ${clsDir} (test accuracy ${(clf.testAccuracy * 100).toFixed(2)}%${clf.trainedNow ? ', trained now' : ''})\n`);
    if (acc) {
      io.stdout(`  accuracy of the samples    ${(acc.overall * 100).toFixed(1)}%  (per class: ${classes.map((c) => `${c}: ${(acc.perClass[String(c)]! * 100).toFixed(0)}%`).join(', ')})\n`);
    } else io.stdout('  accuracy of the samples    - (unconditional run)\n');
    io.stdout(`  Frechet distance           ${frechet.samples.toFixed(3)}  (floor, ${nSamples} training digits: ${frechet.floor.toFixed(3)}; reference ${refN} test digits)\n`);
    if (bpd) io.stdout(`  bits/dim                   ${bpd.value.toFixed(3)} +- ${bpd.stdErr.toFixed(3)}  (${bpd.n} test digits, ${bpd.exact ? 'exact bound' : `stratified estimate over ${K} of ${cfg.T} timesteps`}, ${bpd.seconds.toFixed(1)} s)\n`);
    else io.stdout('  bits/dim                   - (--bpd-n 0)\n');
    io.stdout(`wrote ${join(run.dir, 'eval.json')} and ${join(run.dir, 'eval-samples.png')}\n`);
    return 0;
  } finally {
    T.dispose(clf.params);
  }
}
