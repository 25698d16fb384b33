// Ownership (issue 8 §2) for the optimizers and EMA: `update` frees nothing; `step` frees
// exactly the old params, the old state and the grads it was given (its documented contract),
// never a tensor that shares their buffers elsewhere (an EMA started from the params) nor
// anything else the caller holds; ema.step frees only its own old state.

import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import * as nn from '../src/index.ts';

beforeAll(async () => {
  await T.setBackend('reference');
});

const values = async (t: T.Tensor) => Array.from(await t.data());

describe('optimizers and ema free only what they own', () => {
  for (const make of [() => nn.sgd({ learningRate: 0.5, momentum: 0.9 }), () => nn.adam({ learningRate: 0.1 }), () => nn.adamw({ learningRate: 0.1 })]) {
    const opt = make();
    it(`${opt.name}: an EMA started from the params outlives the step that frees them; ema.step leaves the params alone`, async () => {
      const before = T.memory();
      const outside = T.scalar(7); // a tensor the caller holds, closed over by the mask
      let params = { w: T.tensor([1, 2]), b: T.scalar(3) };
      const average = nn.ema({ decay: 0.5 });
      let e = average.init(params);
      const mask = (_path: string, p: T.Tensor) => p !== outside && p.rank > 0;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const opt2: nn.Optimizer<any> = opt.name === 'sgd' ? opt : opt.name === 'adam' ? nn.adam({ learningRate: 0.1, weightDecay: 0.1, weightDecayMask: mask }) : nn.adamw({ learningRate: 0.1, weightDecayMask: mask });
      let state = opt2.init(params);
      for (let i = 0; i < 3; i++) {
        const grads = { w: T.tensor([0.5, -0.5]), b: T.scalar(1) };
        ({ params, state } = opt2.step(grads, state, params));
        expect(grads.w.isDisposed && grads.b.isDisposed).toBe(true); // the contract of step
        const old = e;
        e = average.step(e, params);
        expect(old.params.w.isDisposed).toBe(true); // its own old state
        expect(params.w.isDisposed || params.b.isDisposed).toBe(false); // not the params
      }
      // the first EMA state shared the initial params' buffers: freeing those params did not
      // free the buffers under the EMA (reference counts), so every EMA value is readable
      expect((await values(e.params.w)).every(Number.isFinite)).toBe(true);
      expect(await values(outside)).toEqual([7]);
      T.dispose([params, state, e, outside]);
      expect(T.memory()).toEqual(before);
    });
  }

  it('update and clipByGlobalNorm leave grads, state and params alive', async () => {
    const before = T.memory();
    const params = { w: T.tensor([1, 2]) };
    const grads = { w: T.tensor([3, 4]) };
    const opt = nn.adam({ learningRate: 0.1 });
    const state = opt.init(params);
    const u = opt.update(grads, state, params);
    const c = nn.clipByGlobalNorm(grads, 1);
    expect(await values(params.w)).toEqual([1, 2]);
    expect(await values(grads.w)).toEqual([3, 4]);
    expect(await values(c.norm)).toEqual([5]);
    T.dispose([params, grads, state, u, c]);
    expect(T.memory()).toEqual(before);
  });
});
