// compileStep through the fused groupNorm: its five backend methods (groupNormStats,
// groupNormForward, groupNormChannelSums, groupNormInputGrad, groupNormParamGrad) are
// recorded as plan steps, so a compiled training step replays bit-identically to eager, and
// the experimental gpu.js pipeline lowering runs them too.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { fcParams } from '@tapegrad/tensor/testing';
import { compileStep } from '@tapegrad/compile';
import { RECORDED_METHODS } from '../src/record.ts';
import { gridTensor, sgdStep, treeClose, treeIdentical, type Params } from './helpers.ts';

const GN_METHODS = ['groupNormStats', 'groupNormForward', 'groupNormChannelSums', 'groupNormInputGrad', 'groupNormParamGrad'];

function gnInit(cin: number, cout: number, hw: number, seed: number): Params {
  return {
    conv: { w: T.tidy(() => T.mul(gridTensor([cout, cin, 3, 3], seed), 0.5)) },
    gn: { gamma: T.tidy(() => T.add(gridTensor([cout], seed + 1), 1.5)), beta: gridTensor([cout], seed + 2) },
    head: { w: T.tidy(() => T.mul(gridTensor([cout * hw * hw, 2], seed + 3), 0.25)) },
  };
}

/** conv3x3 -> groupNorm (affine) -> silu -> linear head. */
const gnApply = (groups: number) => (p: Params, x: Tensor): Tensor => {
  let h = T.conv2d(x, p.conv.w, { padding: 1 });
  h = T.silu(T.groupNorm(h, groups, { gamma: p.gn.gamma, beta: p.gn.beta }));
  return T.matmul(T.reshape(h, [x.shape[0], -1]), p.head.w);
};

describe('compileStep through groupNorm', () => {
  it('records the groupNorm backend methods', () => {
    for (const m of GN_METHODS) expect(RECORDED_METHODS.has(m), m).toBe(true);
  });

  it('a compiled conv -> groupNorm -> silu step replays bit-identically to eager (random shapes, groups, fuse on/off)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom(2, 3, 5),
        fc.boolean(), fc.nat(1000),
        (batch, groups, cg, hw, fuse, seed) => {
          const cout = groups * cg;
          const step = sgdStep(gnApply(groups));
          const p0 = gnInit(2, cout, hw, seed);
          const x = gridTensor([batch, 2, hw, hw], seed + 100);
          const y = gridTensor([batch, 2], seed + 200);
          const c = compileStep(step, null, { fuse });
          let pe: Params = p0;
          let pc: Params = p0;
          try {
            for (let i = 0; i < 3; i++) {
              const e = step(pe, x, y, 0.05);
              const r = c(pc, x, y, 0.05);
              expect(treeIdentical(e, r), `step ${i}: compiled differs from eager (batch ${batch}, groups ${groups}, ${cout} channels, ${hw}x${hw}, fuse ${fuse})`).toBe(true);
              if (pe !== p0) T.dispose([pe, pc]);
              T.dispose([e.loss, r.loss]);
              pe = e.params;
              pc = r.params;
            }
            const rep = c.report();
            expect(rep.traces).toBe(1);
            expect(rep.replays).toBe(2);
          } finally {
            if (pe !== p0) T.dispose([pe, pc]);
            T.dispose([p0, x, y]);
            c.dispose();
          }
        },
      ),
      fcParams(8),
    );
  });

  it('the gpu.js pipeline lowering runs the groupNorm kernels (fused-sync on webasm) and matches eager', async () => {
    const step = sgdStep(gnApply(2));
    const c = compileStep(step);
    const p0 = gnInit(2, 4, 3, 9);
    const x = gridTensor([2, 2, 3, 3], 10);
    const y = gridTensor([2, 2], 11);
    try {
      T.dispose(c(p0, x, y, 0.1)); // the trace
      const e = step(p0, x, y, 0.1);
      const r = await c.pipeline(p0, x, y, 0.1);
      // the pipeline runs the one-output-per-thread conv / matmul kernels, eager the blocked ones
      expect(treeClose(r, e, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
      T.dispose([e, r]);
      const info = c.report().plans[0].pipeline!;
      if (T.getBackend() === 'webasm') expect(info.kind).toBe('fused-sync');
      expect(info.fallbackReason).toBeNull();
    } finally {
      T.dispose([p0, x, y]);
      c.dispose();
    }
  });
});
