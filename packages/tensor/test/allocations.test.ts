// The gpu.js backends' allocation counter (memory().allocations: storages handed out minus
// storages freed). After any op, with nothing in flight, it must equal the buffers the live
// tensors hold on those backends: an op whose backend code makes temporaries (matmul's batch
// broadcast, concat of many, multi-axis reductions, padded and transposed convolutions,
// slices of slices) must free every one. On webasm and cpu a forgotten free() would be
// invisible without the counter (the garbage collector takes the Float32Array); on webgpu it
// is a GPU buffer leak. The reference backend keeps no counter (its storage is plain arrays).

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';

let webgpuSkip: string | undefined;
const initial = await T.ready();
try {
  await T.setBackend('webgpu');
} catch (e) {
  webgpuSkip = (e as Error).message.split('\n')[0];
  console.warn(`allocations.test.ts: the webgpu cases are skipped: ${webgpuSkip}`);
}
await T.setBackend(initial);

const r = (seed: number, shape: number[]) => T.randomNormal(T.randomKey(seed), shape);

/** Ops whose gpu.js implementation makes internal temporaries (or none, as a control). */
const CASES: [string, () => Tensor][] = [
  ['unary (no temporary)', () => T.exp(r(1, [3, 2]))],
  ['matmul with a broadcast batch (both operands expanded)', () => T.matmul(r(1, [2, 1, 3, 4]), r(2, [1, 3, 4, 2]))],
  ['matmul with one shared matrix', () => T.matmul(r(1, [2, 3, 4]), r(2, [4, 5]))],
  ['concat of four', () => T.concat([r(1, [2, 1]), r(2, [2, 2]), r(3, [2, 3]), r(4, [2, 1])], 1)],
  ['sum over two separated axes (two reduction passes)', () => T.sum(r(1, [2, 3, 4, 5]), [0, 2])],
  ['max over all axes', () => T.max(r(1, [3, 4, 2]))],
  ['a reduction over a size-1 axis (a copy)', () => T.sum(r(1, [3, 1]), 1)],
  ['conv2d with padding (a padded copy)', () => T.conv2d(r(1, [1, 2, 4, 4]), r(2, [3, 2, 3, 3]), { padding: 1 })],
  ['convTranspose2d (dilated input and flipped weights)', () => T.convTranspose2d(r(1, [1, 2, 3, 3]), r(2, [2, 3, 3, 3]), { stride: 2, padding: 1 })],
  ['conv2dFilterGrad with padding', () => T.conv2dFilterGrad(r(1, [1, 2, 4, 4]), r(2, [1, 3, 4, 4]), [3, 2, 3, 3], { padding: 1 })],
  ['maxPool2d', () => T.maxPool2d(r(1, [1, 2, 4, 4]), 2)],
  ['pad of a scalar (a copy)', () => T.pad(r(1, []), [])],
  ['gather and scatterAdd', () => T.scatterAdd(T.gather(r(1, [4, 3]), [3, 0, 3], 0), [3, 0, 3], 0, 4)],
  ['strided slice of a transpose', () => T.slice(T.transpose(r(1, [4, 5])), [0, 1], [3, 3], [2, 1])],
  ['softmax (a composite of several primitives)', () => T.softmax(r(1, [3, 5]), -1)],
];

const BACKENDS: T.BackendName[] = ['webasm', 'cpu', 'webgpu'];

for (const backend of BACKENDS) {
  const skip = backend === 'webgpu' ? webgpuSkip : undefined;
  describe.skipIf(skip !== undefined)(`allocation counter on ${backend}${skip ? ` (SKIPPED: ${skip})` : ''}`, () => {
    for (const [name, op] of CASES) {
      it(`${name}: allocations rise by exactly the buffers the result holds, and fall back when it is disposed`, async () => {
        const m0 = T.memory();
        const prev = T.getBackend();
        await T.setBackend(backend);
        try {
          const y = T.tidy(op);
          expect(y.backend).toBe(backend);
          await y.data(); // nothing left in flight (webgpu)
          const m1 = T.memory();
          expect(m1.buffers - m0.buffers).toBe(1);
          expect(m1.allocations - m0.allocations, `allocations after ${name}`).toBe(m1.buffers - m0.buffers);
          y.dispose();
          expect(T.memory()).toEqual(m0);
        } finally {
          await T.setBackend(prev);
        }
      });
    }
  });
}

describe('allocation counter: the engine', () => {
  it('memory().allocations counts only the gpu.js backends: reference tensors change buffers, not allocations', () => {
    const m0 = T.memory();
    const x = T.useBackend('reference', () => T.ones([3]));
    expect(T.memory().buffers - m0.buffers).toBe(1);
    expect(T.memory().allocations).toBe(m0.allocations);
    x.dispose();
    expect(T.memory()).toEqual(m0);
  });

  it('views and clones share one buffer and one allocation', () => {
    const m0 = T.memory();
    const x = T.useBackend('webasm', () => T.ones([2, 3]));
    const v = T.reshape(x, [3, 2]);
    const c = T.clone(x);
    const m1 = T.memory();
    expect([m1.tensors - m0.tensors, m1.buffers - m0.buffers, m1.allocations - m0.allocations]).toEqual([3, 1, 1]);
    T.dispose([x, v, c]);
    expect(T.memory()).toEqual(m0);
  });
});
