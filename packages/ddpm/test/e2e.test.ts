// End to end, shortened: train the demo's MLP denoiser on two moons for 800 steps (the demo: 5000) with
// diffusionLoss + AdamW, sample with DDIM and DPM-Solver++, and check the samples are far closer
// (RBF MMD) to fresh data than those of the untrained model.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample } from '../src/sampling/sample.ts';
import { trainDenoiser } from '../src/train/quick.ts';
import { denoiserModel, initDenoiser, type DenoiserConfig } from '../src/models/mlp.ts';
import { makeDataset } from '../src/data/toy2d.ts';
import { mmdRbf } from '../src/eval/mmd.ts';

beforeAll(async () => {
  await T.setBackend('webasm');
});

describe('end to end: two moons', () => {
  it('a short training run samples far closer to the data than the untrained model', async () => {
    const schedule = makeSchedule('linear', 1000);
    const denoiser: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };
    const res = await trainDenoiser({
      dataset: 'moons', schedule, seed: 0, steps: 800, batch: 256, lr: 6e-3, weightDecay: 0, emaDecay: 0.995,
      prediction: 'epsilon', denoiser, logEvery: 200,
    });
    expect(res.losses.length).toBe(4);
    expect(res.losses[3]!.loss).toBeLessThan(res.losses[0]!.loss);
    expect(res.losses[3]!.loss).toBeLessThan(0.35); // L_simple of a trivial eps = 0 model is 1

    const N = 1000, h = 0.5;
    const fresh = makeDataset('moons', T.randomKey(123), N);
    const floor = mmdRbf(fresh, makeDataset('moons', T.randomKey(124), N), h);
    const draw = async (params: ReturnType<typeof initDenoiser>, sampler: 'ddim' | 'dpmsolver++', steps: number) => {
      const x = await sample(denoiserModel(params, denoiser), { shape: [N, 2], schedule, sampler, steps, key: T.randomKey(7), spacing: 'trailing' });
      const v = await x.data();
      x.dispose();
      return mmdRbf(v, fresh, h);
    };
    const trainedDdim = await draw(res.params, 'ddim', 25);
    const trainedDpm = await draw(res.params, 'dpmsolver++', 20);
    const untrainedParams = initDenoiser(T.randomKey(5), denoiser);
    const untrained = await draw(untrainedParams, 'ddim', 25);
    T.dispose([res.params, untrainedParams]);
    const msg = `floor ${floor.toFixed(4)}, untrained ${untrained.toFixed(4)}, trained ddim ${trainedDdim.toFixed(4)}, dpm++ ${trainedDpm.toFixed(4)}`;
    // the demo's numbers after 5000 steps: floor ~0.036, untrained ~0.37, trained ~0.05
    expect(trainedDdim, msg).toBeLessThan(0.3 * untrained);
    expect(trainedDpm, msg).toBeLessThan(0.3 * untrained);
    expect(trainedDdim, msg).toBeLessThan(3 * floor);
  });
});
