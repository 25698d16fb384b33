// The MNIST classifier (src/classifier.ts): shapes, the loss against a float64 hand computation,
// that it learns on a tiny subset, an exact save/load round trip, and the errors of loading
// a missing, corrupt or mismatched classifier.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { randomKey, treeFlattenWithPath } from '@tapegrad/tensor';
import { saveSafetensors } from '@tapegrad/nn';
import {
  accuracy, classifierConfig, classifierForward, classify, crossEntropy, fitClassifier, initClassifier, loadClassifier, saveClassifier,
  CLASSIFIER_FORMAT, CLASSIFIER_VERSION, type ClassifierMeta,
} from '../src/classifier.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { tmp } from './helpers.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

beforeAll(async () => {
  await T.setBackend('webasm');
});

const meta = (imageSize: number, extra: Partial<ClassifierMeta> = {}): ClassifierMeta => ({
  format: CLASSIFIER_FORMAT, version: CLASSIFIER_VERSION, config: classifierConfig(imageSize), testAccuracy: 0.5, testDigits: 10, trainDigits: 10,
  data: 'test', training: { epochs: 1, batchSize: 1, lr: 1, seed: 0, steps: 1, seconds: 0, backend: 'webasm', finalLoss: null }, createdAt: 'now', ...extra,
});

describe('classifier model', () => {
  it('maps [N, 1, S, S] to logits [N, 10] and non-negative 128-d features, for 28 and 14', () => {
    for (const s of [28, 14]) {
      const cfg = classifierConfig(s);
      const p = initClassifier(randomKey(1), cfg);
      const x = T.randomNormal(randomKey(2), [3, 1, s, s]);
      const out = classifierForward(p, x);
      expect(out.logits.shape).toEqual([3, 10]);
      expect(out.features.shape).toEqual([3, 128]);
      expect(Math.min(...out.features.dataSync())).toBeGreaterThanOrEqual(0);
      // fc1 takes 32 x 7 x 7 at 28 and 32 x 3 x 3 at 14 (two floor max-pools)
      expect(p.fc1.weight.shape).toEqual([128, s === 28 ? 32 * 7 * 7 : 32 * 3 * 3]);
      T.dispose([p, x, out]);
    }
  });

  it('crossEntropy is the mean of -log softmax at the label (float64 by hand, property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 1000 }), (n, k, seed) => {
      const logits = T.randomNormal(randomKey(seed), [n, k]);
      const lab = Array.from({ length: n }, (_, i) => (i * 7 + seed) % k);
      const oh = T.tensor(Float32Array.from({ length: n * k }, (_, j) => (lab[Math.floor(j / k)] === j % k ? 1 : 0)), [n, k]);
      const ce = crossEntropy(logits, oh);
      const l = logits.dataSync();
      let want = 0;
      for (let i = 0; i < n; i++) {
        const row = Array.from(l.slice(i * k, (i + 1) * k));
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
        want += (lse - row[lab[i]!]!) / n;
      }
      expect(ce.dataSync()[0]).toBeCloseTo(want, 5);
      T.dispose([logits, oh, ce]);
    }), { numRuns: fcRuns(30) });
  });

  it('accuracy counts matches and refuses mismatched lengths', () => {
    expect(accuracy([1, 2, 3, 4], [1, 0, 3, 0])).toBe(0.5);
    expect(() => accuracy([1], [1, 2])).toThrow(/^accuracy: got 1 predictions for 2 labels/);
  });
});

