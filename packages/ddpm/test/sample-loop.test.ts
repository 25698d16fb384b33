// The generic sample() loop: ownership (it frees only what it created), divergence (a non-finite
// model output is an error naming the sampler, the step and t), the Sampler interface (the loop
// runs each sampler's single step exactly; a custom sampler plugs in), and class labels with
// classifier-free guidance through a learned null class.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { randomKey, type Tensor } from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample } from '../src/sampling/sample.ts';
import { SAMPLERS, type Sampler } from '../src/sampling/sampler.ts';
import { samplingPlan } from '../src/sampling/plan.ts';
import { ddpmStep } from '../src/sampling/ddpm.ts';
import { ddimStep } from '../src/sampling/ddim.ts';
import { dpmSolverPlusPlusStep } from '../src/sampling/dpmsolver.ts';
import { eulerStep } from '../src/sampling/euler.ts';
import { respace } from '../src/schedule/schedule.ts';
import { x0FromEps } from '../src/process/forward.ts';
import { mlpDenoiser } from '../src/models/mlp.ts';
import { denoiserAsModel } from '../src/models/denoiser.ts';
import type { Model } from '../src/models/model.ts';

const sched = makeSchedule('linear', 100);
const SHAPE = [3, 2];
const CLIPS = [false, true, { kind: 'dynamic' as const }];

beforeAll(async () => {
  await T.setBackend('webasm');
});

describe('ownership: sample frees only what it created', () => {
  for (const sampler of SAMPLERS) {
    it(`${sampler}: the model may return its input or a closed-over tensor; init, cond and nullCond stay alive`, async () => {
      const init = T.randomNormal(randomKey(1), SHAPE);
      const w = T.full(SHAPE, 0.25);
      const cond = T.tensor([[1], [0], [1]]);
      const nullCond = T.tensor([0]);
      const models: [string, Model][] = [['identity', (x) => x], ['closed-over', () => w]];
      for (const [, model] of models) {
        for (const prediction of ['epsilon', 'sample', 'v_prediction'] as const) {
          const out = await sample(model, { shape: SHAPE, schedule: sched, sampler, steps: 4, key: randomKey(2), init, prediction });
          expect(out).not.toBe(init);
          expect(out).not.toBe(w);
          out.dispose();
        }
        const g = await sample(model === models[1]![1] ? (x) => x : model, { shape: SHAPE, schedule: sched, sampler, steps: 3, key: randomKey(2), init, cond, guidance: { scale: 3, nullCond } });
        g.dispose();
      }
      // Every caller tensor is still readable.
      for (const t of [init, w, cond, nullCond]) expect(Array.from(await t.data()).every(Number.isFinite)).toBe(true);
      T.dispose([init, w, cond, nullCond]);
    });
  }

  it('a custom sampler that hands back a tensor it was given gets a copy returned, not the caller\'s tensor', async () => {
    const w = T.full(SHAPE, 0.5);
    const passThrough: Sampler = {
      name: 'pass', defaultSpacing: 'trailing', defaultSteps: () => 2,
      plan: (Tn, steps) => ({ timesteps: [Tn - 1, Math.floor(Tn / 2)].slice(0, steps), prev: [Math.floor(Tn / 2), -1].slice(0, steps) }),
      start: () => ({ alphaBar: (t) => (t < 0 ? 1 : sched.alphasCumprod[t]!), step: ({ x }) => ({ next: x }) }),
    };
    const out = await sample(() => w, { shape: SHAPE, schedule: sched, sampler: passThrough, key: randomKey(0), init: w, prediction: 'sample' });
    expect(out).not.toBe(w);
    expect(Array.from(await out.data())).toEqual(Array.from(await w.data()));
    T.dispose([out, w]);
  });
});

