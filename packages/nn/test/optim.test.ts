// Optimizers: one step (and a few) equals the textbook formula computed independently on the
// host in float64 (property over random grads / params / hyper-parameters), on the float64
// reference backend (to 1e-12) and on the default float32 backend (to float32 rounding);
// adamw = adam + exactly the decoupled decay; clipping, schedules, EMA, ownership, errors.

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { BackendName, Tensor } from '@tapegrad/tensor';
import * as nn from '../src/index.ts';
import { host } from './helpers.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

// start the backend chosen by TAPEGRAD_BACKEND (webgpu needs an asynchronous start-up)
beforeAll(async () => {
  await T.ready();
});

// A params tree with two leaves of random sizes: { a: [n], b: { c: [m, k] } } flattened as a, b.c.
interface HostTree { a: number[]; c: number[]; m: number; k: number }

const f32 = fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }).map((v) => Math.fround(v) + 0);
const sized = (n: number) => fc.array(f32, { minLength: n, maxLength: n });

const treeArb = fc.record({ n: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 3 }) }).chain(({ n, m, k }) =>
  fc.record({
    p: fc.record({ a: sized(n), c: sized(m * k), m: fc.constant(m), k: fc.constant(k) }),
    gs: fc.array(fc.record({ a: sized(n), c: sized(m * k), m: fc.constant(m), k: fc.constant(k) }), { minLength: 1, maxLength: 3 }),
  }),
);

function toTree(h: HostTree, backend: BackendName) {
  return T.useBackend(backend, () => ({ a: T.tensor(h.a, [h.a.length]), b: { c: T.tensor(h.c, [h.m, h.k]) } }));
}
async function fromTree(t: { a: Tensor; b: { c: Tensor } }): Promise<number[]> {
  return [...(await host(t.a)), ...(await host(t.b.c))];
}
const flatHost = (h: HostTree) => [...h.a, ...h.c];

/** Run `steps` updates with `opt` on `backend`; returns final params and the tensor state leaves. */
async function run(opt: nn.Optimizer<any>, p0: HostTree, gs: HostTree[], backend: BackendName, useStep: boolean) {
  let params = toTree(p0, backend);
  let state = opt.init(params);
  for (const g of gs) {
    const grads = toTree(g, backend);
    if (useStep) ({ params, state } = opt.step(grads, state, params));
    else {
      const out = opt.update(grads, state, params);
      T.dispose([grads, params, state]);
      ({ params, state } = out);
    }
  }
  const result = { params: await fromTree(params), state: await Promise.all(nn.describeTree(state).map(async (d) => d.name)), step: state.step };
  T.dispose([params, state]);
  return result;
}

function expectClose(got: number[], want: number[], rtol: number, what: string) {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => {
    if (!(Math.abs(v - want[i]) <= rtol * (1 + Math.abs(want[i])))) {
      throw new Error(`${what}: element ${i} is ${v}, expected ${want[i]} (|diff| ${Math.abs(v - want[i])}, rtol ${rtol})`);
    }
  });
}

// ---- textbook formulas, float64, elementwise

function sgdRef(p: number[], gs: number[][], h: { lr: number; mu: number; nesterov: boolean; wd: number }): number[] {
  const x = p.slice();
  const buf = p.map(() => 0);
  for (const g0 of gs) {
    for (let i = 0; i < x.length; i++) {
      const g = g0[i] + h.wd * x[i];
      let d = g;
      if (h.mu > 0) {
        buf[i] = h.mu * buf[i] + g;
        d = h.nesterov ? g + h.mu * buf[i] : buf[i];
      }
      x[i] -= h.lr * d;
    }
  }
  return x;
}

