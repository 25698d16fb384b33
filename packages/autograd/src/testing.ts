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
//
// or, for an op of the op database (its gradient domains, argnums and the op itself):
//
//   await fc.assert(gradientProperty(opInfo('gelu'), { backend: 'webasm' }), { numRuns: 20 });

import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { BackendName, Tensor } from '@tapegrad/tensor';
import { checkFunction, describeValue, opError } from '@tapegrad/tensor';
import { gradValues, opInfo, type HostTensor, type OpInfo } from '@tapegrad/tensor/testing';
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
  opts?: GradientPropertyOptions,
): fc.IAsyncPropertyWithHooks<[HostTensor[]]>;
/**
 * The same for an op database entry (`opInfo('gelu')`, or its name): the op on inputs of
 * shapes and attributes of the entry's gradient samples (elementwise ops: rank <= 3,
 * dims <= 3, binary operands broadcast), values from its gradient domains, differentiating
 * the entry's argnums; the op is called as `op(...entry.call(tensors, attrs))`. Entries
 * without domains or samples, and those taking index tensors (no `call`), are refused.
 */
export function gradientProperty(op: OpInfo | string, opts?: GradientPropertyOptions): fc.IAsyncPropertyWithHooks<[HostTensor[]]>;
export function gradientProperty(
  a: ((...xs: Tensor[]) => Tensor) | OpInfo | string,
  b?: fc.Arbitrary<HostTensor>[] | GradientPropertyOptions,
  c: GradientPropertyOptions = {},
): fc.IAsyncPropertyWithHooks<[HostTensor[]]> {
  if (typeof a === 'string' || (typeof a === 'object' && a !== null && 'grad' in a)) {
    const info = typeof a === 'string' ? opInfo(a) : (a as OpInfo);
    const doms = info.grad.domains;
    if (!doms || !info.gradSamples || info.grad.differentiable === 'none') {
      throw opError(
        'gradientProperty',
        `op database entry '${info.name}' has ${info.grad.differentiable === 'none' ? 'no gradient' : 'no gradient domains'}; expected such an entry, or pass a function and input arbitraries`,
      );
    }
    const fn = (T as unknown as Record<string, (...xs: unknown[]) => Tensor>)[info.name];
    const opts = (b ?? {}) as GradientPropertyOptions;
    const argnums = info.grad.argnums ? { argnums: info.grad.argnums } : {};
    // shapes and attributes from the entry's samples, called as op(...call(tensors, attrs))
    const call = info.call;
    if (!call) {
      throw opError('gradientProperty', `op database entry '${info.name}' takes index tensors its description cannot build; expected an entry with a call, or pass a function and input arbitraries`);
    }
    const drawn = info.gradSamples().chain(({ shapes, attrs }) =>
      fc.tuple(...shapes.map((s, k) => gradValues(s.reduce((p, d) => p * d, 1), doms[k]).map((v): HostTensor => ({ shape: s.slice(), data: Float32Array.from(v) })))).map(
        (hosts): HostTensor[] => Object.assign(hosts, { [ATTRS]: attrs }),
      ),
    );
    return run((hosts) => (...xs: Tensor[]) => fn(...call(xs, (hosts as Drawn)[ATTRS] ?? {})), drawn, { ...argnums, ...opts });
  }
  const op = 'gradientProperty';
  checkFunction(op, 'f', a);
  const f = a as (...xs: Tensor[]) => Tensor;
  if (!Array.isArray(b) || b.length === 0) throw opError(op, `inputs must be a non-empty array of fast-check arbitraries, got ${describeValue(b)}`);
  checkGradcheckOptions(op, c, b.length, ['backend', 'secondOrder']);
  return run(() => f, fc.tuple(...b), c);
}

/** The attributes of an op database sample travel on the drawn inputs array. */
const ATTRS = Symbol('attrs');
type Drawn = HostTensor[] & { [ATTRS]?: Record<string, unknown> };

function run(fOf: (hosts: HostTensor[]) => (...xs: Tensor[]) => Tensor, inputs: fc.Arbitrary<HostTensor[]>, opts: GradientPropertyOptions): fc.IAsyncPropertyWithHooks<[HostTensor[]]> {
  const op = 'gradientProperty';
  const { backend, secondOrder, ...check } = opts;
  if (backend !== undefined && !['webasm', 'webgpu', 'cpu', 'reference'].includes(backend)) {
    throw opError(op, `options.backend must be one of webasm, webgpu, cpu, reference, got ${describeValue(backend)}`);
  }
  if (secondOrder !== undefined && typeof secondOrder !== 'boolean') throw opError(op, `options.secondOrder must be a boolean, got ${describeValue(secondOrder)}`);
  return fc.asyncProperty(inputs, async (hosts) => {
    const name = backend ?? T.getBackend();
    const xs = T.useBackend(name, () => hosts.map((h) => T.tensor(h.data, h.shape)));
    try {
      const f = fOf(hosts);
      const r = await gradcheck(f, xs, check);
      if (secondOrder) await gradgradcheck(f, xs, check);
      return r.ok;
    } finally {
      T.dispose(xs);
    }
  });
}
