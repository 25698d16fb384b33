// Two-moons MLP, 800 steps (argv[2]) of batch 256 with the library train() loop:
// ms per step and the EMA samples' MMD (h = 0.5) / energy distance against fresh data (DDIM 25 trailing).
// npx tsx bench/ddpm-train-loop.ts [steps]
import * as T from '@tapegrad/tensor';
import { train, mlpDenoiser, toy2dSource, denoiserAsModel, sample, makeSchedule, makeDataset, mmdRbf, energyDistance, type DenoiserConfig } from '../packages/ddpm/src/index.ts';
await T.setBackend('webasm');
const cfg: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };
const steps = Number(process.argv[2] ?? 800);
const schedule = makeSchedule('linear', 1000);
const N = 1000, h = 0.5;
const fresh = makeDataset('moons', T.randomKey(123), N);
const floor = mmdRbf(fresh, makeDataset('moons', T.randomKey(124), N), h);
const score = async (params: any) => {
  const x = await sample(denoiserAsModel(mlpDenoiser(cfg), params), { shape: [N, 2], schedule, sampler: 'ddim', steps: 25, key: T.randomKey(7), spacing: 'trailing' });
  const v = await x.data(); x.dispose();
  return { mmd: mmdRbf(v, fresh, h), energy: energyDistance(v, fresh) };
};
let t0 = performance.now();
const r = await train<any, DenoiserConfig>({
  model: mlpDenoiser(cfg), modelConfig: cfg, modelKind: 'mlp', data: toy2dSource('moons', T.randomKey(1), 20000),
  steps, batchSize: 256, seed: 0, lr: 6e-3, warmupSteps: Math.round(steps * 0.05), minLr: 6e-5, weightDecay: 0,
  ema: { maxDecay: 0.995, invGamma: 1, power: 2 / 3 }, logEvery: 50,
});
const tTrain = (performance.now() - t0) / 1000;
const sNew = await score(r.emaParams);
T.dispose([r.params, r.emaParams]);
console.log(JSON.stringify({ steps, floor, train: { seconds: tTrain, msPerStep: 1000 * tTrain / steps, lastLoss: r.losses[r.losses.length - 1], ...sNew } }, null, 1));