function adamRef(p: number[], gs: number[][], h: { lr: number | ((s: number) => number); b1: number; b2: number; eps: number; wd: number; decoupled: boolean }): { p: number[]; m: number[]; v: number[] } {
  const x = p.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  gs.forEach((g0, s) => {
    const t = s + 1;
    const lr = typeof h.lr === 'function' ? h.lr(s) : h.lr;
    for (let i = 0; i < x.length; i++) {
      const g = h.decoupled ? g0[i] : g0[i] + h.wd * x[i];
      m[i] = h.b1 * m[i] + (1 - h.b1) * g;
      v[i] = h.b2 * v[i] + (1 - h.b2) * g * g;
      const mhat = m[i] / (1 - h.b1 ** t);
      const vhat = v[i] / (1 - h.b2 ** t);
      if (h.decoupled) x[i] -= lr * h.wd * x[i];
      x[i] -= (lr * mhat) / (Math.sqrt(vhat) + h.eps);
    }
  });
  return { p: x, m, v };
}

const RUNS = { numRuns: fcRuns(25), seed: 11 };

describe('a step equals the textbook formula in float64 (property)', () => {
  it('sgd (plain, momentum, nesterov, L2 weight decay)', async () => {
    const hyper = fc.record({
      lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
      mu: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 0.99, noNaN: true })),
      nesterov: fc.boolean(),
      wd: fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.1, noNaN: true })),
    }).map((h) => ({ ...h, nesterov: h.nesterov && h.mu > 0 }));
    await fc.assert(
      fc.asyncProperty(treeArb, hyper, fc.boolean(), async ({ p, gs }, h, useStep) => {
        const opt = nn.sgd({ learningRate: h.lr, momentum: h.mu, nesterov: h.nesterov, weightDecay: h.wd });
        const want = sgdRef(flatHost(p), gs.map(flatHost), h);
        const ref = await run(opt, p, gs, 'reference', useStep);
        expectClose(ref.params, want, 1e-12, 'sgd on reference');
        expect(ref.step).toBe(gs.length);
        expect(ref.state).toEqual(h.mu > 0 ? ['momentum.a', 'momentum.b.c'] : []);
        const w = await run(opt, p, gs, T.getBackend(), useStep);
        expectClose(w.params, want, 2e-6, `sgd on ${T.getBackend()}`);
      }),
      RUNS,
    );
  });

  it('adam and adamw (bias correction, eps, L2 vs decoupled decay, scheduled lr)', async () => {
    const hyper = fc.record({
      lr: fc.double({ min: 1e-4, max: 0.3, noNaN: true }),
      b1: fc.double({ min: 0, max: 0.99, noNaN: true }),
      b2: fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
      eps: fc.double({ min: 1e-8, max: 1e-3, noNaN: true }),
      wd: fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.2, noNaN: true })),
      decoupled: fc.boolean(),
      scheduled: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(treeArb, hyper, fc.boolean(), async ({ p, gs }, h, useStep) => {
        const lr = h.scheduled ? nn.cosineDecay({ init: h.lr, decaySteps: 3 }) : h.lr;
        const cfg = { learningRate: lr, beta1: h.b1, beta2: h.b2, eps: h.eps, weightDecay: h.wd };
        const opt = h.decoupled ? nn.adamw(cfg) : nn.adam(cfg);
        const want = adamRef(flatHost(p), gs.map(flatHost), { ...h, lr });
        const ref = await run(opt, p, gs, 'reference', useStep);
        expectClose(ref.params, want.p, 1e-12, `${opt.name} on reference`);
        expect(ref.state).toEqual(['mu.a', 'mu.b.c', 'nu.a', 'nu.b.c']);
        const w = await run(opt, p, gs, T.getBackend(), useStep);
        // float32: the moments and m/(sqrt(v)+eps) each carry ~1e-7 relative rounding
        expectClose(w.params, want.p, 1e-5, `${opt.name} on ${T.getBackend()}`);
      }),
      RUNS,
    );
  });

  it('the moments in the state are the textbook m and v', async () => {
    const p = { a: [1, -2, 0.5], c: [3], m: 1, k: 1 };
    const gs = [{ a: [0.1, -3, 2], c: [0], m: 1, k: 1 }, { a: [1, 1, -1], c: [4], m: 1, k: 1 }];
    const opt = nn.adam({ learningRate: 0.01, beta1: 0.8, beta2: 0.9 });
    const want = adamRef(flatHost(p), gs.map(flatHost), { lr: 0.01, b1: 0.8, b2: 0.9, eps: 1e-8, wd: 0, decoupled: false });
    let params = toTree(p, 'reference');
    let state = opt.init(params);
    for (const g of gs) ({ params, state } = opt.step(toTree(g, 'reference'), state, params));
    expectClose([...(await host(state.mu.a)), ...(await host(state.mu.b.c))], want.m, 1e-14, 'm');
    expectClose([...(await host(state.nu.a)), ...(await host(state.nu.b.c))], want.v, 1e-14, 'v');
    T.dispose([params, state]);
  });
});