describe('divergence: a non-finite model output is reported, never hidden', () => {
  const nanModel: Model = (x) => T.mul(x, NaN);
  for (const sampler of SAMPLERS) {
    for (const clip of CLIPS) {
      it(`${sampler}, clip ${JSON.stringify(clip)}: NaN output throws naming the sampler, the step and t`, async () => {
        const plan = samplingPlan(sampler, 100, 5);
        const err = await sample(nanModel, { shape: SHAPE, schedule: sched, sampler, steps: 5, key: randomKey(3), clip }).catch((e) => e);
        expect(err).toBeInstanceOf(Error);
        expect(err.message).toMatch(/^sample: the model output is not finite \(NaN or Inf\) at /);
        expect(err.message).toContain(`at step 1 of 5 (t=${plan.timesteps[0]}) of sampler '${sampler}'`);
      });
    }
  }

  it('an Inf at a later step is located at that step', async () => {
    let calls = 0;
    const late: Model = (x) => (++calls === 3 ? T.mul(x, Infinity) : T.mul(x, 0.1));
    const plan = samplingPlan('ddim', 100, 6);
    // eager: the model counts its calls (a compiled replay does not call it); the compiled
    // check is in sample-compiled.test.ts
    await expect(sample(late, { shape: SHAPE, schedule: sched, sampler: 'ddim', steps: 6, key: randomKey(3), clip: true, eager: true }))
      .rejects.toThrow(`at step 3 of 6 (t=${plan.timesteps[2]}) of sampler 'ddim'`);
  });

  it('checkFinite: false opts out (and then clipping hides the NaN: the reason the check is on by default)', async () => {
    const out = await sample(nanModel, { shape: SHAPE, schedule: sched, sampler: 'ddim', steps: 3, key: randomKey(3), clip: true, checkFinite: false });
    const v = Array.from(await out.data());
    out.dispose();
    expect(v.length).toBe(6);
    await expect(sample(nanModel, { shape: SHAPE, schedule: sched, sampler: 'ddim', steps: 3, key: randomKey(3), checkFinite: 1 as never }))
      .rejects.toThrow(/^sample: checkFinite must be a boolean/);
  });
});

describe('the Sampler interface: one loop step is exactly the sampler\'s single step', () => {
  // A model with a fixed, data-independent output, so the expected step is computable directly.
  const epsOf = (x: Tensor) => T.tidy(() => T.mul(T.add(x, 0.3), 0.5));
  const model: Model = (x) => epsOf(x);
  for (const sampler of SAMPLERS) {
    it(`${sampler}: the first two steps of sample() equal ${sampler}'s step function applied by hand`, async () => {
      const steps = 4;
      const plan = samplingPlan(sampler, 100, steps);
      const init = T.randomNormal(randomKey(9), SHAPE);
      const seen: number[][] = [];
      const out = await sample(model, {
        shape: SHAPE, schedule: sched, sampler, steps, key: randomKey(4), init, eta: sampler === 'ddim' ? 0 : undefined,
        onStep: async (info) => { if (info.index < 2) seen.push(Array.from(await info.next.data())); },
      });
      out.dispose();
      const ode = (t: number) => (t < 0 ? 1 : sched.alphasCumprod[t]!);
      // By hand: step 0 and step 1.
      let x = init;
      let prevX0: Tensor | null = null;
      const expected: number[][] = [];
      for (let i = 0; i < 2; i++) {
        const t = plan.timesteps[i]!, prevT = plan.prev[i]!;
        const eps = epsOf(x);
        const x0 = x0FromEps(x, eps, ode(t));
        let next: Tensor;
        if (sampler === 'ddpm') {
          const r = respace(sched, plan.timesteps);
          const [, kNoise] = T.splitKey(randomKey(4), 2);
          const z = T.randomNormal(T.foldIn(kNoise!, i), SHAPE);
          next = ddpmStep(r, steps - 1 - i, x, x0, z);
          z.dispose();
        } else if (sampler === 'ddim') next = ddimStep({ x0, eps, alphaBarT: ode(t), alphaBarPrev: ode(prevT) });
        else if (sampler === 'euler') next = eulerStep({ x, x0, alphaBarS: ode(t), alphaBarT: ode(prevT) });
        else {
          next = prevX0 ? dpmSolverPlusPlusStep({ x, x0, alphaBarS0: ode(t), alphaBarT: ode(prevT), prevX0, alphaBarS1: ode(plan.timesteps[i - 1]!) })
            : dpmSolverPlusPlusStep({ x, x0, alphaBarS0: ode(t), alphaBarT: ode(prevT) });
        }
        expected.push(Array.from(await next.data()));
        eps.dispose();
        prevX0?.dispose();
        prevX0 = x0;
        if (x !== init) x.dispose();
        x = next;
      }
      T.dispose([x, prevX0, init]);
      expect(seen).toEqual(expected);
    });
  }

  it('a sampler given as an object runs through the same loop; by-name options are refused for it', async () => {
    // "Jump": each step lands on the x0 estimate re-noised deterministically to prevT (DDIM eta 0 written from scratch).
    const jump: Sampler = {
      name: 'jump', defaultSpacing: 'trailing', defaultSteps: () => 3,
      plan: (Tn, steps) => { const ts = [Tn - 1, 60, 20].slice(0, steps); return { timesteps: ts, prev: [...ts.slice(1), -1] }; },
      start: (s) => ({
        alphaBar: (t) => (t < 0 ? 1 : s.alphasCumprod[t]!),
        step: ({ x0, eps, alphaBarPrev }) => ({ next: T.tidy(() => T.add(T.mul(x0, Math.sqrt(alphaBarPrev)), T.mul(eps, Math.sqrt(1 - alphaBarPrev)))) }),
      }),
    };
    const ts: number[] = [];
    const m: Model = (x, t) => { ts.push(t.dataSync()[0]!); return T.mul(x, 0); }; // eps = 0: x0 = x / sqrt(ab)
    const init = T.tensor([[1, 2], [3, 4], [5, 6]]);
    const out = await sample(m, { shape: SHAPE, schedule: sched, sampler: jump, key: randomKey(0), init });
    expect(ts).toEqual([99, 60, 20]);
    const a = sched.alphasCumprod;
    const scale = 1 / Math.sqrt(a[99]!); // x0 at the first step; later steps re-derive the same x0
    const v = Array.from(await out.data());
    v.forEach((q, i) => expect(q).toBeCloseTo((i + 1) * scale, 3));
    out.dispose();
    await expect(sample(m, { shape: SHAPE, schedule: sched, sampler: jump, key: randomKey(0), init, eta: 0.5 })).rejects.toThrow(/^sample: opts\.eta applies to a sampler given by name/);
    init.dispose();
  });
});

