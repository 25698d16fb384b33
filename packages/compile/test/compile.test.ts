// compileStep: compiled == eager (bit-identical where the kernels are the same), plans per
// shape signature, number arguments stay arguments, no leaks over many replays, and errors
// inside a traced step name the op.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { fcParams } from '@tapegrad/tensor/testing';
import { compileStep } from '@tapegrad/compile';
import {
  ACTS, convApply, convInit, gridTensor, mlpApply, mlpInit, sgdStep, treeClose, treeIdentical, values, type Act, type Params,
} from './helpers.ts';

/** Run `steps` SGD steps eagerly and compiled from the same params; compare after each. */
function trainBoth(
  step: (p: Params, x: Tensor, y: Tensor, lr: number) => { params: Params; loss: Tensor },
  p0: Params, x: Tensor, y: Tensor, steps: number, fuse: boolean,
  check: (eager: unknown, compiled: unknown, i: number) => void,
) {
  const c = compileStep(step, null, { fuse });
  let pe = p0;
  let pc = p0;
  try {
    for (let i = 0; i < steps; i++) {
      const lr = 0.05 + i / 64; // a different host value every step
      const e = step(pe, x, y, lr);
      const r = c(pc, x, y, lr);
      check(e, r, i);
      if (pe !== p0) T.dispose([pe, pc]);
      T.dispose([e.loss, r.loss]);
      pe = e.params;
      pc = r.params;
    }
    return c.report();
  } finally {
    if (pe !== p0) T.dispose([pe, pc]);
    c.dispose();
  }
}

describe('compileStep: compiled step == eager step', () => {
  it('random MLPs, several replays: bit-identical without fusion, and with fusion on webasm', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(...ACTS),
        fc.boolean(),
        fc.nat(1000),
        (dims, batch, act: Act, fuse, seed) => {
          const p0 = mlpInit(dims, seed);
          const x = gridTensor([batch, dims[0]], seed + 100);
          const y = gridTensor([batch, dims[dims.length - 1]], seed + 200);
          try {
            const rep = trainBoth(sgdStep((p, xx) => mlpApply(p, xx, act)), p0, x, y, 4, fuse, (e, r, i) => {
              expect(treeIdentical(e, r), `step ${i}: compiled differs from eager (dims ${dims}, ${act}, fuse ${fuse})`).toBe(true);
            });
            expect(rep.traces).toBe(1);
            expect(rep.replays).toBe(3);
            if (!fuse) expect(rep.plans[0].fusedChains).toBe(0);
            // the SGD update of every parameter is one 'mul+sub' chain: one multi-tensor kernel
            // (1-element parameters included)
            else expect(rep.plans[0].multiTensorKernels).toBe(1);
          } finally {
            T.dispose([p0, x, y]);
          }
        },
      ),
      fcParams(12),
    );
  });

  it('random conv nets (conv2d, bias, activation, max/avg pool, linear head), several replays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 3), fc.integer({ min: 1, max: 2 }),
        fc.constantFrom(4, 5), fc.constantFrom(...ACTS), fc.constantFrom('max' as const, 'avg' as const), fc.boolean(), fc.nat(1000),
        (cin, cout, k, batch, hw, act: Act, pool, fuse, seed) => {
          const p0 = convInit(cin, cout, k, 2, hw, seed);
          const x = gridTensor([batch, cin, hw, hw], seed + 100);
          const y = gridTensor([batch, 2], seed + 200);
          try {
            trainBoth(sgdStep((p, xx) => convApply(p, xx, act, pool)), p0, x, y, 3, fuse, (e, r, i) => {
              expect(treeIdentical(e, r), `step ${i}: compiled differs from eager`).toBe(true);
            });
          } finally {
            T.dispose([p0, x, y]);
          }
        },
      ),
      fcParams(8),
    );
  });

  it('on the float64 reference backend: identical to eager, and no fusion (stated in the report)', () => {
    T.useBackend('reference', () => {
      const p0 = mlpInit([3, 4, 2], 7);
      const x = gridTensor([3, 3], 8);
      const y = gridTensor([3, 2], 9);
      try {
        const rep = trainBoth(sgdStep((p, xx) => mlpApply(p, xx, 'tanh')), p0, x, y, 3, true, (e, r, i) => {
          expect(treeIdentical(e, r), `step ${i}`).toBe(true);
        });
        expect(rep.backend).toBe('reference');
        expect(rep.plans[0].fusedChains).toBe(0);
        expect(rep.plans[0].fallbackReasons.join('\n')).toMatch(/fusion: backend 'reference' has no fused elementwise kernels/);
      } finally {
        T.dispose([p0, x, y]);
      }
    });
  });

  it('the compiled MLP step matches the float64 reference within float32 tolerance', () => {
    const step = sgdStep((p, xx) => mlpApply(p, xx, 'silu'));
    const c = compileStep(step);
    const p0 = mlpInit([4, 6, 3], 3);
    const x = gridTensor([5, 4], 4);
    const y = gridTensor([5, 3], 5);
    const p0r = T.useBackend('reference', () => mlpInit([4, 6, 3], 3));
    const xr = T.useBackend('reference', () => gridTensor([5, 4], 4));
    const yr = T.useBackend('reference', () => gridTensor([5, 3], 5));
    let p = p0;
    let pr = p0r;
    try {
      for (let i = 0; i < 3; i++) {
        const r = c(p, x, y, 0.1);
        const e = T.useBackend('reference', () => step(pr, xr, yr, 0.1));
        expect(treeClose(r, e, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
        T.dispose([r.loss, e.loss]);
        if (p !== p0) T.dispose([p, pr]);
        p = r.params;
        pr = e.params;
      }
    } finally {
      if (p !== p0) T.dispose([p, pr]);
      T.dispose([p0, x, y, p0r, xr, yr]);
      c.dispose();
    }
  });
});

