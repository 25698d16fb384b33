// End to end, shortened: train the MLP denoiser on two moons for 800 steps (the demo: 5000) with the
// library's train() loop (AdamW + warm-up/cosine, gradient clipping, EMA), sample the EMA weights with
// DDIM and DPM-Solver++, and check the samples are far closer (RBF MMD, energy distance) to fresh
// data than those of the untrained model.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { MlpParams } from '@tapegrad/nn';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample } from '../src/sampling/sample.ts';
import { train } from '../src/train/train.ts';
import { mlpDenoiser, type DenoiserConfig } from '../src/models/mlp.ts';
import { denoiserAsModel } from '../src/models/denoiser.ts';
import { makeDataset, toy2dSource } from '../src/data/toy2d.ts';
import { mmdRbf } from '../src/eval/mmd.ts';
import { energyDistance } from '../src/eval/energy.ts';

beforeAll(async () => {
  await T.setBackend('webasm');
});

describe('end to end: two moons', () => {
  it('a short training run samples far closer to the data than the untrained model', async () => {
    const schedule = makeSchedule('linear', 1000);
    const cfg: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };
    const den = mlpDenoiser(cfg);
    const res = await train({
      model: den, modelConfig: cfg, modelKind: 'mlp', data: toy2dSource('moons', T.randomKey(1), 20000),
      steps: 800, batchSize: 256, seed: 0, schedule: { kind: 'linear', T: 1000 },
      lr: 6e-3, warmupSteps: 40, minLr: 6e-5, weightDecay: 0, ema: { maxDecay: 0.995, invGamma: 1, power: 2 / 3 }, logEvery: 100,
    });
    expect(res.losses.length).toBe(800);
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const first = mean(res.losses.subarray(0, 100)), last = mean(res.losses.subarray(700));
    expect(last).toBeLessThan(first);
    expect(last).toBeLessThan(0.35); // L_simple of a trivial eps = 0 model is 1

    const N = 1000, h = 0.5;
    const fresh = makeDataset('moons', T.randomKey(123), N);
    const other = makeDataset('moons', T.randomKey(124), N);
    const floor = mmdRbf(fresh, other, h);
    const draw = async (params: MlpParams, sampler: 'ddim' | 'dpmsolver++', steps: number) => {
      const x = await sample(denoiserAsModel(den, params), { shape: [N, 2], schedule, sampler, steps, key: T.randomKey(7), spacing: 'trailing' });
      const v = await x.data();
      x.dispose();
      return { mmd: mmdRbf(v, fresh, h), energy: energyDistance(v, fresh) };
    };
    const trainedDdim = await draw(res.emaParams!, 'ddim', 25);
    const trainedDpm = await draw(res.emaParams!, 'dpmsolver++', 20);
    const untrainedParams = den.init(T.randomKey(5), cfg);
    const untrained = await draw(untrainedParams, 'ddim', 25);
    T.dispose([res.params, res.emaParams, untrainedParams]);
    const eFloor = energyDistance(other, fresh);
    const msg = `MMD: floor ${floor.toFixed(4)}, untrained ${untrained.mmd.toFixed(4)}, trained ddim ${trainedDdim.mmd.toFixed(4)}, dpm++ ${trainedDpm.mmd.toFixed(4)}; `
      + `energy: floor ${eFloor.toFixed(4)}, untrained ${untrained.energy.toFixed(4)}, trained ddim ${trainedDdim.energy.toFixed(4)}`;
    // measured (seed 0, webasm): MMD floor 0.047, trained ddim 0.084; energy floor 0.074, trained ddim 0.081
    expect(trainedDdim.mmd, msg).toBeLessThan(0.3 * untrained.mmd);
    expect(trainedDpm.mmd, msg).toBeLessThan(0.3 * untrained.mmd);
    expect(trainedDdim.mmd, msg).toBeLessThan(3 * floor);
    expect(trainedDdim.energy, msg).toBeLessThan(0.3 * untrained.energy);
    expect(trainedDdim.energy, msg).toBeLessThan(3 * eFloor);
  });
});
