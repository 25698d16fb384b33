// Training sanity on the default backend: an MLP learns XOR, linear regression converges, a
// small CNN overfits a handful of images, and 100 training steps leak nothing (live tensors
// and bytes constant after the first step) and compile no kernel after the first step; the
// leak check runs on every backend.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import * as nn from '../src/index.ts';
import { randomValues, rng } from './helpers.ts';

// start the backend chosen by TAPEGRAD_BACKEND (webgpu needs an asynchronous start-up)
beforeAll(async () => {
  await T.ready();
});

const mse = (a: Tensor, b: Tensor) => T.mean(T.square(T.sub(a, b)));

/** Mean cross-entropy of logits [N, K] against integer labels. */
function crossEntropy(logits: Tensor, labels: number[]): Tensor {
  return T.tidy(() => T.neg(T.mean(T.sum(T.mul(T.logSoftmax(logits, -1), T.oneHot(labels, logits.shape[1])), -1))));
}

/** Train `steps` steps; returns the loss history (read back every step: these are tiny models). */
async function train<P>(params: P, opt: nn.Optimizer<any>, loss: (p: P) => Tensor, steps: number, stopBelow = -Infinity): Promise<{ params: P; losses: number[] }> {
  const vg = valueAndGrad(loss);
  let state = opt.init(params);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const [l, g] = vg(params);
    losses.push((await l.data())[0]);
    l.dispose();
    ({ params, state } = opt.step(g, state, params));
    if (losses[losses.length - 1] < stopBelow) break;
  }
  T.dispose(state);
  return { params, losses };
}

describe('training sanity (default backend)', () => {
  it('an MLP 2-8-1 (tanh) learns XOR to MSE < 1e-3 within 300 adam steps', async () => {
    const model = nn.sequential(nn.linear.module({ inFeatures: 2, outFeatures: 8 }), nn.tanh, nn.linear.module({ inFeatures: 8, outFeatures: 1 }));
    const x = T.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = T.tensor([[0], [1], [1], [0]]);
    const { params, losses } = await train(model.init(T.randomKey(0)), nn.adam({ learningRate: 0.05 }), (p) => mse(model.apply(p, x), y), 300, 1e-3);
    expect(losses[losses.length - 1]).toBeLessThan(1e-3);
    expect(losses.length).toBeLessThanOrEqual(300);
    const pred = model.apply(params, x);
    expect(Array.from(await pred.data()).map(Math.round)).toEqual([0, 1, 1, 0]);
    T.dispose([params, x, y, pred]);
  });

  it('linear regression (64 points, 3 features, noise std 0.01) reaches MSE < 2e-4 within 200 SGD-momentum steps', async () => {
    const r = rng(1);
    const wTrue = [1.5, -2, 0.5];
    const bTrue = 0.3;
    const X = Array.from({ length: 64 }, () => [0, 1, 2].map(() => 2 * r() - 1));
    const Y = X.map((row) => [row.reduce((s, v, i) => s + v * wTrue[i], bTrue) + 0.01 * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())]);
    const x = T.tensor(X);
    const y = T.tensor(Y);
    const { params, losses } = await train(nn.linear.init(T.randomKey(2), { inFeatures: 3, outFeatures: 1 }), nn.sgd({ learningRate: 0.1, momentum: 0.9 }), (p) => mse(nn.linear.apply(p, x), y), 200, 2e-4);
    expect(losses[losses.length - 1]).toBeLessThan(2e-4);
    const w = Array.from(await params.weight.data());
    w.forEach((v, i) => expect(v).toBeCloseTo(wTrue[i], 1));
    expect((await params.bias!.data())[0]).toBeCloseTo(bTrue, 1);
    T.dispose([params, x, y]);
  });

  it('a small CNN (conv, groupNorm, silu, strided conv, linear) overfits 8 images with random labels within 150 adamw steps', async () => {
    const model = nn.sequential(
      nn.conv2d.module({ inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1 }),
      nn.groupNorm.module({ groups: 2, channels: 8 }),
      nn.silu,
      nn.conv2d.module({ inChannels: 8, outChannels: 8, kernelSize: 3, stride: 2, padding: 1 }),
      nn.relu,
      nn.flatten,
      nn.linear.module({ inFeatures: 8 * 4 * 4, outFeatures: 4 }),
    );
    const images = T.tensor(randomValues(3, 8 * 64), [8, 1, 8, 8]);
    const labels = [0, 1, 2, 3, 3, 2, 1, 0];
    const { params, losses } = await train(model.init(T.randomKey(4)), nn.adamw({ learningRate: 0.01, weightDecay: 1e-4 }), (p) => crossEntropy(model.apply(p, images), labels), 150, 0.02);
    expect(losses[losses.length - 1]).toBeLessThan(0.02);
    const logits = model.apply(params, images);
    const pred = T.argmax(logits, 1);
    expect(Array.from(await pred.data())).toEqual(labels);
    T.dispose([params, images, logits, pred]);
  });

});