describe('compileStep: plans, arguments and outputs', () => {
  it('a new shape builds a new plan with the right sizes; the LRU re-traces an evicted one', () => {
    const f = (x: Tensor, w: Tensor) => T.tidy(() => ({ y: T.relu(T.matmul(x, w)), s: T.sum(x, 0) }));
    const c = compileStep(f, null, { maxPlans: 2 });
    const w = gridTensor([3, 2], 1);
    try {
      for (const n of [2, 5, 2, 1, 5]) {
        const x = gridTensor([n, 3], n);
        const r = c(x, w);
        const e = f(x, w);
        expect(r.y.shape).toEqual([n, 2]);
        expect(r.s.shape).toEqual([3]);
        expect(treeIdentical(r, e)).toBe(true);
        T.dispose([x, r, e]);
      }
      const rep = c.report();
      // 2 (trace), 5 (trace), 2 (replay), 1 (trace, evicts 5), 5 (trace, evicts 2)
      expect([rep.traces, rep.replays, rep.plans.length]).toEqual([4, 1, 2]);
    } finally {
      T.dispose(w);
      c.dispose();
    }
  });

  it('a number argument is uploaded on every call, never baked into the plan', () => {
    const c = compileStep((x: Tensor, s: number, t: number) => T.add(T.mul(x, s), t));
    const x = T.tensor([1, -2, 0.5]);
    try {
      for (const [s, t] of [[2, 1], [3, -1], [-0.5, 0], [1e3, 7]]) {
        const r = c(x, s, t);
        expect(Array.from(values(r))).toEqual([1, -2, 0.5].map((v) => Math.fround(Math.fround(v * s) + t)));
        r.dispose();
      }
      expect(c.report().plans[0].constants).toBe(0);
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('a closed-over tensor is a constant the plan holds; a random draw inside the step is reported', () => {
    const bias = T.tensor([10, 20]);
    const c = compileStep((x: Tensor) => T.add(T.add(x, bias), T.randomNormal(T.randomKey(1), [2])));
    const x = T.tensor([1, 2]);
    try {
      const a = c(x);
      bias.dispose(); // the plan keeps its own reference
      const b = c(x);
      expect(Array.from(values(b))).toEqual(Array.from(values(a)));
      const rep = c.report().plans[0];
      expect(rep.constants).toBe(2);
      expect(rep.warnings.join('\n')).toMatch(/randomNormal.*pass noise as an argument/);
      expect(rep.randomConstants).toEqual(['randomNormal']); // the closed-over bias is not one
      T.dispose([a, b]);
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('outputs that are arguments, views and repeats come back as separate tensors sharing buffers', () => {
    const c = compileStep((x: Tensor, y: Tensor) => {
      const z = T.exp(y);
      return [x, T.reshape(z, [4]), z, T.reshape(x, [2, 2]), 'tag'] as [Tensor, Tensor, Tensor, Tensor, string];
    });
    const x = T.tensor([[1, 2], [3, 4]]);
    const y = T.tensor([0, 1, 2, 3]);
    try {
      for (let i = 0; i < 3; i++) {
        const before = T.memory();
        const [a, b, z, d, tag] = c(x, y);
        expect(tag).toBe('tag');
        expect(a).not.toBe(x);
        expect(a.shape).toEqual([2, 2]);
        expect(d.shape).toEqual([2, 2]);
        expect(b.shape).toEqual([4]);
        expect(Array.from(values(b))).toEqual([0, 1, 2, 3].map((v) => Math.fround(Math.exp(v))));
        expect(Array.from(values(z))).toEqual(Array.from(values(b)));
        if (i > 0) expect(T.memory().buffers - before.buffers).toBe(1); // only exp(y) is new
        T.dispose([a, b, z, d]);
        expect(x.isDisposed).toBe(false);
      }
    } finally {
      T.dispose([x, y]);
      c.dispose();
    }
  });

  it('a closed-over tensor returned unchanged, and the same shapes on another backend, replay correctly', () => {
    const outside = T.tensor([7, 8]);
    const c = compileStep((x: Tensor) => [T.neg(x), outside]);
    const x = T.tensor([1, 2]);
    const xr = T.useBackend('reference', () => T.tensor([1, 2]));
    try {
      for (let i = 0; i < 2; i++) {
        const [a, o] = c(x) as Tensor[];
        expect(Array.from(values(o))).toEqual([7, 8]);
        expect(o.backend).toBe('webasm');
        const [ar, or] = c(xr) as Tensor[];
        expect(ar.backend).toBe('reference');
        expect(Array.from(values(ar))).toEqual([-1, -2]);
        expect(Array.from(values(or))).toEqual([7, 8]);
        expect(or.backend).toBe('webasm'); // the tensor the step returned lives there
        T.dispose([a, o, ar, or]);
      }
      expect(c.report().plans).toHaveLength(2); // one plan per backend
    } finally {
      T.dispose([outside, x, xr]);
      c.dispose();
    }
  });

  it('calls no output depends on are dropped from the plan', () => {
    const c = compileStep((x: Tensor) => {
      T.sum(T.exp(x)); // unused
      return T.neg(x);
    });
    const x = T.tensor([1, 2]);
    try {
      T.dispose(c(x));
      const rep = c.report().plans[0];
      expect(rep.primitiveCalls).toBe(3);
      expect(rep.deadCalls).toBe(2);
      expect(rep.steps).toBe(1);
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('exampleArgs trace the first plan at once; the first call then replays', () => {
    const x = T.tensor([1, 2, 3]);
    const c = compileStep((a: Tensor) => T.square(a), [x]);
    try {
      expect(c.report().traces).toBe(1);
      const r = c(x);
      expect(Array.from(values(r))).toEqual([1, 4, 9]);
      expect(c.report().replays).toBe(1);
      r.dispose();
    } finally {
      x.dispose();
      c.dispose();
    }
  });
});

describe('compileStep: memory', () => {
  it('1,000 replays of a tiny training step leak no tensor, buffer or backend allocation', () => {
    const step = sgdStep((p, xx) => mlpApply(p, xx, 'relu'));
    const c = compileStep(step);
    let p = mlpInit([2, 3, 1], 11);
    const x = gridTensor([2, 2], 12);
    const y = gridTensor([2, 1], 13);
    try {
      const first = c(p, x, y, 0.01); // the trace
      T.dispose(p);
      p = first.params;
      first.loss.dispose();
      const before = T.memory();
      for (let i = 0; i < 1000; i++) {
        const r = c(p, x, y, 0.01);
        T.dispose([p, r.loss]);
        p = r.params;
      }
      expect(T.memory()).toEqual(before);
      expect(c.report().replays).toBe(1000);
    } finally {
      T.dispose([p, x, y]);
      c.dispose();
    }
  });
});

describe('compileStep: errors name the op', () => {
  const leakFree = (f: () => void) => {
    const before = T.memory();
    f();
    expect(T.memory()).toEqual(before);
  };

  it('bad shapes inside the step: the op error, unchanged; nothing is cached or leaked', () => {
    const c = compileStep((a: Tensor, b: Tensor) => T.add(T.exp(a), b));
    const a = T.zeros([2, 3]);
    const b = T.zeros([4]);
    try {
      leakFree(() => expect(() => c(a, b)).toThrow(/^add: shapes \[2,3\] and \[4\] cannot be broadcast/));
      expect(c.report().plans).toHaveLength(0);
      expect(T.executionTracer()).toBeNull();
    } finally {
      T.dispose([a, b]);
      c.dispose();
    }
  });

  it('a host read of a traced value throws, naming the read and the op that made the value', () => {
    const x = T.tensor([1, 2]);
    const cases: [string, (t: Tensor) => unknown, RegExp][] = [
      ['dataSync', (t) => t.dataSync(), /^dataSync: tensor #\d+ of shape \[2\] \(the result of 'mul'\) is a traced value inside compileStep/],
      ['data', (t) => t.data(), /^data: .*\(the result of 'mul'\)/],
      ['array', (t) => t.array(), /^array: .*\(the result of 'mul'\)/],
    ];
    try {
      for (const [, read, re] of cases) {
        const c = compileStep((a: Tensor) => {
          const m = T.mul(a, a);
          read(m);
          return m;
        });
        leakFree(() => expect(() => c(x)).toThrow(re));
        c.dispose();
      }
      const c2 = compileStep((a: Tensor) => a.dataSync());
      expect(() => c2(x)).toThrow(/^dataSync: .*\(argument '0'\)/);
      c2.dispose();
    } finally {
      x.dispose();
    }
  });

  it('an async step (await inside the trace) is refused', () => {
    const x = T.tensor([1]);
    const c = compileStep(async (a: Tensor) => T.neg(a));
    try {
      leakFree(() => expect(() => c(x)).toThrow(/^tidy: fn returned a Promise|^compileStep: the step function returned a Promise/));
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('arguments that cannot be replayed are refused by path', () => {
    const c = compileStep((k: unknown, x: Tensor) => T.neg(x));
    const x = T.tensor([1]);
    try {
      expect(() => c({ key: T.randomKey(3) }, x)).toThrow(/^compileStep: argument leaf '0\.key' is .*expected tensors, numbers/);
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('gather indices passed as an argument are checked at every replay, as eager checks them', () => {
    // eager gather reads its index tensor on the host and refuses a bad index; a replay runs
    // no op code, so the plan runs the same check on the argument before any kernel
    const f = (table: Tensor, idx: Tensor) => T.tidy(() => T.mul(T.gather(table, idx), 2));
    const c = compileStep(f);
    const table = T.tensor([[1, 2], [3, 4], [5, 6]]);
    const good = T.tensor([2, 0, 1, 2]);
    const bad = [T.tensor([2, 3, 0, 1]), T.tensor([0, 1, -1, 2]), T.tensor([0, 0.5, 1, 2])];
    try {
      const r0 = c(table, good); // trace
      const r1 = c(table, good); // replay
      expect(Array.from(r1.dataSync())).toEqual([10, 12, 2, 4, 6, 8, 10, 12]);
      T.dispose([r0, r1]);
      for (const idx of bad) {
        let eager = '';
        try { f(table, idx).dispose(); } catch (e) { eager = (e as Error).message; }
        expect(eager).toMatch(/^gather: index .* at position \d is not an integer in \[0, 3\)/);
        leakFree(() => expect(() => c(table, idx)).toThrow(eager));
      }
      expect(c.report().plans).toHaveLength(1); // the bad calls replayed the same plan (same shapes)
      const r2 = c(table, good); // and the plan still runs
      expect(Array.from(r2.dataSync())).toEqual([10, 12, 2, 4, 6, 8, 10, 12]);
      r2.dispose();
      // indices computed inside the step cannot be re-checked: the report says so
      const g = compileStep((t: Tensor, i: Tensor) => T.gather(t, T.add(i, 1)));
      const i0 = T.tensor([0, 1]);
      const [ra, rb] = [g(table, i0), g(table, i0)];
      expect(g.report().plans[0].warnings.join('\n')).toMatch(/'gather' reads indices computed inside the step/);
      T.dispose([ra, rb, i0]);
      g.dispose();
    } finally {
      T.dispose([table, good, ...bad]);
      c.dispose();
    }
  });
});
