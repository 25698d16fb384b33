// The first end-to-end run: train an MLP denoiser on a 2-D toy set, sample with every sampler,
// plot, and score with MMD. `npm run demo -- --help` lists the flags.

import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { availableParallelism, cpus } from 'node:os';
import * as T from '@tapegrad/tensor';
import { randomKey, splitKey, type BackendName } from '@tapegrad/tensor';
import { saveSafetensors } from '@tapegrad/nn';
import { makeSchedule, type ScheduleKind } from '../schedule/schedule.ts';
import { sample, SAMPLERS, type SamplerName, type StepInfo } from '../sampling/sample.ts';
import type { Spacing } from '../schedule/timesteps.ts';
import type { PredictionType } from '../process/forward.ts';
import { DATASETS, makeDataset, type DatasetName } from '../data/toy2d.ts';
import { mmdRbf } from '../eval/mmd.ts';
import { BLUE, GREEN, grid, ORANGE, PURPLE, scatterPanel } from './plot.ts';
import { writeFileAtomic, writePng } from './png.ts';
import { denoiserModel, initDenoiser, type DenoiserConfig } from '../models/mlp.ts';
import { trainDenoiser } from '../train/quick.ts';

const HELP = `npm run demo -- [flags]

  --dataset NAME       moons (default) | swissroll | 8gaussians
  --steps N            training steps (default 5000)
  --batch N            training batch size (default 256)
  --lr X               peak learning rate of AdamW (default 0.006)
  --seed N             seed of the data, init, noise and sampling keys (default 0)
  --sampler LIST       comma-separated samplers, or 'all' (default: ddpm,ddim,dpmsolver++,euler)
  --samples N          samples drawn per sampler, also the size of the fresh data set (default 1000)
  --ddpm-steps N       steps of the ancestral sampler (default 200; 1000 = every training timestep)
  --ode-steps N        steps of ddim / euler (default 50); dpmsolver++ uses --dpm-steps (default 20)
  --dpm-steps N
  --spacing S          timestep spacing for every sampler: leading | trailing (default) | linspace
  --prediction P       epsilon (default) | sample | v_prediction
  --schedule K         linear (default) | cosine | scaled_linear | sigmoid, T = 1000
  --bandwidth LIST     comma-separated RBF bandwidths of the MMD, in the data's units (default 0.5,0.2;
                       the first is the headline number)
  --hidden N           MLP width (default 64)
  --layers N           hidden layers (default 3)
  --xfeatures N        sinusoidal features per coordinate of x, scale 25 (default 16; 0 = raw x only)
  --backend B          webasm (default) | cpu | webgpu | reference  (TAPEGRAD_BACKEND also works)
  --out DIR            output directory (default ./out)
  --quiet              print only the summary
  --help
`;

const SAMPLER_COLORS: Record<SamplerName, readonly [number, number, number]> = {
  ddpm: BLUE, ddim: ORANGE, 'dpmsolver++': GREEN, euler: PURPLE,
};

