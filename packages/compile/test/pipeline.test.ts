// The experimental gpu.js pipeline executor (compiled.pipeline): on webasm a plan of plain
// kernels runs as gpu.js's fused-sync executor and equals the eager step; where a plan
// cannot be lowered (reference backend) the call replays and the report says why.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { compileStep } from '@tapegrad/compile';
import { gridTensor, mlpApply, mlpInit, sgdStep, treeClose, treeIdentical, type Params } from './helpers.ts';

describe('compiled.pipeline (gpu.js createPipeline)', () => {
  it('an elementwise chain runs fused-sync on webasm, bit-identical to eager, without leaks', async () => {
    const f = (x: Tensor, a: Tensor) => T.tidy(() => T.tanh(T.sub(T.mul(T.exp(T.neg(x)), a), x)));
    for (const fuse of [false, true]) {
      const c = compileStep(f, null, { fuse });
      const x = gridTensor([3, 4], 1);
      const a = gridTensor([4], 2);
      try {
        T.dispose(c(x, a)); // the trace
        const before = T.memory();
        for (let i = 0; i < 3; i++) {
          const r = await c.pipeline(x, a);
          const e = f(x, a);
          expect(treeIdentical(r, e)).toBe(true);
          T.dispose([r, e]);
        }
        expect(T.memory()).toEqual(before);
        const info = c.report().plans[0].pipeline!;
        expect(info.kind).toBe('fused-sync');
        expect(info.fallbackReason).toBeNull();
        expect(info.kernelCalls).toBe(fuse ? 1 : 5);
      } finally {
        T.dispose([x, a]);
        c.dispose();
      }
    }
  });

  it('an MLP training step runs as one pipeline and matches eager within float32 tolerance', async () => {
    const step = sgdStep((p, xx) => mlpApply(p, xx, 'silu'));
    const c = compileStep(step);
    const p0 = mlpInit([3, 4, 2], 5);
    const x = gridTensor([4, 3], 6);
    const y = gridTensor([4, 2], 7);
    let pe: Params = p0;
    let pc: Params = p0;
    try {
      T.dispose(c(p0, x, y, 0.1)); // the trace
      for (let i = 0; i < 3; i++) {
        const e = step(pe, x, y, 0.1);
        const r = await c.pipeline(pc, x, y, 0.1);
        // the pipeline runs the one-output-per-thread matmul kernels, eager the blocked ones
        expect(treeClose(r, e, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
        if (pe !== p0) T.dispose([pe, pc]);
        T.dispose([e.loss, r.loss]);
        pe = e.params;
        pc = r.params;
      }
      const info = c.report().plans[0].pipeline!;
      expect(info.kind).toBe('fused-sync');
      expect(info.kernelCalls).toBeGreaterThan(10);
    } finally {
      if (pe !== p0) T.dispose([pe, pc]);
      T.dispose([p0, x, y]);
      c.dispose();
    }
  });

  it('on the reference backend the plan cannot be lowered: the call replays and the report says why', async () => {
    const x = T.useBackend('reference', () => T.tensor([1, 2, 3]));
    const c = compileStep((a: Tensor) => T.tidy(() => T.exp(T.neg(a))));
    try {
      T.dispose(c(x));
      const r = await c.pipeline(x);
      expect(Array.from(r.dataSync())).toEqual([1, 2, 3].map((v) => Math.exp(-v)));
      r.dispose();
      const info = c.report().plans[0].pipeline!;
      expect(info.kind).toBe('none');
      expect(info.fallbackReason).toMatch(/backend 'reference' has no gpu.js pipelines/);
    } finally {
      x.dispose();
      c.dispose();
    }
  });
});