describe('adamw vs adam', () => {
  it('adamw(wd) = adam(no decay) - lr * wd * p, with identical moments (property, float64)', async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, fc.double({ min: 1e-4, max: 0.3, noNaN: true }), fc.double({ min: 1e-3, max: 0.5, noNaN: true }), async ({ p, gs }, lr, wd) => {
        const params = toTree(p, 'reference');
        const grads = toTree(gs[0], 'reference');
        const aw = nn.adamw({ learningRate: lr, weightDecay: wd });
        const a0 = nn.adam({ learningRate: lr });
        const aL2 = nn.adam({ learningRate: lr, weightDecay: wd });
        const s = aw.init(params);
        const rw = aw.update(grads, s, params);
        const r0 = a0.update(grads, s, params);
        const rL2 = aL2.update(grads, s, params);
        const [pw, p0, pl2, px] = await Promise.all([fromTree(rw.params), fromTree(r0.params), fromTree(rL2.params), fromTree(params)]);
        pw.forEach((v, i) => expect(Math.abs(v - (p0[i] - lr * wd * px[i]))).toBeLessThan(1e-14));
        expect([...(await host(rw.state.mu.a)), ...(await host(rw.state.nu.b.c))]).toEqual([...(await host(r0.state.mu.a)), ...(await host(r0.state.nu.b.c))]);
        // adam's L2 decay goes through the moment normalisation: not the same update
        const l2Differs = pl2.some((v, i) => Math.abs(v - pw[i]) > 1e-9) || px.every((v) => Math.abs(v) < 1e-3);
        expect(l2Differs).toBe(true);
        T.dispose([params, grads, s, rw, r0, rL2]);
      }),
      { numRuns: fcRuns(20), seed: 5 },
    );
  });

  it('the decay mask excludes parameters by name', async () => {
    const params = { w: T.tensor([1, 2]), bias: T.tensor([3]) };
    const grads = { w: T.zeros([2]), bias: T.zeros([1]) };
    const opt = nn.adamw({ learningRate: 0.1, weightDecay: 0.5, weightDecayMask: (path) => !path.endsWith('bias') });
    const s = opt.init(params);
    const r = opt.update(grads, s, params);
    expect(await host(r.params.w)).toEqual([1 - 0.05, 2 - 0.1].map((v) => expect.closeTo(v, 6)));
    expect(await host(r.params.bias)).toEqual([3]);
    T.dispose([params, grads, s, r]);
  });
});

describe('gradient clipping by global norm', () => {
  it('scales by min(1, maxNorm / (norm + 1e-6)) and reports the norm (PyTorch clip_grad_norm_)', async () => {
    const g = { a: T.tensor([3, 0]), b: [T.tensor([[4]])] };
    const big = nn.clipByGlobalNorm(g, 1);
    expect((await host(big.norm))[0]).toBeCloseTo(5, 6);
    const s = 1 / (5 + 1e-6);
    expect(await host(big.grads.a)).toEqual([Math.fround(3 * s), 0].map((v) => expect.closeTo(v, 6)));
    expect((await host(big.grads.b[0]))[0]).toBeCloseTo(4 * s, 6);
    const small = nn.clipByGlobalNorm(g, 10);
    expect(await host(small.grads.a)).toEqual([3, 0]);
    expect(g.a.isDisposed).toBe(false);
    const n = nn.globalNorm(g);
    expect((await host(n))[0]).toBeCloseTo(5, 6);
    expect(() => nn.clipByGlobalNorm(g, 0)).toThrow(/^clipByGlobalNorm: maxNorm must be a finite number in \(0, Infinity\]/);
    T.dispose([g, big, small, n]);
  });
});

