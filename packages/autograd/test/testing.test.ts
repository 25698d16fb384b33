// The public testing helpers, used the way the README shows: a user's own function is
// property-tested in a few lines, and a wrong gradient is caught.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { customVjp } from '@tapegrad/autograd';
import { floats, gradientProperty, hostTensorOf } from '@tapegrad/autograd/testing';
import { fcRuns } from '@tapegrad/tensor/testing';

describe('@tapegrad/autograd/testing', () => {
  it('gradientProperty passes for a correct function (first and second order)', async () => {
    const loss = (x: Tensor, w: Tensor) => T.mean(T.square(T.tanh(T.matmul(x, w))));
    await fc.assert(
      gradientProperty(loss, [hostTensorOf([4, 3], (n) => floats(n, { min: -2, max: 2 })), hostTensorOf([3, 2], (n) => floats(n, { min: -1, max: 1 }))], {
        backend: 'webasm',
        secondOrder: true,
      }),
      { numRuns: fcRuns(8) },
    );
  });

  it('gradientProperty fails for a function with a wrong custom gradient', async () => {
    // d/dx sin(x) declared as sin(x) instead of cos(x)
    const wrongSin = customVjp(
      (x: Tensor) => T.sin(x),
      (x: Tensor) => [T.sin(x), x],
      (x: Tensor, g: Tensor) => [T.mul(g, T.sin(x))],
    );
    const f = (x: Tensor) => T.sum(wrongSin(x));
    const run = fc.assert(gradientProperty(f, [hostTensorOf([5], (n) => floats(n, { min: 0.2, max: 1.2 }))], { backend: 'reference' }), {
      numRuns: fcRuns(3),
    });
    await expect(run).rejects.toThrow(/gradcheck: failed on backend 'reference'/);
  });
});
