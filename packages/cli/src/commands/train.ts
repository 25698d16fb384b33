// `tapegrad train`: validate everything, then train with checkpoints, metrics and pictures.

import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, randomKey, type Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { clipByGlobalNorm, globalNorm, type MlpParams } from '@tapegrad/nn';
import { diffusionLoss, makeSchedule, sample, sampleTimesteps } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError, writeFileAtomic } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { PRESETS, PRESET_NAMES } from '../presets.ts';
import { makeProgress } from '../progress.ts';
import {
  disposeState, emaFor, lrScheduleFor, initState, latestCheckpoint, loadCheckpoint, optimizerFor, readConfig, saveCheckpoint, stepName, trainKeys,
  type RunConfig, type TrainState,
} from '../run.ts';
import { DATASETS, makeDataset, type DatasetName } from '../twod/datasets.ts';
import { applyDenoiser, denoiserModel } from '../twod/denoiser.ts';
import { lossCurveSvg, scatterSvg, writeSvg } from '../pictures/svg.ts';
import { loadMnist } from '../data/mnist.ts';
import { loadPngFolder } from '../data/png-folder.ts';
import type { Io } from '../io.ts';

export interface TrainFlags {
  data?: string;
  preset?: string;
  conditional?: boolean;
  steps?: number;
  batchSize?: number;
  lr?: number;
  imageSize?: number;
  seed?: number;
  backend?: BackendChoice;
  out?: string;
  resume?: string;
  logEvery?: number;
  sampleEvery?: number;
  checkpointEvery?: number;
  keep?: number;
  gradClip?: number;
  overwrite?: boolean;
  quiet?: boolean;
}

const DEFAULT_DENOISER = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };

/** Resolve flags + preset into a RunConfig, checking every value (UsageError on any problem). */
export function resolveTrainConfig(flags: TrainFlags, env: NodeJS.ProcessEnv): { cfg: RunConfig; out: string } {
  const preset = flags.preset === undefined ? undefined : PRESETS[flags.preset];
  if (flags.preset !== undefined && !preset) throw new UsageError(`--preset '${flags.preset}' is not a preset; expected one of ${PRESET_NAMES.join(', ')}`);
  const data = flags.data ?? preset?.data;
  if (data === undefined) throw new UsageError(`--data is required (or a --preset); expected mnist, ${DATASETS.join(', ')} or a folder of PNG images`);
  const backend = resolveBackend(flags.backend ?? (preset?.backend as BackendChoice | undefined), env);
  const is2d = (DATASETS as readonly string[]).includes(data);
  if (!is2d) {
    // Validate the image data now (so a bad folder is reported), then say what is missing.
    if (data === 'mnist') {
      const size = flags.imageSize ?? preset?.imageSize ?? 28;
      if (size !== 28 && size !== 14) throw new UsageError(`--image-size must be 28 or 14 for MNIST, got ${size}`);
    } else {
      if (!existsSync(data) || !statSync(data).isDirectory()) {
        throw new UsageError(`--data '${data}' is neither a data set (mnist, ${DATASETS.join(', ')}) nor an existing folder of PNG images`);
      }
      try { loadPngFolder(data); } catch (e) { throw new UsageError(`--data: ${(e as Error).message}`); }
    }
    throw new Error(`train: --data ${data}: ${preset?.unavailable ?? PRESETS.mnist14!.unavailable}; only the 2-D sets (${DATASETS.join(', ')}) train in this build`);
  }
  if (flags.conditional) throw new UsageError(`--conditional needs a labelled image set (mnist); the 2-D set '${data}' has no classes`);
  if (flags.imageSize !== undefined) throw new UsageError(`--image-size applies to image data (mnist, PNG folders), not to the 2-D set '${data}'`);
  const steps = flags.steps ?? preset?.steps ?? 5000;
  const cfg: RunConfig = {
    version: 1, kind: '2d', data: data as DatasetName, preset: flags.preset ?? null,
    steps, batchSize: flags.batchSize ?? preset?.batchSize ?? 256, lr: flags.lr ?? preset?.lr ?? 6e-3,
    weightDecay: 0, emaDecay: preset?.emaDecay ?? 0.995, gradClip: flags.gradClip ?? 0,
    seed: flags.seed ?? preset?.seed ?? 0, backend, prediction: 'epsilon', schedule: 'linear', T: 1000,
    denoiser: preset?.denoiser ?? DEFAULT_DENOISER,
    logEvery: flags.logEvery ?? preset?.logEvery ?? Math.max(1, Math.min(100, Math.round(steps / 20))),
    sampleEvery: flags.sampleEvery ?? preset?.sampleEvery ?? Math.max(1, Math.round(steps / 5)),
    checkpointEvery: flags.checkpointEvery ?? preset?.checkpointEvery ?? Math.max(1, Math.round(steps / 5)),
    keepCheckpoints: flags.keep ?? 3,
  };
  const out = resolve(flags.out ?? join('runs', flags.preset ?? data));
  return { cfg, out };
}

const CSV_HEADER = 'step,loss,lr,grad_norm,images_per_s,wall_s\n';

