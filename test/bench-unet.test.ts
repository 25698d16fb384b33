// bench/unet.ts is the model the issue-11 benchmark times against its TensorFlow.js twin
// (bench/tfjs/unet.cjs). The comparison is only fair if they are the same network: same
// parameter count (the twin's count comes from tfjs, independently), and the tapegrad model must
// produce the right shapes, train (loss finite, every gradient finite and shaped like its param)
// and leak no tensor.

import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import * as nn from '@tapegrad/nn';
import { vjp } from '@tapegrad/autograd';
import { unetApply, unetInit, type UNetParams } from '../bench/unet.ts';

const require = createRequire(import.meta.url);

it('bench/unet.ts has exactly the parameter count of its TensorFlow.js twin', async () => {
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const { buildModel } = require('../bench/tfjs/unet.cjs');
  const twin = buildModel(tf, { convImpl: 'native' });
  const tfCount = twin.params.reduce((a: number, p: { size: number }) => a + p.size, 0);
  tf.dispose(twin.params);
  const params = T.useBackend('reference', () => unetInit(T.randomKey(0)));
  try {
    expect(nn.countParams(params)).toBe(tfCount);
    expect(tfCount).toBe(509857);
  } finally {
    T.dispose(params);
  }
});

it('bench/unet.ts: one training step on webasm gives a finite loss and finite gradients of every param', () => {
  T.useBackend('webasm', () => {
    const params = unetInit(T.randomKey(1));
    const x = T.randomNormal(T.randomKey(2), [1, 1, 28, 28]);
    const eps = T.randomNormal(T.randomKey(3), [1, 1, 28, 28]);
    const ts = [700];
    const y = unetApply(params, x, ts);
    expect(y.shape).toEqual([1, 1, 28, 28]);
    const [loss, fn] = vjp((p) => T.mean(T.square(T.sub(unetApply(p as UNetParams, x, ts), eps))), params);
    const one = T.onesLike(loss as T.Tensor);
    const [g] = fn(one);
    fn.dispose();
    try {
      expect(Number.isFinite((loss as T.Tensor).dataSync()[0])).toBe(true);
      const gs = nn.describeTree(g as UNetParams);
      const ps = nn.describeTree(params);
      expect(gs.map((d) => [d.name, d.shape])).toEqual(ps.map((d) => [d.name, d.shape]));
      const leaves: T.Tensor[] = [];
      const walk = (v: unknown): void => {
        if (T.isTensor(v)) leaves.push(v);
        else if (v && typeof v === 'object') Object.values(v).forEach(walk);
      };
      walk(g);
      for (const t of leaves) expect(t.dataSync().every(Number.isFinite)).toBe(true);
    } finally {
      T.dispose([params, x, eps, y, loss as T.Tensor, one, g as UNetParams]);
    }
  });
});