describe('learning-rate schedules (optax definitions)', () => {
  it('constant, linear warmup, cosine decay, warmup + cosine', () => {
    expect(nn.constantSchedule(0.1)(1234)).toBe(0.1);
    const w = nn.linearWarmup({ peak: 1, warmupSteps: 4 });
    expect([0, 1, 2, 4, 100].map(w)).toEqual([0, 0.25, 0.5, 1, 1]);
    const w2 = nn.linearWarmup({ peak: 1, warmupSteps: 2, init: 0.5 });
    expect([0, 1, 2].map(w2)).toEqual([0.5, 0.75, 1]);
    const c = nn.cosineDecay({ init: 2, decaySteps: 10, alpha: 0.1 });
    expect(c(0)).toBeCloseTo(2, 12);
    expect(c(5)).toBeCloseTo(2 * (0.9 * 0.5 + 0.1), 12);
    expect(c(10)).toBeCloseTo(0.2, 12);
    expect(c(50)).toBeCloseTo(0.2, 12);
    const wc = nn.warmupCosineDecay({ peak: 1, warmupSteps: 2, decaySteps: 6, end: 0.1 });
    expect(wc(0)).toBe(0);
    expect(wc(1)).toBe(0.5);
    expect(wc(2)).toBeCloseTo(1, 12);
    expect(wc(4)).toBeCloseTo(0.1 + 0.9 * 0.5, 12);
    expect(wc(6)).toBeCloseTo(0.1, 12);
    expect(nn.linearSchedule({ init: 1, end: 0, steps: 4 })(3)).toBe(0.25);
    expect(() => w(-1)).toThrow(/^linearSchedule: step must be a non-negative integer/);
    expect(() => nn.warmupCosineDecay({ peak: 1, warmupSteps: 5, decaySteps: 5 })).toThrow(/decaySteps \(5\) must be greater than warmupSteps \(5\)/);
  });

  it('an optimizer uses learningRate(state.step) for each update', async () => {
    const sched = (s: number) => [0.5, 0.25, 0.125][s];
    const opt = nn.sgd({ learningRate: sched });
    expect([0, 1, 2].map(opt.learningRate)).toEqual([0.5, 0.25, 0.125]);
    let params = { x: T.tensor([1]) };
    let state = opt.init(params);
    for (let i = 0; i < 3; i++) ({ params, state } = opt.step({ x: T.ones([1]) }, state, params));
    expect(await host(params.x)).toEqual([1 - 0.875]);
    expect(() => opt.update({ x: params.x }, state, params)).toThrow(/^sgd: the learning-rate schedule returned undefined at step 3; expected a finite number/);
    T.dispose(params);
  });
});

