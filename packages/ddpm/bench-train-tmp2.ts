import * as T from '@tapegrad/tensor';
import { train, mlpDenoiser, toy2dSource, makeSchedule, trainDenoiser, type DenoiserConfig } from './src/index.ts';
await T.setBackend('webasm');
const cfg: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };
const steps = 150;
const schedule = makeSchedule('linear', 1000);
const out: Record<string, number[]> = { quick: [], train: [], trainNoClip: [] };
for (let rep = 0; rep < 2; rep++) {
  let t0 = performance.now();
  const q = await trainDenoiser({ dataset: 'moons', schedule, seed: 0, steps, batch: 256, lr: 6e-3, weightDecay: 0, emaDecay: 0.995, prediction: 'epsilon', denoiser: cfg, logEvery: 50 });
  out.quick!.push((performance.now() - t0) / steps); T.dispose(q.params);
  for (const clip of [1, null]) {
    t0 = performance.now();
    const r = await train({ model: mlpDenoiser(cfg), modelConfig: cfg, data: toy2dSource('moons', T.randomKey(1), 20000), steps, batchSize: 256, lr: 6e-3, warmupSteps: 8, weightDecay: 0, gradClip: clip, ema: { maxDecay: 0.995, invGamma: 1, power: 2 / 3 }, logEvery: 50 });
    out[clip ? 'train' : 'trainNoClip']!.push((performance.now() - t0) / steps); T.dispose([r.params, r.emaParams]);
  }
}
console.log(JSON.stringify(out));
