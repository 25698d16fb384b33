// `tapegrad train`: validate everything, then train with checkpoints, metrics and pictures.

import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import { foldIn, type Tensor } from '@tapegrad/tensor';
import { clipByGlobalNorm, countParams, globalNorm } from '@tapegrad/nn';
import { makeSchedule, sampleTimesteps, type UNet2DConfig } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError, writeFileAtomic } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { PRESETS, PRESET_NAMES } from '../presets.ts';
import { makeProgress } from '../progress.ts';
import {
  disposeState, emaFor, lrScheduleFor, initState, latestCheckpoint, loadCheckpoint, optimizerFor, readConfig, saveCheckpoint, trainKeys,
  type RunConfig, type TrainState,
} from '../run.ts';
import { DATASETS } from '@tapegrad/ddpm';
import { lossCurveSvg, writeSvg } from '../pictures/svg.ts';
import { loadPngFolder } from '../data/png-folder.ts';
import { imageTask, loadImageData, twoDTask, type Task } from '../tasks.ts';
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
  unetChannels?: number[];
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
  if (!is2d) return resolveImageConfig(flags, data, backend);
  if (flags.conditional) throw new UsageError(`--conditional needs a labelled image set (mnist); the 2-D set '${data}' has no classes`);
  if (flags.unetChannels !== undefined) throw new UsageError(`--unet-channels applies to image data (mnist, PNG folders), not to the 2-D set '${data}'`);
  if (flags.imageSize !== undefined) throw new UsageError(`--image-size applies to image data (mnist, PNG folders), not to the 2-D set '${data}'`);
  const steps = flags.steps ?? preset?.steps ?? 5000;
  const cfg: RunConfig = {
    version: 1, kind: '2d', data, preset: flags.preset ?? null,
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

/** The smallest UNet that fits the size: two resolutions (attention at the lower), 32/64 channels. */
export function defaultUnet(channels: number, size: number, numClassEmbeds: number | null, widths: readonly number[] = [32, 64]): UNet2DConfig {
  const n = widths.length;
  const groups = [8, 4, 2, 1].find((g) => widths.every((w) => w % g === 0))!;
  return {
    sampleSize: size, inChannels: channels, outChannels: channels, layersPerBlock: 1, blockOutChannels: [...widths],
    downBlockTypes: widths.map((_, i) => (i === n - 1 && n > 1 ? 'AttnDownBlock2D' : 'DownBlock2D')),
    upBlockTypes: widths.map((_, i) => (i === 0 && n > 1 ? 'AttnUpBlock2D' : 'UpBlock2D')),
    normNumGroups: groups, numClassEmbeds,
  };
}

function resolveImageConfig(flags: TrainFlags, data: string, backend: BackendChoice): { cfg: RunConfig; out: string } {
  const preset = flags.preset === undefined ? undefined : PRESETS[flags.preset];
  let channels: number, height: number, width: number, numClasses: number, source: string;
  if (data === 'mnist') {
    const size = flags.imageSize ?? preset?.imageSize ?? 28;
    if (size !== 28 && size !== 14) throw new UsageError(`--image-size must be 28 or 14 for MNIST, got ${size}`);
    [channels, height, width, numClasses, source] = [1, size, size, 10, 'mnist'];
  } else {
    if (!existsSync(data) || !statSync(data).isDirectory()) {
      throw new UsageError(`--data '${data}' is neither a data set (mnist, ${DATASETS.join(', ')}) nor an existing folder of PNG images`);
    }
    let set;
    try { set = loadPngFolder(data); } catch (e) { throw new UsageError(`--data: ${(e as Error).message}`); }
    if (flags.imageSize !== undefined) throw new UsageError(`--image-size applies to MNIST; the images of '${data}' are used at their size ${set.height}x${set.width}`);
    const levels = flags.unetChannels?.length ?? 2;
    const f = 2 ** (levels - 1);
    if (set.height % f || set.width % f) throw new UsageError(`--data '${data}': the images are ${set.height}x${set.width}; a UNet with ${levels} resolutions needs sizes divisible by ${f}`);
    [channels, height, width, numClasses, source] = [set.channels, set.height, set.width, 0, resolve(data)];
  }
  const conditional = flags.conditional ?? preset?.conditional ?? false;
  if (conditional && numClasses === 0) throw new UsageError(`--conditional needs a labelled image set (mnist); the folder '${data}' has no labels`);
  const steps = flags.steps ?? preset?.steps ?? 10000;
  const cfg: RunConfig = {
    version: 1, kind: 'image', data, preset: flags.preset ?? null,
    image: {
      source, channels, height, width, numClasses, conditional, labelDropout: conditional ? 0.1 : 0,
      unet: flags.unetChannels || !preset?.unet ? defaultUnet(channels, height, conditional ? numClasses + 1 : null, flags.unetChannels) : { ...preset.unet, numClassEmbeds: conditional ? numClasses + 1 : null }, sampleGuidance: conditional ? 3 : 1,
    },
    steps, batchSize: flags.batchSize ?? preset?.batchSize ?? 64, lr: flags.lr ?? preset?.lr ?? 1e-3,
    weightDecay: 0, emaDecay: preset?.emaDecay ?? 0.999, gradClip: flags.gradClip ?? 1,
    seed: flags.seed ?? preset?.seed ?? 0, backend, prediction: 'epsilon', schedule: 'linear', T: 1000,
    logEvery: flags.logEvery ?? preset?.logEvery ?? Math.max(1, Math.min(50, Math.round(steps / 20))),
    sampleEvery: flags.sampleEvery ?? preset?.sampleEvery ?? steps,
    checkpointEvery: flags.checkpointEvery ?? preset?.checkpointEvery ?? Math.max(1, Math.min(500, Math.round(steps / 5))),
    keepCheckpoints: flags.keep ?? 3,
  };
  const out = resolve(flags.out ?? join('runs', flags.preset ?? (data === 'mnist' ? `mnist${height}` : 'images')));
  return { cfg, out };
}

const CSV_HEADER = 'step,loss,lr,grad_norm,images_per_s,wall_s\n';

export async function trainCommand(flags: TrainFlags, io: Io): Promise<number> {
  // ---- everything that can be wrong with the command line is found here, before any work
  let cfg: RunConfig, out: string, resumed = false;
  if (flags.resume !== undefined) {
    const given = (['data', 'preset', 'conditional', 'steps', 'batchSize', 'lr', 'imageSize', 'seed', 'out', 'gradClip', 'unetChannels'] as const).filter((k) => flags[k] !== undefined);
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
    const arch = cfg.kind === 'image' ? `UNet2DModel ${JSON.stringify(cfg.image!.unet.blockOutChannels)} ${cfg.image!.unet.downBlockTypes!.join('/')}` : `MLP ${cfg.denoiser!.layers}x${cfg.denoiser!.hidden} SiLU`;
    io.stdout(`model: ${arch}; schedule ${cfg.schedule} T=${cfg.T}; prediction ${cfg.prediction}; run folder ${out}\n`);
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
  const [, , kT, kNoise] = trainKeys(cfg.seed);
  let task: Task;
  if (cfg.kind === 'image') {
    const data = loadImageData(cfg);
    task = imageTask(cfg, schedule, data);
    if (!flags.quiet) io.stdout(`data: ${data.n} images ${data.channels}x${data.height}x${data.width}${cfg.image!.conditional ? `, ${data.numClasses} classes, label dropout ${cfg.image!.labelDropout}` : ''}; UNet2DModel ${countParams(state.params)} parameters\n`);
  } else task = twoDTask(cfg, schedule);
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on('SIGINT', onSigint);
  const progress = makeProgress(cfg.steps, state.step, { tty: io.isTTY, write: io.stdout, quiet: flags.quiet });
  const t0 = performance.now();
  let windowStart = performance.now(), windowSteps = 0;
  let window: Tensor[] = [];
  let lastCkpt: string | null = ckptDir;
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
      const { x0, cond } = task.batch(step);
      const t = sampleTimesteps(foldIn(kT, step), cfg.batchSize, schedule.T);
      const noise = T.randomNormal(foldIn(kNoise, step), [cfg.batchSize, ...task.sampleShape]);
      let [loss, grads] = task.lossAndGrad(state.params, x0, t, noise, cond);
      x0.dispose();
      noise.dispose();
      cond?.dispose();
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
        await task.samplePicture(state.ema.params, state.step, out);
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
