// `tapegrad train-classifier` and `tapegrad eval` of MNIST image runs at toy size: 14x14 runs of
// a 4/8-channel UNet trained for 2 steps, a classifier trained on 512 digits. eval.json's fields
// and ranges, the floor recomputed independently, the classifier trained on first use, and
// the errors (PNG-folder run, flags of the other kind of run, wrong-size or corrupt classifier).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey } from '@tapegrad/tensor';
import { epochPermutation, frechetDistanceOfFeatures } from '@tapegrad/ddpm';
import { classify, loadClassifier } from '../src/classifier.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { ensureClassifier } from '../src/commands/eval-images.ts';
import { cli, tmp } from './helpers.ts';

const TINY = ['--unet-channels', '4,8', '--steps', '2', '--batch-size', '4', '--log-every', '1', '--sample-every', '0'];
const QUICK_EVAL = ['--steps', '2', '--bpd-n', '3', '--bpd-timesteps', '3', '--reference-n', '200', '--batch', '8'];

describe('train-classifier and eval of MNIST image runs (toy sizes)', () => {
  const root = tmp('evimg');
  const cls = join(root, 'cls14');
  const cond = join(root, 'cond');
  const uncond = join(root, 'uncond');

  beforeAll(async () => {
    await T.setBackend('webasm');
  });

  it('train-classifier --image-size 14 writes the weights and classifier.json with its measured accuracy', async () => {
    const r = await cli(['train-classifier', '--image-size', '14', '--limit', '512', '--test-limit', '200', '--epochs', '1', '--batch-size', '32', '--out', cls]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/training the MNIST classifier for 14x14 digits on 512 training digits/);
    expect(r.out).toMatch(/test accuracy \d+\.\d\d% on 200 test digits/);
    const meta = JSON.parse(readFileSync(join(cls, 'classifier.json'), 'utf8'));
    expect(meta).toMatchObject({ format: 'tapegrad-mnist-classifier', version: 1, testDigits: 200, trainDigits: 512, config: { imageSize: 14, channels: [16, 32], features: 128, numClasses: 10 } });
    expect(meta.training).toMatchObject({ epochs: 1, batchSize: 32, steps: 16, backend: 'webasm' });
    expect(meta.testAccuracy).toBeGreaterThan(0.1); // better than chance after 16 steps
    expect(meta.testAccuracy).toBeLessThanOrEqual(1);
    // the stored accuracy is what the saved weights score on those 200 test digits
    const { params, meta: m } = await loadClassifier(cls, 14);
    const te = loadMnist({ split: 'test', imageSize: 14 });
    const c = await classify(params, m.config, te.images.subarray(0, 200 * 196), 200);
    T.dispose(params);
    expect(c.predictions.filter((p, i) => p === te.labels![i]).length / 200).toBe(meta.testAccuracy);
  });

  it('train-classifier: usage errors', async () => {
    let r = await cli(['train-classifier', '--image-size', '20']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--image-size 20 is not supported; expected 28 or 14/);
    r = await cli(['train-classifier', '--epochs', '0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--epochs <n>.*'0'/);
    r = await cli(['train-classifier', '--out', '/dev/null/x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/'\/dev\/null' exists and is not a folder/);
  });

  it('eval of a class-conditional run: accuracy per requested class, Frechet beside its floor, bits/dim; eval.json and a grid', async () => {
    const t = await cli(['train', '--data', 'mnist', '--image-size', '14', '--conditional', ...TINY, '--out', cond]);
    expect(t.code, t.err).toBe(0);
    const r = await cli(['eval', '--checkpoint', cond, '--classifier', cls, '--n', '3', '--classes', '1,7', ...QUICK_EVAL]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/accuracy of the samples +\d+\.\d%/);
    expect(r.out).toMatch(/Frechet distance +\d+\.\d+ +\(floor, 6 training digits: \d+\.\d+/);
    expect(r.out).toMatch(/bits\/dim +\d+\.\d+ \+- \d+\.\d+ +\(3 test digits, stratified estimate over 3 of 1000 timesteps/);
    const e = JSON.parse(readFileSync(join(cond, 'eval.json'), 'utf8'));
    expect(e).toMatchObject({ data: 'mnist', imageSize: 14, conditional: true, step: 2 });
    expect(e.classifier).toMatchObject({ trainedNow: false, testDigits: 200 });
    expect(e.sampling).toMatchObject({ sampler: 'dpmsolver++', steps: 2, guidance: 3, classes: [1, 7], perClass: 3, n: 6 });
    expect(Object.keys(e.accuracy.perClass)).toEqual(['1', '7']);
    for (const v of [e.accuracy.overall, ...Object.values(e.accuracy.perClass) as number[]]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      expect(Number.isInteger(v * 3) || Number.isInteger(v * 6)).toBe(true); // counts out of 3 per class, 6 overall
    }
    expect((e.accuracy.perClass['1'] + e.accuracy.perClass['7']) / 2).toBeCloseTo(e.accuracy.overall, 12);
    expect(e.frechet.samples).toBeGreaterThanOrEqual(0);
    expect(e.frechet.floor).toBeGreaterThanOrEqual(0);
    expect(e.frechet).toMatchObject({ n: 6, referenceN: 200 });
    // a 2-step UNet draws noise, not digits: far from the test digits, much farther than real digits are
    expect(e.frechet.samples).toBeGreaterThan(e.frechet.floor);
    expect(e.bitsPerDim).toMatchObject({ n: 3, timesteps: 3, T: 1000, exact: false });
    expect(e.bitsPerDim.value).toBeGreaterThan(0);
    expect(e.bitsPerDim.stdErr).toBeGreaterThanOrEqual(0);
    const png = PNG.sync.read(readFileSync(join(cond, 'eval-samples.png')));
    expect(png.width).toBeGreaterThan(3 * 14 * 4); // 3 columns of 4x up-scaled 14x14 digits
  });

  it('the floor is the Frechet distance of as many seeded training digits as samples against the test reference (recomputed)', async () => {
    const e = JSON.parse(readFileSync(join(cond, 'eval.json'), 'utf8'));
    const { params, meta } = await loadClassifier(cls, 14);
    const tr = loadMnist({ split: 'train', imageSize: 14 });
    const te = loadMnist({ split: 'test', imageSize: 14 });
    // the README's rule: the first n of the seeded permutation epochPermutation(foldIn(key(seed), 2), 0, 60000)
    const pick = epochPermutation(foldIn(randomKey(0), 2), 0, tr.n).subarray(0, 6);
    const imgs = new Float32Array(6 * 196);
    pick.forEach((s, j) => imgs.set(tr.images.subarray(s * 196, (s + 1) * 196), j * 196));
    const a = await classify(params, meta.config, imgs, 6);
    const b = await classify(params, meta.config, te.images.subarray(0, 200 * 196), 200);
    T.dispose(params);
    expect(e.frechet.floor).toBeCloseTo(frechetDistanceOfFeatures(a.features, b.features, 128), 9);
  });

  it('eval of an unconditional run reports no accuracy, Frechet and bits/dim; class flags are refused', async () => {
    const t = await cli(['train', '--data', 'mnist', '--image-size', '14', ...TINY, '--out', uncond]);
    expect(t.code, t.err).toBe(0);
    let r = await cli(['eval', '--checkpoint', uncond, '--classifier', cls, '--n', '4', ...QUICK_EVAL]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/accuracy of the samples +- \(unconditional run\)/);
    const e = JSON.parse(readFileSync(join(uncond, 'eval.json'), 'utf8'));
    expect(e.accuracy).toBeNull();
    expect(e.sampling).toMatchObject({ n: 4, guidance: 1, classes: null });
    expect(e.frechet.samples).toBeGreaterThanOrEqual(0);
    expect(e.bitsPerDim.value).toBeGreaterThan(0);
    r = await cli(['eval', '--checkpoint', uncond, '--classifier', cls, '--guidance', '2']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--guidance and --classes need a class-conditional model; the run '.*' is unconditional/);
  });

  it('eval: errors for flags of the other kind of run, a PNG-folder run, a wrong-size or corrupt classifier', async () => {
    let r = await cli(['eval', '--checkpoint', cond, '--bandwidth', '0.5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--bandwidth and --samplers apply to 2-D runs; '.*' is an image run/);
    r = await cli(['eval', '--checkpoint', cond, '--classes', '10']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--classes: 10 is not a class of the run; expected 0..9/);
    r = await cli(['eval', '--checkpoint', cond, '--steps', '2000']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--steps 2000 is more than the 1000 training timesteps/);
    // a 2-D run refuses the MNIST flags
    const moons = join(root, 'moons');
    expect((await cli(['train', '--data', 'moons', '--steps', '2', '--batch-size', '8', '--out', moons, '--sample-every', '0'])).code).toBe(0);
    r = await cli(['eval', '--checkpoint', moons, '--guidance', '3', '--bpd-n', '5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--guidance, --bpd-n apply to MNIST image runs; '.*' is a 2-D run/);
    // a PNG-folder run
    const imgs = tmp('pngs');
    for (let i = 0; i < 4; i++) {
      const png = new PNG({ width: 4, height: 4 });
      png.data.fill(i * 60);
      writeFileSync(join(imgs, `i${i}.png`), PNG.sync.write(png));
    }
    const folderRun = join(root, 'folder');
    expect((await cli(['train', '--data', imgs, ...TINY, '--out', folderRun])).code).toBe(0);
    r = await cli(['eval', '--checkpoint', folderRun]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/was trained on the PNG folder '.*'; image metrics need MNIST/);
    // a classifier for 28x28 digits given to a 14x14 run
    const cls28 = join(root, 'cls28');
    mkdirSync(cls28);
    const meta = JSON.parse(readFileSync(join(cls, 'classifier.json'), 'utf8'));
    writeFileSync(join(cls28, 'classifier.json'), JSON.stringify({ ...meta, config: { ...meta.config, imageSize: 28 } }));
    r = await cli(['eval', '--checkpoint', cond, '--classifier', cls28, ...QUICK_EVAL]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^eval: loadClassifier: the classifier in '.*cls28' was trained on 28x28 digits; expected 14x14/);
    // a corrupt one
    const bad = join(root, 'clsbad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'classifier.json'), 'not json');
    r = await cli(['eval', '--checkpoint', cond, '--classifier', bad, ...QUICK_EVAL]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^eval: loadClassifier: '.*classifier\.json' is not valid JSON/);
  });

  it('ensureClassifier trains a missing classifier first and says so; a present one is loaded', async () => {
    let out = '';
    const io = { stdout: (s: string) => { out += s; }, stderr: () => {}, isTTY: false, env: {} };
    const dir = join(root, 'fresh');
    const a = await ensureClassifier(dir, 14, io, 'webasm', { limit: 64, testLimit: 50, epochs: 1, batchSize: 32, quiet: true });
    expect(a.trainedNow).toBe(true);
    expect(out).toMatch(/eval: no MNIST classifier for 14x14 digits in '.*fresh'; training it first/);
    expect(existsSync(join(dir, 'classifier.safetensors'))).toBe(true);
    T.dispose(a.params);
    const b = await ensureClassifier(dir, 14, io, 'webasm');
    expect(b.trainedNow).toBe(false);
    expect(b.testAccuracy).toBe(a.testAccuracy);
    T.dispose(b.params);
    await expect(ensureClassifier('/dev/null/cls', 14, io, 'webasm')).rejects.toThrow(/^eval: no MNIST classifier for 14x14 digits in '\/dev\/null\/cls', and it cannot be trained there: .*'\/dev\/null' exists and is not a folder/);
  });
});