describe('fitClassifier', () => {
  it('learns on a tiny MNIST subset: the loss falls and held-out accuracy is far above chance', async () => {
    const tr = loadMnist({ split: 'train', imageSize: 14 });
    const te = loadMnist({ split: 'test', imageSize: 14 });
    const cfg = classifierConfig(14);
    const logs: number[] = [];
    const r = await fitClassifier(initClassifier(randomKey(0), cfg), cfg, { images: tr.images, labels: tr.labels!, n: tr.n, size: 14 }, {
      epochs: 3, batchSize: 32, lr: 3e-3, seed: 0, limit: 640, logEvery: 10, onLog: (i) => logs.push(i.loss),
    });
    expect(r.steps).toBe(60);
    expect(logs.length).toBe(6);
    expect(logs[0]).toBeGreaterThan(1.8); // about ln 10 = 2.30 at the start
    expect(logs.at(-1)!).toBeLessThan(logs[0]! - 0.5);
    const c = await classify(r.params, cfg, te.images.subarray(0, 300 * 196), 300);
    const acc = accuracy(c.predictions, te.labels!.subarray(0, 300));
    expect(acc).toBeGreaterThan(0.4); // chance is 0.1
    T.dispose(r.params);
  });

  it('refuses bad options and images of another size', async () => {
    const cfg = classifierConfig(14);
    const d = { images: new Float32Array(2 * 196), labels: Int32Array.from([0, 1]), n: 2, size: 14 };
    const p = () => initClassifier(randomKey(0), cfg);
    await expect(fitClassifier(p(), cfg, { ...d, size: 28, images: new Float32Array(2 * 784) }, { epochs: 1, batchSize: 2, lr: 1e-3, seed: 0 }))
      .rejects.toThrow(/^fitClassifier: the training images are 28x28; the classifier takes 14x14/);
    await expect(fitClassifier(p(), cfg, d, { epochs: 0, batchSize: 2, lr: 1e-3, seed: 0 })).rejects.toThrow(/^fitClassifier: epochs must be an integer >= 1, got 0/);
    await expect(fitClassifier(p(), cfg, d, { epochs: 1, batchSize: 2, lr: -1, seed: 0 })).rejects.toThrow(/^fitClassifier: lr must be a finite number > 0, got -1/);
    await expect(fitClassifier(p(), cfg, { ...d, labels: Int32Array.from([0]) }, { epochs: 1, batchSize: 2, lr: 1e-3, seed: 0 })).rejects.toThrow(/^fitClassifier: the training set has 392 pixel values and 1 labels for n = 2/);
    const q = p();
    await expect(classify(q, cfg, new Float32Array(100), 1)).rejects.toThrow(/^classify: got 100 pixel values for 1 images; the classifier takes 1 x 14 x 14 images \(196 values\)/);
    T.dispose(q);
  });
});

describe('saveClassifier / loadClassifier', () => {
  it('round-trips the weights bit for bit and the metadata', async () => {
    const dir = tmp('cls');
    const cfg = classifierConfig(14);
    const p = initClassifier(randomKey(5), cfg);
    await saveClassifier(dir, p, meta(14, { testAccuracy: 0.987 }));
    const { params, meta: m } = await loadClassifier(dir, 14);
    expect(m.testAccuracy).toBe(0.987);
    expect(m.config).toEqual(cfg);
    const a = treeFlattenWithPath(p) as [string, T.Tensor][], b = treeFlattenWithPath(params) as [string, T.Tensor][];
    expect(b.map(([k]) => k).sort()).toEqual(['conv1.bias', 'conv1.weight', 'conv2.bias', 'conv2.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    expect(b.map(([k]) => k)).toEqual(a.map(([k]) => k));
    for (let i = 0; i < a.length; i++) {
      expect(b[i]![1].shape).toEqual(a[i]![1].shape);
      expect(Buffer.from(b[i]![1].dataSync().buffer).equals(Buffer.from(a[i]![1].dataSync().buffer)), a[i]![0]).toBe(true);
    }
    T.dispose([p, params]);
  });

  it('errors name the file and what was expected', async () => {
    const none = tmp('none');
    await expect(loadClassifier(none)).rejects.toThrow(/^loadClassifier: '.*classifier\.json' does not exist; expected a folder written by 'tapegrad train-classifier'/);
    const dir = tmp('bad');
    const p = initClassifier(randomKey(5), classifierConfig(28));
    await saveClassifier(dir, p, meta(28));
    T.dispose(p);
    await expect(loadClassifier(dir, 14)).rejects.toThrow(/^loadClassifier: the classifier in '.*' was trained on 28x28 digits; expected 14x14 \(train one with 'tapegrad train-classifier --image-size 14'\)/);
    const json = join(dir, 'classifier.json');
    const good = readFileSync(json, 'utf8');
    writeFileSync(json, '{"format": ');
    await expect(loadClassifier(dir)).rejects.toThrow(/^loadClassifier: '.*classifier\.json' is not valid JSON/);
    writeFileSync(json, JSON.stringify({ ...JSON.parse(good), version: 7 }));
    await expect(loadClassifier(dir)).rejects.toThrow(/^loadClassifier: '.*' has format "tapegrad-mnist-classifier" version 7; expected format 'tapegrad-mnist-classifier' version 1/);
    // weights of another architecture (8 channels in conv1) under the right config
    writeFileSync(json, good);
    const other = initClassifier(randomKey(5), classifierConfig(28, { channels: [8, 32] }));
    await saveSafetensors(join(dir, 'classifier.safetensors'), other as never);
    T.dispose(other);
    await expect(loadClassifier(dir)).rejects.toThrow(/^loadClassifier: .*classifier\.safetensors.*shape of 'conv1\.weight' is \[8, ?1, ?3, ?3\] in the file, \[16, ?1, ?3, ?3\]/);
    writeFileSync(join(dir, 'classifier.safetensors'), Buffer.from([1, 2, 3]));
    await expect(loadClassifier(dir)).rejects.toThrow(/^loadClassifier: .*classifier\.safetensors/);
  });
});