function int(name: string, v: string | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function num(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got '${v}'`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, def: T, allowed: readonly string[]): T {
  if (v === undefined) return def;
  if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
      seed: { type: 'string' }, sampler: { type: 'string' }, samples: { type: 'string' }, 'ddpm-steps': { type: 'string' },
      'ode-steps': { type: 'string' }, 'dpm-steps': { type: 'string' }, spacing: { type: 'string' }, prediction: { type: 'string' },
      schedule: { type: 'string' }, bandwidth: { type: 'string' }, hidden: { type: 'string' }, layers: { type: 'string' }, xfeatures: { type: 'string' },
      backend: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const wallStart = performance.now();
  const dataset = oneOf<DatasetName>('dataset', values.dataset, 'moons', DATASETS);
  const trainSteps = int('steps', values.steps, 5000);
  const batch = int('batch', values.batch, 256);
  const lr = num('lr', values.lr, 6e-3);
  const seed = int('seed', values.seed, 0, 0);
  const nSamples = int('samples', values.samples, 1000);
  const samplerList = (values.sampler === undefined || values.sampler === 'all' ? SAMPLERS.join(',') : values.sampler).split(',').map((s) => s.trim());
  for (const s of samplerList) oneOf('sampler', s, 'ddpm', SAMPLERS);
  const samplers = samplerList as SamplerName[];
  const ddpmSteps = int('ddpm-steps', values['ddpm-steps'], 200);
  const odeSteps = int('ode-steps', values['ode-steps'], 50);
  const dpmSteps = int('dpm-steps', values['dpm-steps'], 20);
  const spacing = oneOf<Spacing>('spacing', values.spacing, 'trailing', ['leading', 'trailing', 'linspace']);
  const prediction = oneOf<PredictionType>('prediction', values.prediction, 'epsilon', ['epsilon', 'sample', 'v_prediction']);
  const scheduleKind = oneOf<ScheduleKind>('schedule', values.schedule, 'linear', ['linear', 'cosine', 'scaled_linear', 'sigmoid']);
  const bandwidths = (values.bandwidth ?? '0.5,0.2').split(',').map((b) => num('bandwidth', b.trim(), 0));
  const denoiser: DenoiserConfig = {
    dim: 2, hidden: int('hidden', values.hidden, 64), layers: int('layers', values.layers, 3), timeEmbedDim: 32,
    xEmbedDim: int('xfeatures', values.xfeatures, 16, 0), xEmbedScale: 25,
  };
  const backendName = oneOf<BackendName>('backend', values.backend ?? process.env.TAPEGRAD_BACKEND, 'webasm', ['webasm', 'cpu', 'webgpu', 'reference']);
  const outDir = resolve(values.out ?? 'out');
  const log = (...a: unknown[]) => { if (!values.quiet) console.log(...a); };

  const backend = await T.setBackend(backendName);
  const schedule = makeSchedule(scheduleKind, 1000);
  console.log(`tapegrad ddpm demo: ${dataset}, backend ${backend}, ${cpus().length} CPU(s) (${availableParallelism()} usable), node ${process.version}`);
  console.log(`model: MLP ${denoiser.layers}x${denoiser.hidden} SiLU on [x, sinusoidal(25 x, ${denoiser.xEmbedDim}/coord), sinusoidal(t, ${denoiser.timeEmbedDim})]; schedule ${scheduleKind} T=1000; prediction ${prediction}`);
  console.log(`training: ${trainSteps} steps x batch ${batch}, AdamW lr ${lr} (warm-up + cosine), EMA 0.995`);

  const [kSample, kData, kFloor, kUntrained] = splitKey(randomKey(seed + 1_000_003), 4);
  // ---- train
  const trained = await trainDenoiser({
    dataset, schedule, seed, steps: trainSteps, batch, lr, weightDecay: 0, emaDecay: 0.995, prediction, denoiser,
    logEvery: Math.max(1, Math.round(trainSteps / 10)),
    onLog: (step, loss, sec) => log(`  step ${String(step).padStart(5)}  loss ${loss.toFixed(4)}  ${sec.toFixed(1)} s`),
  });
  console.log(`trained in ${trained.seconds.toFixed(1)} s (${((trained.seconds / trainSteps) * 1000).toFixed(1)} ms/step)`);
  const model = denoiserModel(trained.params, denoiser);

  // ---- references for MMD: fresh data, and the data-vs-data floor
  const fresh = makeDataset(dataset, kData, nSamples);
  const mmds = (pts: ArrayLike<number>) => bandwidths.map((h) => mmdRbf(pts, fresh, h));
  const fmtMmd = (m: number[]) => m.map((v, i) => `h=${bandwidths[i]}: ${v.toFixed(4)}`).join('  ');
  const shortMmd = (m: number[]) => m.map((v) => v.toFixed(4)).join(' | ');
  const floor = bandwidths.map((h) => mmdRbf(fresh, makeDataset(dataset, kFloor, nSamples), h));

  const stepsOf = (s: SamplerName) => (s === 'ddpm' ? ddpmSteps : s === 'dpmsolver++' ? dpmSteps : odeSteps);
  const results: { sampler: SamplerName; steps: number; seconds: number; mmd: number[] }[] = [];
  const panels = [scatterPanel(fresh, null, { title: [`DATA: ${dataset.toUpperCase()} (FRESH, N=${nSamples})`, `MMD FLOOR (DATA VS DATA) ${shortMmd(floor)}`], color: [90, 90, 90] })];
  let reverse: { t: number; x: ArrayLike<number>; x0: ArrayLike<number> }[] = [];
  for (const [i, sampler] of samplers.entries()) {
    const steps = stepsOf(sampler);
    const captureAt = new Set<number>();
    if (i === 0) for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) captureAt.add(Math.min(steps - 1, Math.round(f * (steps - 1))));
    const frames: typeof reverse = [];
    const onStep = async (s: StepInfo) => {
      if (captureAt.has(s.index)) frames.push({ t: s.t, x: await s.x.data(), x0: await s.x0.data() });
      if (s.index === s.steps - 1) frames.push({ t: -1, x: await s.next.data(), x0: fresh });
    };
    const t0 = performance.now();
    const x = await sample(model, {
      shape: [nSamples, 2], schedule, sampler, steps, key: splitKey(kSample, SAMPLERS.length)[SAMPLERS.indexOf(sampler)]!, prediction, spacing,
      onStep: i === 0 ? onStep : undefined,
    });
    const pts = await x.data();
    x.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const mmd = mmds(pts);
    results.push({ sampler, steps, seconds, mmd });
    log(`  ${sampler.padEnd(12)} ${String(steps).padStart(4)} steps  ${seconds.toFixed(1).padStart(5)} s  MMD ${fmtMmd(mmd)}`);
    panels.push(scatterPanel(pts, fresh, { title: [`${sampler.toUpperCase()}, ${steps} STEPS (${spacing.toUpperCase()})`, `MMD ${shortMmd(mmd)}   ${seconds.toFixed(1)} S`], color: SAMPLER_COLORS[sampler] }));
    if (i === 0) reverse = frames;
  }

  // ---- the untrained model (same architecture, fresh init) with the first ODE sampler, as the baseline
  const baseSampler: SamplerName = samplers.includes('ddim') ? 'ddim' : samplers[0]!;
  const untrainedParams = initDenoiser(kUntrained, denoiser);
  const ux = await sample(denoiserModel(untrainedParams, denoiser), { shape: [nSamples, 2], schedule, sampler: baseSampler, steps: stepsOf(baseSampler), key: kSample, prediction, spacing });
  const upts = await ux.data();
  ux.dispose();
  T.dispose(untrainedParams);
  const untrained = mmds(upts);
  let outside = 0;
  for (let i = 0; i < nSamples; i++) if (Math.abs(upts[2 * i]!) > 2.5 || Math.abs(upts[2 * i + 1]!) > 2.5) outside++;
  panels.push(scatterPanel(upts, fresh, { title: [`UNTRAINED MODEL, ${baseSampler.toUpperCase()}, MMD ${shortMmd(untrained)}`, `${Math.round((100 * outside) / nSamples)}% OF POINTS OFF THE PLOT (RED MARKS)`], color: [214, 39, 40] }));

  // ---- pictures
  const samplesPng = join(outDir, `${dataset}-samples.png`);
  writePng(samplesPng, grid(panels, 3, `TAPEGRAD DDPM: ${dataset.toUpperCase()}, ${trainSteps} TRAINING STEPS, MMD (RBF) AT H = ${bandwidths.join(' | ')}, BACKEND ${backend.toUpperCase()}`));
  const reversePng = join(outDir, `${dataset}-reverse.png`);
  const rs = samplers[0]!;
  const strip = [
    ...reverse.map((f) => scatterPanel(f.x, null, { size: 200, title: [f.t < 0 ? 'X_0 (OUTPUT)' : `X_T, T=${f.t}`], color: SAMPLER_COLORS[rs] })),
    ...reverse.map((f) => scatterPanel(f.x0, null, { size: 200, title: [f.t < 0 ? 'DATA' : `X0 ESTIMATE AT T=${f.t}`], color: [90, 90, 90] })),
  ];
  writePng(reversePng, grid(strip, reverse.length, `REVERSE PROCESS (${rs.toUpperCase()}, ${stepsOf(rs)} STEPS): TOP X_T, BOTTOM THE MODEL'S X0 ESTIMATE`));

  // ---- checkpoint and summary
  const ckpt = join(outDir, `${dataset}-ema.safetensors`);
  await saveSafetensors(ckpt, trained.params, { dataset, prediction, schedule: scheduleKind, hidden: String(denoiser.hidden), layers: String(denoiser.layers) });
  T.dispose(trained.params);
  const wall = (performance.now() - wallStart) / 1000;
  const summary = {
    dataset, backend, seed, trainSteps, batch, lr, prediction, schedule: scheduleKind, spacing, denoiser, samples: nSamples,
    bandwidths, trainSeconds: trained.seconds, wallSeconds: wall, mmd: { floor, untrained, untrainedSampler: baseSampler, samplers: results },
    losses: trained.losses, files: [samplesPng, reversePng, ckpt],
  };
  writeFileAtomic(join(outDir, `${dataset}-summary.json`), JSON.stringify(summary, null, 2) + '\n');

  console.log(`\nMMD (RBF kernel exp(-|x-y|^2 / 2h^2), biased estimate, ${nSamples} samples vs ${nSamples} fresh data points):`);
  const row = (name: string, m: number[], extra = '') => console.log(`  ${name.padEnd(24)} ${m.map((v, i) => `h=${bandwidths[i]}: ${v.toFixed(4)}`).join('   ')}${extra}`);
  row('data vs data (floor)', floor);
  for (const r of results) row(`${r.sampler}, ${r.steps} steps`, r.mmd, `   (${r.seconds.toFixed(1)} s)`);
  row(`untrained model (${baseSampler})`, untrained);
  console.log(`\nwrote ${samplesPng}\n      ${reversePng}\n      ${ckpt}`);
  console.log(`backend ${backend}; training ${trained.seconds.toFixed(1)} s; total wall time ${wall.toFixed(1)} s`);
  const live = T.memory().tensors;
  if (live !== 0) console.log(`note: ${live} tensor(s) still alive at exit`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
