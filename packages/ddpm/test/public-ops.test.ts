// Issue 8 §6: an error of a tensor op inside a ddpm function starts with the function the user
// called (the package entry wraps its synchronous tensor functions as public ops).
import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { diffusionLoss, makeSchedule, qSample, type Model } from '../src/index.ts';

describe('ddpm functions are public ops', () => {
  it('a tensor-op error inside the model called by diffusionLoss starts with diffusionLoss', () => {
    const schedule = makeSchedule('linear', 100);
    const x0 = T.zeros([4, 2]);
    const bad: Model = (x) => T.tidy(() => T.add(x, T.zeros([7])));
    expect(() => diffusionLoss(bad, x0, { schedule, key: T.randomKey(0) })).toThrow(/^diffusionLoss: add: shapes \[4,2\] and \[7\] cannot be broadcast/);
    x0.dispose();
  });

  it("a ddpm function's own check keeps its name", () => {
    const schedule = makeSchedule('linear', 100);
    const x0 = T.zeros([4, 2]);
    const noise = T.zeros([4, 3]);
    expect(() => qSample(schedule, x0, [0, 1, 2, 3], noise)).toThrow(/^qSample: /);
    T.dispose([x0, noise]);
  });
});
