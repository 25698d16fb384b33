// sample's executors: compiled (the default: the model call with classifier-free guidance, the
// x0 / eps conversion, clipping and the sampler's update as one compiled step per sampler, the
// per-step numbers as arguments) and eager (`eager: true`) must give the same samples and the
// same x0 estimates bit for bit, for ddpm / ddim / dpmsolver++ / euler over random settings
// (MLP denoiser) and on a tiny class-conditional UNet. Also: that the compiled path really
// replays (the JS model runs only at traces), the partial and eager fallbacks with their
// reasons, and the divergence check through a compiled step.

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { randomKey } from '@tapegrad/tensor';
import { fcRuns } from '@tapegrad/tensor/testing';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { mlpDenoiser, type DenoiserConfig } from '../src/models/mlp.ts';
import { denoiserAsModel } from '../src/models/denoiser.ts';
import { unet2d } from '../src/models/unet2d.ts';
import type { UNet2DConfig } from '../src/models/unet2d-config.ts';
import type { Model } from '../src/models/model.ts';
import { sample, samplingPlan, type SampleExecutor, type SampleOptions } from '../src/sampling/sample.ts';
import { getSampler } from '../src/sampling/plan.ts';
import type { Sampler } from '../src/sampling/sampler.ts';

beforeAll(async () => {
  await T.ready();
});

const bitsOf = (v: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(v).buffer));

interface Run { samples: number[]; x0s: number[][]; calls: number; executors: SampleExecutor[] }

/** sample with a call-counting wrapper of `model`; the final samples and every x0 estimate as float32 bits. */
async function runOnce(model: Model, opts: SampleOptions): Promise<Run> {
  let calls = 0;
  const counted: Model = (x, t, c) => { calls++; return c === undefined ? model(x, t) : model(x, t, c); };
  const x0s: number[][] = [];
  const executors: SampleExecutor[] = [];
  const out = await sample(counted, { ...opts, onStep: (s) => { x0s.push(bitsOf(s.x0.dataSync())); }, onExecutor: (e) => { executors.push(e); } });
  const samples = bitsOf(await out.data());
  out.dispose();
  return { samples, x0s, calls, executors };
}

const MLP: DenoiserConfig = { dim: 3, hidden: 8, layers: 2, timeEmbedDim: 4, numClasses: 2 };