export async function trainCommand(flags: TrainFlags, io: Io): Promise<number> {
  // ---- everything that can be wrong with the command line is found here, before any work
  let cfg: RunConfig, out: string, resumed = false;
  if (flags.resume !== undefined) {
    const given = (['data', 'preset', 'conditional', 'steps', 'batchSize', 'lr', 'imageSize', 'seed', 'out', 'gradClip'] as const).filter((k) => flags[k] !== undefined);
    if (given.length) {
      const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new UsageError(`--resume continues a run with the configuration saved in it; drop ${given.map(flag).join(', ')}`);
    }
    out = resolve(flags.resume);
    try { cfg = readConfig(out); } catch (e) { throw new UsageError(`--resume: ${(e as Error).message}`); }
    cfg.backend = resolveBackend(flags.backend ?? (cfg.backend as BackendChoice), io.env);
    resumed = true;
    checkWritableDirAsUsage(out, '--resume');
  } else {
    ({ cfg, out } = resolveTrainConfig(flags, io.env));
    if (existsSync(join(out, 'config.json')) && !flags.overwrite) {
      throw new UsageError(`--out '${out}' already holds a run; continue it with --resume ${flags.out ?? out}, or pass --overwrite, or choose another --out`);
    }
    checkWritableDirAsUsage(out, '--out');
    if (flags.overwrite) {
      // only what `train` and `eval` write; anything else in the folder is left alone
      for (const f of ['checkpoints', 'samples', 'metrics.csv', 'loss.svg', 'eval.json', 'eval-samples.svg', 'config.json']) rmSync(join(out, f), { recursive: true, force: true });
    }
  }

  // ---- set up
  const backend = await T.setBackend(cfg.backend as BackendChoice);
  const schedule = makeSchedule(cfg.schedule, cfg.T);
  let state: TrainState;
  const ckptDir = resumed ? latestCheckpoint(out) : null;
  if (ckptDir) {
    state = loadCheckpoint(ckptDir, cfg);
    io.stdout(`resuming ${out} from ${ckptDir} (step ${state.step} of ${cfg.steps})\n`);
  } else {
    state = initState(cfg);
    if (resumed) io.stdout(`resuming ${out}: no checkpoint yet, starting at step 0\n`);
  }
  writeFileAtomic(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const metricsPath = join(out, 'metrics.csv');
  if (!resumed || !existsSync(metricsPath)) writeFileAtomic(metricsPath, CSV_HEADER);
  else {
    // rows written after the checkpoint belong to the lost part of the run: drop them
    const rows = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.length > 0);
    writeFileAtomic(metricsPath, [CSV_HEADER.trimEnd(), ...rows.slice(1).filter((r) => Number(r.split(',')[0]) <= state.step)].join('\n') + '\n');
  }
  if (!flags.quiet) {
    io.stdout(`tapegrad train: ${cfg.data}, backend ${backend}, ${cfg.steps} steps x batch ${cfg.batchSize}, AdamW lr ${cfg.lr} (warm-up + cosine), EMA ${cfg.emaDecay}\n`);
    io.stdout(`model: MLP ${cfg.denoiser.layers}x${cfg.denoiser.hidden} SiLU; schedule ${cfg.schedule} T=${cfg.T}; prediction ${cfg.prediction}; run folder ${out}\n`);
  }
  if (state.step >= cfg.steps) {
    io.stdout(`the run is complete (step ${state.step} of ${cfg.steps}); nothing to do\n`);
    disposeState(state);
    return 0;
  }

  // ---- train
  const opt = optimizerFor(cfg);
  const avg = emaFor(cfg);
  const lrAt = lrScheduleFor(cfg);
  const [, kData, kT, kNoise] = trainKeys(cfg.seed);
  const dcfg = cfg.denoiser;
  const lossAndGrad = valueAndGrad((p: MlpParams, x0: Tensor, t: Int32Array, noise: Tensor) =>
    diffusionLoss((x, tt) => applyDenoiser(p, x, tt, dcfg), x0, { schedule, t, noise, prediction: cfg.prediction }));
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on('SIGINT', onSigint);
  const progress = makeProgress(cfg.steps, state.step, { tty: io.isTTY, write: io.stdout, quiet: flags.quiet });
  const t0 = performance.now();
  let windowStart = performance.now(), windowSteps = 0;
  let window: Tensor[] = [];
  let lastCkpt: string | null = ckptDir;
  const sampleKey = foldIn(randomKey(cfg.seed + 1_000_003), 7);
  const fixedData = makeDataset(cfg.data, foldIn(randomKey(cfg.seed + 1_000_003), 8), 500);
  try {
    while (state.step < cfg.steps) {
      // the tensor work is synchronous and read-backs resolve as microtasks: give the event loop a
      // turn so a pending SIGINT handler can run
      await new Promise<void>((r) => setImmediate(r));
      if (interrupted) {
        progress.stop();
        const dir = await saveCheckpoint(out, state, cfg.keepCheckpoints);
        io.stderr(`\ninterrupted at step ${state.step}: wrote ${dir}; continue with: tapegrad train --resume ${out}\n`);
        return 130;
      }
      const step = state.step;
      const x0 = T.tensor(makeDataset(cfg.data, foldIn(kData, step), cfg.batchSize), [cfg.batchSize, dcfg.dim]);
      const t = sampleTimesteps(foldIn(kT, step), cfg.batchSize, schedule.T);
      const noise = T.randomNormal(foldIn(kNoise, step), [cfg.batchSize, dcfg.dim]);
      let [loss, grads] = lossAndGrad(state.params, x0, t, noise);
      x0.dispose();
      noise.dispose();
      const logNow = (step + 1) % cfg.logEvery === 0 || step + 1 === cfg.steps;
      let gnorm: Tensor | null = null;
      if (cfg.gradClip > 0) {
        const clipped = clipByGlobalNorm(grads, cfg.gradClip);
        T.dispose(grads);
        grads = clipped.grads;
        gnorm = clipped.norm;
      } else if (logNow) gnorm = globalNorm(grads);
      const lrUsed = lrAt(state.opt.step);
      ({ params: state.params, state: state.opt } = opt.step(grads, state.opt, state.params));
      state.ema = avg.step(state.ema, state.params);
      state.step = step + 1;
      window.push(loss);
      windowSteps++;
      if (!logNow) { gnorm?.dispose(); progress.update(state.step, { imagesPerSecond: (windowSteps * cfg.batchSize) / Math.max(1e-9, (performance.now() - windowStart) / 1000) }); continue; }
      const stacked = T.stack(window);
      const mean = T.mean(stacked);
      const value = (await mean.data())[0]!;
      const gn = gnorm ? (await gnorm.data())[0]! : NaN;
      T.dispose([stacked, mean, ...window]);
      gnorm?.dispose();
      window = [];
      const now = performance.now();
      const windowLen = windowSteps;
      const ips = (windowSteps * cfg.batchSize) / Math.max(1e-9, (now - windowStart) / 1000);
      windowStart = now; windowSteps = 0;
      if (!Number.isFinite(value)) {
        progress.stop();
        const first = state.step - windowLen + 1;
        const where = windowLen === 1 ? `at step ${state.step}` : `in steps ${first}..${state.step}`;
        const keep = lastCkpt ? `the last good checkpoint ${lastCkpt} is left intact (resume with: tapegrad train --resume ${out})` : 'no checkpoint had been written yet';
        io.stderr(`train: the loss became ${value} ${where}; stopped, ${keep}. Lower --lr or pass --grad-clip\n`);
        return 1;
      }
      state.losses.push({ step: state.step, loss: value });
      appendFileSync(metricsPath, `${state.step},${value},${lrUsed},${gn},${ips.toFixed(1)},${((now - t0) / 1000).toFixed(3)}\n`);
      progress.update(state.step, { loss: value, imagesPerSecond: ips });
      if (cfg.sampleEvery > 0 && (state.step % cfg.sampleEvery === 0 || state.step === cfg.steps)) {
        const x = await sample(denoiserModel(state.ema.params, dcfg), { shape: [500, 2], schedule, sampler: 'ddim', steps: 50, key: sampleKey, prediction: cfg.prediction, spacing: 'trailing' });
        const pts = await x.data();
        x.dispose();
        writeSvg(join(out, 'samples', `${stepName(state.step)}.svg`), scatterSvg([{ title: `EMA samples at step ${state.step} (DDIM, 50 steps)`, points: pts, reference: fixedData }], { cols: 1, size: 420 }));
      }
      if (state.step % cfg.checkpointEvery === 0 || state.step === cfg.steps) {
        // the loss read above was computed before this step's update: check the updated weights too,
        // so that a checkpoint is only written when it is usable
        const norms = [globalNorm(state.params), globalNorm(state.ema.params)];
        const [pn, en] = [(await norms[0]!.data())[0]!, (await norms[1]!.data())[0]!];
        T.dispose(norms);
        if (!Number.isFinite(pn) || !Number.isFinite(en)) {
          progress.stop();
          const keep = lastCkpt ? `the last good checkpoint ${lastCkpt} is left intact (resume with: tapegrad train --resume ${out})` : 'no checkpoint had been written yet';
          io.stderr(`train: the weights became non-finite (norm ${pn}, EMA norm ${en}) at step ${state.step}; stopped, ${keep}. Lower --lr or pass --grad-clip\n`);
          return 1;
        }
        lastCkpt = await saveCheckpoint(out, state, cfg.keepCheckpoints);
        writeSvg(join(out, 'loss.svg'), lossCurveSvg(state.losses, { title: `training loss (${cfg.data}, mean over ${cfg.logEvery} steps)` }));
      }
    }
    progress.stop();
    const secs = (performance.now() - t0) / 1000;
    io.stdout(`${flags.quiet ? '' : '\n'}trained to step ${state.step} in ${secs.toFixed(1)} s; final loss ${state.losses.at(-1)?.loss.toFixed(4)}; checkpoint ${lastCkpt}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    T.dispose(window);
    disposeState(state);
  }
}

function checkWritableDirAsUsage(dir: string, flag: string): void {
  try {
    checkWritableDir(dir, `${flag} folder`);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
