// The traceable building blocks a compiled training step uses: optimizer `scalars` + `apply`
// (per-update scalars as numbers or rank-0 tensors), EMA `scalars` + `apply`, and
// `embedding` with tensor indices that are traced arguments of a compiled step.
//   - apply with rank-0 tensor scalars == update with host numbers, bit for bit (random trees,
//     gradients and steps; every optimizer form).
//   - the same update inside compileStep (scalars as number arguments), traced and replayed
//     over several steps, == the eager update bit for bit.
//   - embedding inside compileStep with the labels as an argument: each replay picks the rows
//     of that call's labels (checked against rows read from the weight on the host).

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { compileStep } from '@tapegrad/compile';
import * as nn from '../src/index.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

beforeAll(async () => {
  await T.ready();
});

const f32 = fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }).map((v) => Math.fround(v) + 0);
const sized = (n: number) => fc.array(f32, { minLength: n, maxLength: n });

interface Case { n: number; m: number; p: number[]; q: number[]; gs: { a: number[]; b: number[] }[] }
const caseArb: fc.Arbitrary<Case> = fc.record({ n: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 1, max: 6 }) }).chain(({ n, m }) =>
  fc.record({
    n: fc.constant(n), m: fc.constant(m), p: sized(n), q: sized(m),
    gs: fc.array(fc.record({ a: sized(n), b: sized(m) }), { minLength: 1, maxLength: 4 }),
  }),
);