describe('sample: compiled == eager, bit for bit', () => {
  it('every sampler, prediction, clipping and guidance setting (random MLP denoiser, property)', async () => {
    const den = mlpDenoiser(MLP);
    const arb = fc.record({
      sampler: fc.constantFrom('ddpm', 'ddim', 'dpmsolver++', 'euler') as fc.Arbitrary<'ddpm' | 'ddim' | 'dpmsolver++' | 'euler'>,
      prediction: fc.constantFrom('epsilon', 'sample', 'v_prediction') as fc.Arbitrary<'epsilon' | 'sample' | 'v_prediction'>,
      clip: fc.constantFrom(false, true, { kind: 'clip' as const, range: 0.5 }),
      steps: fc.integer({ min: 2, max: 6 }),
      guidance: fc.constantFrom(null, 1, 2.5),
      rescale: fc.constantFrom(0, 0.7),
      eta: fc.constantFrom(0, 0.6),
      clipped: fc.boolean(),
      variance: fc.constantFrom('fixed_small', 'fixed_large') as fc.Arbitrary<'fixed_small' | 'fixed_large'>,
      seed: fc.integer({ min: 0, max: 1000 }),
      B: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(fc.asyncProperty(arb, async (a) => {
      const params = den.init(randomKey(a.seed), MLP);
      const labels = T.tensor(Array.from({ length: a.B }, (_, i) => i % 2));
      try {
        const opts: SampleOptions = {
          shape: [a.B, 3], schedule: makeSchedule('linear', 40), sampler: a.sampler, steps: a.steps, key: randomKey(a.seed + 1),
          prediction: a.prediction, clip: a.clip, cond: labels,
          ...(a.guidance === null ? {} : { guidance: { scale: a.guidance, nullClass: 2, rescale: a.rescale } }),
          ...(a.sampler === 'ddim' ? { eta: a.eta, useClippedModelOutput: a.clipped } : {}),
          ...(a.sampler === 'ddpm' ? { variance: a.variance } : {}),
        };
        const model = denoiserAsModel(den, params);
        const c = await runOnce(model, opts);
        const e = await runOnce(model, { ...opts, eager: true });
        expect(c.executors).toEqual([{ executor: 'compiled', reason: null }]);
        expect(e.executors).toEqual([{ executor: 'eager', reason: 'eager: true' }]);
        expect(c.samples).toEqual(e.samples);
        expect(c.x0s).toEqual(e.x0s);
        expect(e.calls).toBe(a.steps);
        expect(c.calls).toBeLessThanOrEqual(3); // one trace per step structure; the rest are replays
      } finally {
        T.dispose([params, labels]);
      }
    }), { numRuns: fcRuns(24) });
  });

  const UNET: UNet2DConfig = {
    inChannels: 1, outChannels: 1, blockOutChannels: [2, 4], normNumGroups: 2, layersPerBlock: 1,
    downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 2, numClassEmbeds: 3,
  };
  it.each(['ddpm', 'ddim', 'dpmsolver++', 'euler'] as const)('%s on a tiny class-conditional UNet with guidance', async (sampler) => {
    const params = unet2d.init(randomKey(4), UNET);
    const labels = T.tensor([0, 1]);
    try {
      const opts: SampleOptions = {
        shape: [2, 1, 4, 4], schedule: makeSchedule('cosine', 50), sampler, steps: 4, key: randomKey(9),
        cond: labels, guidance: { scale: 3, nullClass: 2 }, clip: true, ...(sampler === 'ddim' ? { eta: 1 } : {}),
      };
      const model = unet2d.model(params, UNET);
      const c = await runOnce(model, opts);
      const e = await runOnce(model, { ...opts, eager: true });
      expect(c.executors[0]!.executor).toBe('compiled');
      expect(c.samples).toEqual(e.samples);
      expect(c.x0s).toEqual(e.x0s);
      expect(c.calls).toBeLessThan(e.calls);
    } finally {
      T.dispose([params, labels]);
    }
  });
});

describe('sample: partial and eager fallbacks', () => {
  const den = mlpDenoiser({ ...MLP, numClasses: undefined });
  const base = (): SampleOptions => ({ shape: [2, 3], schedule: makeSchedule('linear', 30), sampler: 'ddim', steps: 4, key: randomKey(2) });

  it('a custom Sampler without a split step: the model call is compiled, the update eager; == eager', async () => {
    const inner = getSampler('ddim', {}, 'test');
    const custom: Sampler = { ...inner, name: 'mine', start: (s, p) => { const r = inner.start(s, p); return { alphaBar: r.alphaBar, step: r.step }; } };
    const params = den.init(randomKey(1), { ...MLP, numClasses: undefined });
    try {
      const model = denoiserAsModel(den, params);
      const c = await runOnce(model, { ...base(), sampler: custom });
      const e = await runOnce(model, { ...base(), sampler: custom, eager: true });
      expect(c.executors).toEqual([{ executor: 'compiled-model', reason: expect.stringMatching(/^sampler 'mine' has no split step/) }]);
      expect(c.samples).toEqual(e.samples);
      expect(c.calls).toBe(1);
    } finally {
      T.dispose(params);
    }
  });

  it('dynamic thresholding: the model call is compiled (x0 is read back on the host); == eager', async () => {
    const params = den.init(randomKey(1), { ...MLP, numClasses: undefined });
    try {
      const model = denoiserAsModel(den, params);
      const opts = { ...base(), prediction: 'sample' as const, clip: { kind: 'dynamic' as const, ratio: 0.9, maxValue: 1.5 } };
      const c = await runOnce(model, opts);
      const e = await runOnce(model, { ...opts, eager: true });
      expect(c.executors).toEqual([{ executor: 'compiled-model', reason: expect.stringMatching(/dynamic thresholding reads x0 back/) }]);
      expect(c.samples).toEqual(e.samples);
      expect(c.x0s).toEqual(e.x0s);
    } finally {
      T.dispose(params);
    }
  });

  it('a model that reads t on the host cannot be traced: eager, with the reason; == eager', async () => {
    const reads: Model = (x, t) => T.mul(x, 1 - t.dataSync()[0]! / 100);
    const c = await runOnce(reads, base());
    const e = await runOnce(reads, { ...base(), eager: true });
    expect(c.executors.map((x) => x.executor)).toEqual(['compiled', 'eager']);
    expect(c.executors[1]!.reason).toMatch(/^the model could not be traced \(dataSync: .*traced value inside compileStep/);
    expect(c.samples).toEqual(e.samples);
    expect(e.calls).toBe(4);
  });

  it('a non-finite model output at step 3 is found through the compiled step, naming the step', async () => {
    const plan = samplingPlan('ddim', 30, 6);
    const t3 = plan.timesteps[2]!;
    // pure: x / (t - t3) is Inf / NaN exactly at the third step's timestep
    const late: Model = (x, t) => T.div(T.add(x, 1), T.reshape(T.sub(t, t3), [-1, 1]));
    await expect(sample(late, { ...base(), steps: 6, clip: true })).rejects.toThrow(`at step 3 of 6 (t=${t3}) of sampler 'ddim'`);
    await expect(sample(late, { ...base(), eager: 1 as never })).rejects.toThrow(/^sample: eager must be a boolean, got 1/);
  });
});



