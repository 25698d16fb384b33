// @tapegrad/autograd/testing: property-test the gradients of your own functions.
//
// Re-exports every arbitrary of @tapegrad/tensor/testing (shapes, broadcastable tuples,
// float32-exact values, conv configs, ...) and adds `gradientProperty`, a fast-check
// property that runs `gradcheck` on generated inputs. Example (vitest):
//
//   import fc from 'fast-check';
//   import * as T from '@tapegrad/tensor';
//   import { gradientProperty, hostTensorOf, floats } from '@tapegrad/autograd/testing';
//
//   it('my loss has the right gradients', async () => {
//     const loss = (x: T.Tensor, w: T.Tensor) => T.mean(T.square(T.tanh(T.matmul(x, w))));
//     await fc.assert(
//       gradientProperty(loss, [hostTensorOf([4, 3], (n) => floats(n, { min: -2, max: 2 })), hostTensorOf([3, 2])]),
//       { numRuns: 20 },
//     );
//   });

import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { checkFunction, describeValue, opError, type BackendName, type Tensor } from '@tapegrad/tensor';
import type { HostTensor } from '@tapegrad/tensor/testing';
import { checkGradcheckOptions, gradcheck, gradgradcheck, type GradcheckOptions } from './gradcheck.ts';

export * from '@tapegrad/tensor/testing';

export interface GradientPropertyOptions extends GradcheckOptions {
  /** Backend the analytic gradient runs on (default: the current one). */
  backend?: BackendName;
  /** Also check second derivatives with gradgradcheck (default false). */
  secondOrder?: boolean;
}

/**
 * A fast-check property over generated host inputs: gradcheck (and optionally
 * gradgradcheck) of `f` passes on the chosen backend. Inputs are created as tensors for each
 * run and disposed afterwards; `f` must use tensor ops only and close over no tensors (it is
 * also evaluated on the float64 reference backend).
 */
export function gradientProperty(
  f: (...xs: Tensor[]) => Tensor,
  inputs: fc.Arbitrary<HostTensor>[],
  opts: GradientPropertyOptions = {},
) {
  const op = 'gradientProperty';
  checkFunction(op, 'f', f);
  if (!Array.isArray(inputs) || inputs.length === 0) throw opError(op, `inputs must be a non-empty array of fast-check arbitraries, got ${describeValue(inputs)}`);
  checkGradcheckOptions(op, opts, inputs.length, ['backend', 'secondOrder']);
  const { backend, secondOrder, ...check } = opts;
  if (backend !== undefined && !['webasm', 'webgpu', 'cpu', 'reference'].includes(backend)) {
    throw opError(op, `options.backend must be one of webasm, webgpu, cpu, reference, got ${describeValue(backend)}`);
  }
  if (secondOrder !== undefined && typeof secondOrder !== 'boolean') throw opError(op, `options.secondOrder must be a boolean, got ${describeValue(secondOrder)}`);
  return fc.asyncProperty(fc.tuple(...inputs), async (hosts) => {
    const name = backend ?? T.getBackend();
    const xs = T.useBackend(name, () => hosts.map((h) => T.tensor(h.data, h.shape)));
    try {
      const r = await gradcheck(f, xs, check);
      if (secondOrder) await gradgradcheck(f, xs, check);
      return r.ok;
    } finally {
      T.dispose(xs);
    }
  });
}
