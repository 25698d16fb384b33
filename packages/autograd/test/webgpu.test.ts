// Gradients on webgpu (Dawn; Mesa lavapipe on CPU-only machines): the backward pass runs
// through the backend's program-ordered job queue, so check a few representative functions
// end to end against float64 finite differences, and that a webgpu training step frees what
// it creates. Skipped, with the reason in the titles and printed, when no adapter answers.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { gradcheck, gradgradcheck, valueAndGrad } from '@tapegrad/autograd';

let skip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  skip = (e as Error).message.split('\n')[0];
  console.warn(`autograd webgpu.test.ts: skipped: ${skip}`);
}
const title = (s: string) => (skip ? `${s} (SKIPPED: ${skip})` : s);

function inputs(seed: number, ...shapes: number[][]): Tensor[] {
  const keys = T.splitKey(T.randomKey(seed), shapes.length);
  return T.useBackend('webgpu', () => shapes.map((s, i) => T.randomNormal(keys[i], s, 0, 0.5)));
}

describe.skipIf(skip !== undefined)('autograd on webgpu', () => {
  it(title('gradcheck: MLP loss with broadcasting, softmax and gelu'), async () => {
    const xs = inputs(1, [4, 3], [3, 5], [5]);
    try {
      expect(xs[0].backend).toBe('webgpu');
      const f = (x: Tensor, w: Tensor, b: Tensor) => T.mean(T.mul(T.softmax(T.gelu(T.add(T.matmul(x, w), b))), T.arange(5)));
      const r = await gradcheck(f, xs, { directions: 2 });
      expect(r.ok).toBe(true);
      expect(r.backend).toBe('webgpu');
    } finally {
      T.dispose(xs);
    }
  });

  it(title('gradcheck: conv2d, groupnorm-like statistics, avgPool2d'), async () => {
    const xs = inputs(2, [2, 4, 5, 5], [4, 2, 3, 3]);
    try {
      const f = (x: Tensor, w: Tensor) => {
        const y = T.conv2d(x, w, { padding: 1, groups: 2 });
        const z = T.div(T.sub(y, T.mean(y, [2, 3], true)), T.sqrt(T.add(T.variance(y, [2, 3], true), 1e-5)));
        return T.sum(T.avgPool2d(T.silu(z), 2));
      };
      expect((await gradcheck(f, xs, { directions: 2 })).ok).toBe(true);
    } finally {
      T.dispose(xs);
    }
  });

  it(title('gradgradcheck: tanh(x @ w)'), async () => {
    const xs = inputs(3, [2, 3], [3, 2]);
    try {
      expect((await gradgradcheck((x: Tensor, w: Tensor) => T.tanh(T.matmul(x, w)), xs, { directions: 2 })).ok).toBe(true);
    } finally {
      T.dispose(xs);
    }
  });

  it(title('training steps on webgpu free everything but what they return: memory() (with the allocation counter) flat over 20 steps'), async () => {
    const [x, w] = inputs(4, [8, 4], [4, 4]);
    try {
      const before = T.memory();
      const vg = valueAndGrad((w: Tensor) => T.mean(T.square(T.tanh(T.matmul(x, w)))));
      for (let i = 0; i < 20; i++) {
        const [loss, g] = vg(w);
        if (i % 5 === 0) expect(Number.isFinite((await loss.data())[0])).toBe(true);
        expect(g.backend).toBe('webgpu');
        T.dispose([loss, g]);
        expect(T.memory(), `memory() after step ${i + 1}`).toEqual(before);
      }
    } finally {
      T.dispose([x, w]);
    }
  });
});