type P = { a: Tensor; b: { c: Tensor } };
const tree = (a: number[], b: number[], m: number): P => ({ a: T.tensor(a, [a.length]), b: { c: T.tensor(b, m % 2 === 0 ? [2, m / 2] : [m]) } });
const bits = (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
const treeBits = (t: unknown) => (T.treeFlatten(t)[0] as Tensor[]).map(bits);

const optimizers: [string, () => nn.Optimizer<{ step: number }>][] = [
  ['adamw', () => nn.adamw({ learningRate: (s) => 0.05 / (1 + s), weightDecay: 0.03 }) as unknown as nn.Optimizer<{ step: number }>],
  ['adam (L2)', () => nn.adam({ learningRate: 0.01, beta1: 0.8, weightDecay: 0.1 }) as unknown as nn.Optimizer<{ step: number }>],
  ['sgd nesterov', () => nn.sgd({ learningRate: (s) => 0.1 * (s + 1), momentum: 0.9, nesterov: true, weightDecay: 0.01 }) as unknown as nn.Optimizer<{ step: number }>],
  ['sgd plain', () => nn.sgd({ learningRate: 0.3 }) as unknown as nn.Optimizer<{ step: number }>],
];

/** state minus its step (what apply takes). */
const moments = (s: { step: number }) => {
  const { step: _s, ...rest } = s as Record<string, unknown>;
  return rest;
};

describe('optimizer scalars + apply', () => {
  it('scalars(step) are the host float64 lr and bias corrections', () => {
    const o = nn.adamw({ learningRate: (s) => 0.5 ** s, beta1: 0.9, beta2: 0.99 });
    expect(o.scalars(2)).toEqual({ lr: 0.25, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.99 ** 3 });
    expect(nn.sgd({ learningRate: 0.1 }).scalars(7)).toEqual({ lr: 0.1 });
    expect(() => o.scalars(-1)).toThrow(/^adamw\.scalars: step must be a non-negative integer/);
  });

  it.each(optimizers)('%s: apply with rank-0 tensor scalars == update with numbers, bit for bit', (_name, make) => {
    fc.assert(fc.property(caseArb, (c) => {
      const opt = make();
      const p0 = tree(c.p, c.q, c.m);
      let pe: P = p0, se = opt.init(p0);
      let pa: P = T.tidy(() => T.treeUnflatten<P>(T.treeFlatten(p0)[1], (T.treeFlatten(p0)[0] as Tensor[]).map((t) => T.clone(t))));
      let sa = moments(opt.init(pa));
      try {
        c.gs.forEach((g, k) => {
          const grads = tree(g.a, g.b, c.m);
          const sc = opt.scalars(k);
          const scT = Object.fromEntries(Object.entries(sc).map(([key, v]) => [key, T.scalar(v as number)]));
          const e = opt.update(grads, se, pe);
          const a = opt.apply(grads, sa as never, pa, scT as never);
          T.dispose([grads, scT]);
          expect(e.state.step).toBe(k + 1);
          expect(treeBits([a.params, a.state])).toEqual(treeBits([e.params, moments(e.state)]));
          T.dispose([pe, se, pa, sa]);
          pe = e.params; se = e.state; pa = a.params; sa = a.state;
        });
      } finally {
        T.dispose([pe, se, pa, sa]);
      }
    }), { numRuns: fcRuns(15) });
  });

  it.each(optimizers)('%s: the update compiled (scalars as number arguments) == eager over 4 steps', (_name, make) => {
    const opt = make();
    const step = compileStep((p: P, st: unknown, g: P, sc: nn.OptScalarArgs) => opt.apply(g, st as never, p, sc));
    let pe = tree([0.5, -1, 2], [1, 2, 3, -4], 4);
    let se = opt.init(pe);
    let pc = T.tidy(() => T.treeUnflatten<P>(T.treeFlatten(pe)[1], (T.treeFlatten(pe)[0] as Tensor[]).map((t) => T.add(t, 0))));
    let sc = moments(opt.init(pc));
    try {
      for (let k = 0; k < 4; k++) {
        const g = tree([0.1 * k - 0.2, 0.3, -0.7 * k], [k, -1, 0.5, 2 - k], 4);
        const e = opt.update(g, se, pe);
        const c = step(pc, sc, g, opt.scalars(k) as nn.OptScalarArgs) as { params: P; state: Record<string, unknown> };
        T.dispose(g);
        expect(treeBits([c.params, c.state])).toEqual(treeBits([e.params, moments(e.state)]));
        T.dispose([pe, se, pc, sc]);
        pe = e.params; se = e.state; pc = c.params; sc = c.state;
      }
      expect(step.report()).toMatchObject({ traces: 1, replays: 3 });
    } finally {
      T.dispose([pe, se, pc, sc]);
      step.dispose();
    }
  });

  it('apply refuses a scalar that is not a number or a rank-0 tensor, naming it', () => {
    const o = nn.adamw({ learningRate: 0.1 });
    const p = { w: T.tensor([1, 2]) };
    const st = o.init(p);
    const v = T.tensor([1, 2]);
    try {
      expect(() => o.apply(p, st, p, { lr: v, bc1: 0.1, bc2: 0.1 })).toThrow(/^adamw\.update: scalars\.lr must be a number or a rank-0 tensor, got a tensor of shape \[2\]/);
      expect(() => o.apply(p, st, p, { lr: 0.1, bc1: NaN, bc2: 0.1 })).toThrow(/^adamw\.update: scalars\.bc1 must be a finite number or a rank-0 tensor, got null/);
      expect(() => o.apply(p, st, p, { lr: 0.1, bc1: 0.1 } as never)).toThrow(/^adamw\.update: scalars\.bc2 must be a finite number/);
    } finally {
      T.dispose([p, st, v]);
    }
  });
});

describe('ema scalars + apply', () => {
  it('apply with rank-0 tensor scalars (eager and compiled) == update, bit for bit', () => {
    const avg = nn.ema({ decay: 0.999, warmup: { invGamma: 1, power: 0.75 } });
    const step = compileStep((e: P, p: P, d: number, r: number) => avg.apply(e, p, { decay: d, rest: r }));
    const p = tree([0.25, -3, 7], [1, 2], 2);
    let se = avg.init(p);
    let ec = avg.init(p).params;
    let ea = avg.init(p).params;
    try {
      for (let k = 0; k < 4; k++) {
        const q = T.tidy(() => T.treeUnflatten<P>(T.treeFlatten(p)[1], (T.treeFlatten(p)[0] as Tensor[]).map((t) => T.mul(t, k + 2))));
        const s = avg.scalars(se.step);
        expect(s).toEqual({ decay: avg.decayAt(k), rest: 1 - avg.decayAt(k) });
        const next = avg.update(se, q);
        const d = T.scalar(s.decay), r = T.scalar(s.rest);
        const a = avg.apply(ea, q, { decay: d, rest: r });
        const c = step(ec, q, s.decay, s.rest) as P;
        expect(treeBits(a)).toEqual(treeBits(next.params));
        expect(treeBits(c)).toEqual(treeBits(next.params));
        T.dispose([q, d, r, se, ea, ec]);
        se = next; ea = a; ec = c;
      }
      expect(() => avg.apply(ea, p, { decay: 0.5, rest: Infinity })).toThrow(/^ema\.update: scalars\.rest must be a finite number or a rank-0 tensor/);
    } finally {
      T.dispose([p, se, ea, ec]);
      step.dispose();
    }
  });
});

describe('adamw + ema in one compiled step', () => {
  // The EMA chains (avg d + p' rest) have the structure of Adam's first-moment chains
  // (m b1 + g (1 - b1)), so the multi-tensor grouping put them in one kernel, placed after the
  // parameter update that reads the moments: a replay read a moment before it was computed
  // (compile's plan.ts treated a returned value as never read inside the plan).
  it('== the eager adamw.update + ema.update, bit for bit over 4 steps', () => {
    const opt = nn.adamw({ learningRate: 0.01, weightDecay: 0.001 });
    const avg = nn.ema({ decay: 0.99, warmup: { invGamma: 1, power: 0.75 } });
    const step = compileStep((p: P, mu: P, nu: P, e: P, g: P, lr: number, bc1: number, bc2: number, d: number, r: number) => {
      const o = opt.apply(g, { mu, nu }, p, { lr, bc1, bc2 });
      return { o, e: avg.apply(e, o.params, { decay: d, rest: r }) };
    });
    const mk = () => ({ a: T.tensor([0.5, -1, 2, 3]), b: { c: T.tensor([1, 2, 3, -4, 5, 6], [2, 3]) } }) as unknown as P;
    let pe = mk(), pc = mk();
    let so = opt.init(pe), co = moments(opt.init(pc)) as { mu: P; nu: P };
    let se = avg.init(pe), ce = avg.init(pc).params;
    try {
      for (let k = 0; k < 4; k++) {
        const g = T.tidy(() => T.treeUnflatten<P>(T.treeFlatten(pe)[1], (T.treeFlatten(pe)[0] as Tensor[]).map((t) => T.sin(T.mul(t, k + 1)))));
        const eo = opt.update(g, so, pe);
        const ee = avg.update(se, eo.params);
        const s = opt.scalars(k), es = avg.scalars(k);
        const c = step(pc, co.mu, co.nu, ce, g, s.lr, s.bc1!, s.bc2!, es.decay, es.rest) as { o: { params: P; state: { mu: P; nu: P } }; e: P };
        expect(treeBits([c.o.params, c.o.state.mu, c.o.state.nu, c.e])).toEqual(treeBits([eo.params, eo.state.mu, eo.state.nu, ee.params]));
        T.dispose([g, pe, so, se, pc, co, ce]);
        pe = eo.params; so = eo.state; se = ee; pc = c.o.params; co = c.o.state; ce = c.e;
      }
      if (T.getBackend() === 'webasm') expect(step.report().plans[0]!.multiTensorKernels).toBeGreaterThan(0);
    } finally {
      T.dispose([pe, so, se, pc, co, ce]);
      step.dispose();
    }
  });
});

describe('embedding with traced indices', () => {
  it('compiled with the labels as an argument: every replay picks that call\'s rows', async () => {
    const w = T.tensor([0, 1, 10, 11, 20, 21, 30, 31], [4, 2]);
    const host = Array.from(await w.data());
    const step = compileStep((labels: Tensor) => T.mul(nn.embedding.apply({ weight: w }, labels), 2));
    try {
      for (const labels of [[3, 0, 1], [2, 2, 0], [1, 3, 3], [0, 0, 0]]) {
        const l = T.tensor(labels);
        const out = step(l) as Tensor;
        expect(Array.from(await out.data())).toEqual(labels.flatMap((i) => [2 * host[2 * i]!, 2 * host[2 * i + 1]!]));
        T.dispose([l, out]);
      }
      expect(step.report()).toMatchObject({ traces: 1, replays: 3 });
      // the index check runs at trace time, in embedding's words
      const bad = T.tensor([1, 4]);
      expect(() => compileStep((l: Tensor) => nn.embedding.apply({ weight: w }, l))(bad))
        .toThrow(T.getBackend() === 'webgpu' ? /./ : /^embedding: index 4 at position 1 of indices \[2\] is not an integer in \[0, 4\) \(weight \[4,2\]\)/);
      bad.dispose();
    } finally {
      step.dispose();
      w.dispose();
    }
  });
});