describe('ema', () => {
  it('decay warm-ups and the update formula (float64 reference)', async () => {
    expect(nn.ema({ decay: 0.99 }).decayAt(0)).toBe(0.99);
    const tf = nn.ema({ decay: 0.999, warmup: 'tensorflow' });
    expect([0, 1, 10, 1e6].map(tf.decayAt)).toEqual([0.1, 2 / 11, 11 / 20, 0.999]);
    const dg = nn.ema({ decay: 0.9999, warmup: { invGamma: 1, power: 2 / 3 } });
    expect(dg.decayAt(0)).toBe(0);
    expect(dg.decayAt(7)).toBeCloseTo(1 - 8 ** (-2 / 3), 14);
    const e = nn.ema({ decay: 0.9, warmup: 'tensorflow' });
    const seq = [[1, 2], [3, -1], [0, 0], [10, 5]];
    let want = seq[0].slice();
    const p0 = T.useBackend('reference', () => ({ w: T.tensor(seq[0]) }));
    let state = e.init(p0);
    T.dispose(p0);
    for (let s = 0; s < seq.length; s++) {
      const d = Math.min(0.9, (1 + s) / (10 + s));
      want = want.map((v, i) => d * v + (1 - d) * seq[s][i]);
      const p = T.useBackend('reference', () => ({ w: T.tensor(seq[s]) }));
      state = e.step(state, p);
      T.dispose(p);
    }
    expect(state.step).toBe(4);
    expectClose(await host(state.params.w), want, 1e-14, 'ema');
    T.dispose(state);
  });

  it('init shares values with params; update leaves params and the old state alive', async () => {
    const e = nn.ema({ decay: 0.5 });
    const params = { w: T.tensor([2, 4]) };
    const s0 = e.init(params);
    params.w.dispose();
    expect(await host(s0.params.w)).toEqual([2, 4]);
    const p1 = { w: T.tensor([0, 0]) };
    const s1 = e.update(s0, p1);
    expect(await host(s1.params.w)).toEqual([1, 2]);
    expect(s0.params.w.isDisposed).toBe(false);
    T.dispose([s0, s1, p1]);
  });
});

describe('ownership and errors', () => {
  it('update is pure; step disposes exactly the old params, old state and grads', async () => {
    const opt = nn.sgd({ learningRate: 0.1, momentum: 0.9 });
    const params = { w: T.tensor([1, 2]) };
    const state = opt.init(params);
    const grads = { w: T.tensor([1, 1]) };
    const before = T.memory().tensors;
    const u = opt.update(grads, state, params);
    expect(T.memory().tensors).toBe(before + 2);
    expect([params.w, state.momentum.w, grads.w].every((t) => !t.isDisposed)).toBe(true);
    const s = opt.step(grads, u.state, u.params);
    // 2 new tensors; u.params, u.state.momentum and grads disposed
    expect(T.memory().tensors).toBe(before + 2 + 2 - 3);
    expect([u.params.w, u.state.momentum.w, grads.w].every((t) => t.isDisposed)).toBe(true);
    expect(await host(s.params.w)).toEqual([1 - 0.1 - 0.19, 2 - 0.1 - 0.19].map((v) => expect.closeTo(v, 6)));
    T.dispose([params, state, s]);
  });

  it('grads that do not match params are reported with every mismatch by name', () => {
    const opt = nn.adam({ learningRate: 1e-3 });
    const params = { layer: { weight: T.zeros([2, 3]), bias: T.zeros([2]) }, extra: T.zeros([1]) };
    const state = opt.init(params);
    const grads = { layer: { weight: T.zeros([3, 2]), scale: T.zeros([2]) }, extra: T.zeros([1]) };
    let msg = '';
    try {
      opt.update(grads as never, state, params);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^adam.update: grads does not match params \(3 problems\)/);
    expect(msg).toContain("missing from grads: 'layer.bias' [2]");
    expect(msg).toContain("shape of 'layer.weight': grads [3,2] vs params [2,3]");
    expect(msg).toContain("unexpected in grads: 'layer.scale' [2]");
    expect(() => opt.update(params, { ...state, step: -1 }, params)).toThrow(/^adam.update: state.step must be a non-negative integer/);
    expect(() => opt.update({ ...params, extra: 3 } as never, state, params)).toThrow(/^adam.update: grads.extra is number; expected a Tensor/);
    expect(() => nn.adam({ learningRate: -1 })).toThrow(/^adam: learningRate must be a finite number in \[0, Infinity\]/);
    expect(() => nn.sgd({ learningRate: 0.1, nesterov: true })).toThrow(/^sgd: nesterov needs momentum > 0/);
    expect(() => nn.adam({ learningRate: 0.1, beta1: 1 })).toThrow(/^adam: beta1 must be a finite number in \[0, 1\)/);
    T.dispose([params, state, grads]);
  });
});
