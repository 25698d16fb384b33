// compileStep on webgpu (Dawn; Mesa lavapipe on CPU-only machines): a compiled MLP step,
// fused, equals the eager step bit for bit over several replays, and a replay frees its
// intermediates (a buffer freed before its last reader would fail the job that reads it).
// If no adapter answers, the test is reported as skipped with the reason in its title.

import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { compileStep } from '@tapegrad/compile';
import { gridTensor, mlpApply, mlpInit, sgdStep, type Params } from './helpers.ts';

let skip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  skip = (e as Error).message.split('\n')[0];
  console.warn(`compile webgpu.test.ts: skipped: ${skip}`);
}

async function leaves(tree: unknown): Promise<number[][]> {
  return Promise.all((T.treeLeaves(tree) as Tensor[]).map(async (t) => Array.from(await t.data())));
}

it.skipIf(skip !== undefined)(`a compiled, fused MLP step on webgpu equals the eager step${skip ? ` (SKIPPED: ${skip})` : ''}`, async () => {
  expect(T.getBackend()).toBe('webgpu');
  const step = sgdStep((p, x) => mlpApply(p, x, 'gelu'));
  const c = compileStep(step);
  const p0 = mlpInit([3, 5, 2], 21);
  const x = gridTensor([4, 3], 22);
  const y = gridTensor([4, 2], 23);
  let pe: Params = p0;
  let pc: Params = p0;
  try {
    for (let i = 0; i < 3; i++) {
      const e = step(pe, x, y, 0.1 + i / 32);
      const r = c(pc, x, y, 0.1 + i / 32);
      expect(await leaves(r)).toEqual(await leaves(e));
      if (pe !== p0) T.dispose([pe, pc]);
      T.dispose([e.loss, r.loss]);
      pe = e.params;
      pc = r.params;
    }
    const rep = c.report();
    expect(rep.backend).toBe('webgpu');
    expect(rep.plans[0].fusedChains).toBeGreaterThan(0);
    // the experimental gpu.js pipeline executor: one fused-encoder plan (arguments read back
    // and results uploaded per call); kernels differ from eager only in the matmuls' order of
    // evaluation (one-output kernels both), so the step is compared within f32 tolerance
    const e = step(pe, x, y, 0.5);
    const r = await c.pipeline(pc, x, y, 0.5);
    const [le, lr] = [await leaves(e), await leaves(r)];
    le.forEach((v, i) => v.forEach((q, j) => expect(Math.abs(lr[i][j] - q)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(q))));
    T.dispose([e, r]);
    const info = c.report().plans[0].pipeline!;
    expect(info.kind).toBe('fused-encoder');
    expect(info.fallbackReason).toBeNull();
  } finally {
    if (pe !== p0) T.dispose([pe, pc]);
    T.dispose([p0, x, y]);
    c.dispose();
  }
});

it.skipIf(skip !== undefined)(`a long chain over 12 tensors splits into kernels of at most 7 inputs on webgpu (8 storage buffers per stage)${skip ? ` (SKIPPED: ${skip})` : ''}`, async () => {
  // before the split, the plan fused all 12 leaves into one kernel, and Dawn refused its bind
  // group layout (13 storage buffers > 8), failing every later kernel of the step
  const xs = Array.from({ length: 12 }, (_, i) => gridTensor([6], 70 + i));
  const f = (...a: Tensor[]) => T.tidy(() => a.slice(1).reduce((acc, x, i) => (i % 2 ? T.add(acc, x) : T.mul(acc, T.sigmoid(x))), a[0]));
  const c = compileStep(f);
  try {
    expect(T.findBackend('webgpu').fusedMaxInputs).toBe(7);
    for (let i = 0; i < 2; i++) {
      const r = c(...xs);
      const e = f(...xs);
      expect(Array.from(await r.data())).toEqual(Array.from(await e.data()));
      T.dispose([r, e]);
    }
    expect(c.report().plans[0].fusedChains).toBeGreaterThanOrEqual(2);
  } finally {
    T.dispose(xs);
    c.dispose();
  }
});
