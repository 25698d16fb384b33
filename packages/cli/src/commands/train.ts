// `tapegrad train`: validate everything, then train with checkpoints, metrics and pictures.

import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import { globalNorm, type Tree } from '@tapegrad/nn';
import { DATASETS, latestCheckpoint, makeSchedule, readCheckpointState, train, TrainDivergedError, unet2d, type UNet2DConfig } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError, writeFileAtomic } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { PRESETS, PRESET_NAMES } from '../presets.ts';
import { makeProgress } from '../progress.ts';
import { readConfig, type RunConfig } from '../run.ts';
import { lossCurveSvg, writeSvg } from '../pictures/svg.ts';
import { loadPngFolder } from '../data/png-folder.ts';
import { libraryTrainConfig, samplePictureFor } from '../tasks.ts';
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
  /** Run every update eagerly (op by op) instead of compiled (the default). Same results. */
  eager?: boolean;
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
  const ckptDir = resumed ? await latestCheckpoint(out) : null;
  let startStep = 0;
  if (ckptDir) {
    startStep = (await readCheckpointState(ckptDir)).step;
    io.stdout(`resuming ${out} from ${ckptDir} (step ${startStep} of ${cfg.steps})\n`);
  } else if (resumed) io.stdout(`resuming ${out}: no checkpoint yet, starting at step 0\n`);
  writeFileAtomic(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const metricsPath = join(out, 'metrics.csv');
  const losses: { step: number; loss: number }[] = [];
  if (!resumed || !existsSync(metricsPath)) writeFileAtomic(metricsPath, CSV_HEADER);
  else {
    // rows written after the checkpoint belong to the lost part of the run: drop them
    const rows = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.length > 0).slice(1).filter((r) => Number(r.split(',')[0]) <= startStep);
    for (const r of rows) losses.push({ step: Number(r.split(',')[0]), loss: Number(r.split(',')[1]) });
    writeFileAtomic(metricsPath, [CSV_HEADER.trimEnd(), ...rows].join('\n') + '\n');
  }
  if (!flags.quiet) {
    io.stdout(`tapegrad train: ${cfg.data}, backend ${backend}, ${cfg.steps} steps x batch ${cfg.batchSize}, AdamW lr ${cfg.lr} (warm-up + cosine), EMA ${cfg.emaDecay}\n`);
    const arch = cfg.kind === 'image' ? `UNet2DModel ${JSON.stringify(cfg.image!.unet.blockOutChannels)} ${cfg.image!.unet.downBlockTypes!.join('/')}` : `MLP ${cfg.denoiser!.layers}x${cfg.denoiser!.hidden} SiLU`;
    io.stdout(`model: ${arch}; schedule ${cfg.schedule} T=${cfg.T}; prediction ${cfg.prediction}; run folder ${out}\n`);
  }
  if (startStep >= cfg.steps) {
    io.stdout(`the run is complete (step ${startStep} of ${cfg.steps}); nothing to do\n`);
    return 0;
  }

  // ---- train: the library loop (@tapegrad/ddpm train); the CLI adds metrics.csv, pictures, the progress bar and Ctrl-C
  const schedule = makeSchedule(cfg.schedule, cfg.T);
  const libConfig = libraryTrainConfig(cfg);
  if (cfg.kind === 'image' && !flags.quiet) {
    const d = libConfig.data;
    const n = unet2d.paramSpec(cfg.image!.unet).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    io.stdout(`data: ${d.size} images ${d.shape.join('x')}${cfg.image!.conditional ? `, ${d.numClasses} classes, label dropout ${cfg.image!.labelDropout}` : ''}; UNet2DModel ${n} parameters\n`);
  }
  const picture = samplePictureFor(cfg, schedule);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  const progress = makeProgress(cfg.steps, startStep, { tty: io.isTTY, write: io.stdout, quiet: flags.quiet });
  const t0 = performance.now();
  let windowSum = 0, windowLen = 0, lastIps = 0;
  const checkEvery = (step: number, every: number) => every > 0 && (step % every === 0 || step === cfg.steps);
  let result: Awaited<ReturnType<typeof train>>;
  let startedCompiled = false;
  try {
    result = await train(libConfig, {
      runDir: out,
      resume: ckptDir ? ckptDir : false,
      signal: abort.signal,
      eager: flags.eager ?? false,
      onExecutor: (e) => {
        // at start (unless --quiet), and always when a compiled run falls back
        const line = e.executor === 'compiled'
          ? 'executor: compiled (each update is traced once by @tapegrad/compile and replayed; --eager runs it op by op)'
          : `executor: eager (${e.reason})`;
        if (e.step > startStep + 1 || e.executor === 'eager' && startedCompiled) io.stdout(`\n${line}, from step ${e.step}\n`);
        else if (!flags.quiet) io.stdout(`${line}\n`);
        startedCompiled ||= e.executor === 'compiled';
      },
      onStep: (m) => {
        windowSum += m.loss;
        windowLen++;
        if (!checkEvery(m.step, cfg.logEvery)) return;
        const mean = windowSum / windowLen;
        windowSum = 0; windowLen = 0;
        losses.push({ step: m.step, loss: mean });
        appendFileSync(metricsPath, `${m.step},${mean},${m.lr},${m.gradNorm},${m.imagesPerSec.toFixed(1)},${m.wallSeconds.toFixed(3)}\n`);
        lastIps = m.imagesPerSec;
        progress.update(m.step, { loss: mean, imagesPerSecond: m.imagesPerSec });
      },
      onUpdate: async (u) => {
        progress.update(u.step, { imagesPerSecond: lastIps }); // the terminal bar moves every step
        if (checkEvery(u.step, cfg.sampleEvery)) await picture(u.emaParams as Tree, u.step, out);
        if (checkEvery(u.step, cfg.checkpointEvery)) {
          // the loss read back was computed before this step's update: check the updated weights
          // too, so that a checkpoint is only written when it is usable
          const norms = [globalNorm(u.params as Tree), globalNorm(u.emaParams as Tree)];
          const [pn, en] = [(await norms[0]!.data())[0]!, (await norms[1]!.data())[0]!];
          T.dispose(norms);
          if (!Number.isFinite(pn) || !Number.isFinite(en)) throw new NonFiniteWeights(u.step, pn, en);
        }
        // the tensor work is synchronous: give the event loop a turn so a pending SIGINT handler runs
        await new Promise<void>((r) => setImmediate(r));
      },
      onCheckpoint: () => {
        writeSvg(join(out, 'loss.svg'), lossCurveSvg(losses, { title: `training loss (${cfg.data}, mean over ${cfg.logEvery} steps)` }));
      },
    });
  } catch (e) {
    progress.stop();
    if (!(e instanceof TrainDivergedError) && !(e instanceof NonFiniteWeights)) throw e;
    const last = await latestCheckpoint(out);
    const keep = last ? `the last good checkpoint ${last} is left intact (resume with: tapegrad train --resume ${out})` : 'no checkpoint had been written yet';
    const what = e instanceof NonFiniteWeights
      ? `the weights became non-finite (norm ${e.norm}, EMA norm ${e.emaNorm}) at step ${e.step}`
      : `the loss became ${String(e.message.match(/the loss became (\S+) at/)?.[1] ?? 'non-finite')} at step ${e.step}`;
    io.stderr(`train: ${what}; stopped, ${keep}. Lower --lr or pass --grad-clip\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
  T.dispose([result.params, result.emaParams]);
  progress.stop();
  if (result.status === 'aborted') {
    io.stderr(`\ninterrupted at step ${result.step}: wrote ${result.checkpoint}; continue with: tapegrad train --resume ${out}\n`);
    return 130;
  }
  const secs = (performance.now() - t0) / 1000;
  io.stdout(`${flags.quiet ? '' : '\n'}trained to step ${result.step} in ${secs.toFixed(1)} s; final loss ${losses.at(-1)?.loss.toFixed(4)}; checkpoint ${result.checkpoint}\n`);
  return 0;
}

/** Weights that are no longer finite after an update: caught before that step's checkpoint. */
class NonFiniteWeights extends Error {
  constructor(readonly step: number, readonly norm: number, readonly emaNorm: number) {
    super(`train: the weights became non-finite at step ${step}`);
  }
}

function checkWritableDirAsUsage(dir: string, flag: string): void {
  try {
    checkWritableDir(dir, `${flag} folder`);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