// The leak check on every backend: memory() includes the gpu.js backends' allocation counter
// (storages handed out minus storages freed), so a storage the engine or a backend forgets to
// free shows on webasm and cpu too, where the garbage collector would otherwise hide it.
let webgpuSkip: string | undefined;
const defaultBackend = await T.ready();
try {
  await T.setBackend('webgpu');
} catch (e) {
  webgpuSkip = (e as Error).message.split('\n')[0];
  console.warn(`nn training.test.ts: the webgpu leak test is skipped: ${webgpuSkip}`);
}
await T.setBackend(defaultBackend);

const LEAK_STEPS: [T.BackendName, number][] = [['webasm', 100], ['cpu', 100], ['webgpu', 20], ['reference', 50]];
// (in the reference project of vitest.workspace.ts the default backend is reference: only its entry runs there)
for (const [backend, steps] of LEAK_STEPS.filter(([b]) => defaultBackend !== 'reference' || b === 'reference')) {
  const skip = backend === 'webgpu' ? webgpuSkip : undefined;
  describe.skipIf(skip !== undefined)(`training leak check on ${backend}${skip ? ` (SKIPPED: ${skip})` : ''}`, () => {
    let prev: T.BackendName;
    beforeAll(async () => {
      prev = T.getBackend();
      await T.setBackend(backend);
    });
    afterAll(async () => {
      await T.setBackend(prev);
    });
    it(`${steps} training steps with dropout, attention, EMA and clipping leak nothing (memory() incl. allocations flat) and compile no kernel after step 1`, async () => {
      expect(T.getBackend()).toBe(backend);
      await leakCheck(steps);
    });
  });
}

async function leakCheck(steps: number): Promise<void> {
  const model = nn.sequential(
    nn.conv2d.module({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1 }),
    nn.groupNorm.module({ groups: 2, channels: 4 }),
    nn.gelu,
    nn.multiHeadSelfAttention.module({ dim: 4, heads: 2 }),
    nn.dropout.module({ rate: 0.1 }),
    nn.flatten,
    nn.linear.module({ inFeatures: 4 * 3 * 3, outFeatures: 2 }),
  );
  const x = T.tensor(randomValues(5, 2 * 2 * 9), [2, 2, 3, 3]);
  const y = T.tensor([[1, 0], [0, 1]]);
  const key = T.randomKey(6);
  const vg = valueAndGrad((p: nn.ParamsOf<typeof model>, k: T.RandomKey) => mse(model.apply(p, x, { train: true, key: k }), y));
  const opt = nn.adamw({ learningRate: nn.warmupCosineDecay({ peak: 1e-2, warmupSteps: 10, decaySteps: 100 }) });
  const avg = nn.ema({ decay: 0.99, warmup: 'tensorflow' });
  let params = model.init(T.randomKey(7));
  let state = opt.init(params);
  let emaState = avg.init(params);
  let after1: ReturnType<typeof T.memory> | null = null;
  let kernels = 0;
  for (let i = 0; i < steps; i++) {
    const [l, g] = vg(params, T.foldIn(key, i));
    const { grads, norm } = nn.clipByGlobalNorm(g, 1);
    T.dispose([g, norm]);
    ({ params, state } = opt.step(grads, state, params));
    emaState = avg.step(emaState, params);
    if (i % 25 === 0) expect(Number.isFinite((await l.data())[0])).toBe(true);
    l.dispose();
    if (i === 0) {
      after1 = T.memory();
      kernels = T.kernelBuilds();
    } else {
      expect(T.memory(), `memory() at step ${i + 1}`).toEqual(after1);
    }
  }
  expect(T.kernelBuilds()).toBe(kernels);
  T.dispose([params, state, emaState, x, y]);
}