describe('class labels and classifier-free guidance with a learned null class', () => {
  it('nullClass: the model sees [null..., labels...] and the guided x0 is null + s (label - null)', async () => {
    const seen: number[][] = [];
    // Predicts x0 = its class label, for every pixel (a "UNet" with a class embedding).
    const m: Model = (x, _t, labels) => {
      seen.push(Array.from(labels!.dataSync()));
      return T.tidy(() => T.add(T.mul(x, 0), T.reshape(labels!, [x.shape[0]!, 1, 1, 1])));
    };
    const labels = T.tensor([0, 1, 2]);
    const out = await sample(m, {
      shape: [3, 1, 2, 2], schedule: sched, sampler: 'ddim', steps: 3, key: randomKey(1), prediction: 'sample',
      cond: labels, guidance: { scale: 2, nullClass: 10 },
    });
    expect(seen[0]).toEqual([10, 10, 10, 0, 1, 2]);
    const v = Array.from(await out.data());
    // DDIM's last step lands on x0 (alpha_bar = 1): 10 + 2 (c - 10) = 2c - 10.
    expect(v).toEqual([-10, -10, -10, -10, -8, -8, -8, -8, -6, -6, -6, -6]);
    await expect(sample(m, { shape: [3, 1, 2, 2], schedule: sched, sampler: 'ddim', steps: 3, key: randomKey(1), cond: labels, guidance: { scale: 2 } }))
      .rejects.toThrow(/^sample: guidance needs exactly one of nullCond .* and nullClass/);
    T.dispose([out, labels]);
  });

  it('a class-conditional denoiser samples through denoiserAsModel with guidance', async () => {
    const cfg = { dim: 2, hidden: 8, layers: 1, timeEmbedDim: 4, numClasses: 3 };
    const den = mlpDenoiser(cfg);
    const params = den.init(randomKey(0), cfg);
    const labels = T.tensor([0, 2, 1]);
    const out = await sample(denoiserAsModel(den, params), {
      shape: SHAPE, schedule: sched, sampler: 'dpmsolver++', steps: 3, key: randomKey(1), cond: labels, guidance: { scale: 4, nullClass: 3 },
    });
    expect(out.shape).toEqual(SHAPE);
    expect(Array.from(await out.data()).every(Number.isFinite)).toBe(true);
    const x = T.zeros(SHAPE), t = T.tensor([1, 2, 3]);
    expect(() => den.apply(params, x, t)).toThrow(/^mlpDenoiser\.apply: the model is class-conditional \(numClasses 3\); expected classLabels \[3\]/);
    expect(() => mlpDenoiser({ ...cfg, numClasses: undefined }).apply(params, x, t, { classLabels: labels })).toThrow(/^mlpDenoiser\.apply: got classLabels but the model is unconditional/);
    T.dispose([out, labels, params, x, t]);
  });
});
