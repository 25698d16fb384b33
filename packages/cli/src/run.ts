// Run folders: the resolved config (config.json), the 2-D model's state, and checkpoints.
//
//   runs/NAME/config.json              the resolved configuration (every flag after presets)
//   runs/NAME/metrics.csv              step,loss,lr,grad_norm,images_per_s,wall_s
//   runs/NAME/samples/step-NNNNNN.*    a fixed-seed sample picture from the EMA weights
//   runs/NAME/loss.svg                 the loss curve
//   runs/NAME/checkpoints/step-NNNNNN/{state.safetensors,state.json}, checkpoints/latest
//
// A checkpoint holds params, EMA params and the AdamW moments (safetensors, float32) and a JSON
// file with the step, the optimizer and EMA update counts and the losses so far. It is written
// into a temporary folder (files fsync'ed) that is then renamed into place, so a crash leaves
// either the old or the new checkpoint, never half of one; `latest` is rewritten atomically after.

import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey, splitKey } from '@tapegrad/tensor';
import { adamw, ema, parseSafetensors, serializeSafetensors, treeToEntries, entriesToTree, warmupCosineDecay, type AdamState, type Tree } from '@tapegrad/nn';
import { unet2d, type PredictionType, type ScheduleKind, type UNet2DConfig } from '@tapegrad/ddpm';
import { ensureDir, writeFileAtomic } from './fsx.ts';
import { initDenoiser, type DenoiserConfig } from '@tapegrad/ddpm';

/** The image part of a run's config (kind 'image'). */
export interface ImageRunConfig {
  /** 'mnist' or the absolute path of a PNG folder. */
  source: string;
  channels: number;
  height: number;
  width: number;
  /** 10 for MNIST, 0 for an unlabelled folder. */
  numClasses: number;
  conditional: boolean;
  /** Probability of replacing a label by the null class (index numClasses) in training. */
  labelDropout: number;
  /** diffusers UNet2DModel config (camelCase keys). */
  unet: UNet2DConfig;
  /** Guidance scale of the sample grids written during training. */
  sampleGuidance: number;
}

export interface RunConfig {
  version: 1;
  kind: '2d' | 'image';
  /** The --data value: a 2-D set name, 'mnist' or a folder. */
  data: string;
  image?: ImageRunConfig;
  preset: string | null;
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  emaDecay: number;
  /** Max global gradient norm (0: no clipping). */
  gradClip: number;
  seed: number;
  backend: string;
  prediction: PredictionType;
  schedule: ScheduleKind;
  T: number;
  denoiser?: DenoiserConfig;
  /** Read the loss back (and write a metrics.csv row) every this many steps. */
  logEvery: number;
  sampleEvery: number;
  checkpointEvery: number;
  keepCheckpoints: number;
}

export interface TrainState {
  params: Tree;
  ema: { step: number; params: Tree };
  opt: AdamState;
  /** Optimizer steps done. */
  step: number;
  losses: { step: number; loss: number }[];
}

/** Linear warm-up over the first 5% of the steps, then cosine decay to 1% of the peak (as the demo). */
export function lrScheduleFor(cfg: RunConfig) {
  const warmupSteps = Math.min(cfg.steps - 1, Math.max(1, Math.round(cfg.steps * 0.05)));
  return warmupCosineDecay({ peak: cfg.lr, warmupSteps, decaySteps: cfg.steps, end: cfg.lr * 0.01 });
}

export function optimizerFor(cfg: RunConfig) {
  return adamw({ learningRate: lrScheduleFor(cfg), weightDecay: cfg.weightDecay });
}

export function emaFor(cfg: RunConfig) {
  return ema({ decay: cfg.emaDecay, warmup: { invGamma: 1, power: 2 / 3 } });
}

/** The keys of a run: [init, data, t, noise] exactly as the two-moons demo derived them. */
export function trainKeys(seed: number) {
  return splitKey(randomKey(seed), 4) as [T.RandomKey, T.RandomKey, T.RandomKey, T.RandomKey];
}

/** A fresh state at step 0. */
export function initState(cfg: RunConfig): TrainState {
  const [kInit] = trainKeys(cfg.seed);
  const params: Tree = cfg.kind === 'image' ? unet2d.init(kInit, cfg.image!.unet) : initDenoiser(kInit, cfg.denoiser!);
  const opt = optimizerFor(cfg).init(params);
  const e = emaFor(cfg).init(params);
  return { params, ema: e, opt, step: 0, losses: [] };
}

export const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** Write a checkpoint of `state` under run/checkpoints/step-NNNNNN and point `latest` at it; keep the last `keep`. */
export async function saveCheckpoint(runDir: string, state: TrainState, keep: number): Promise<string> {
  const dir = ensureDir(join(runDir, 'checkpoints'));
  const name = stepName(state.step);
  const final = join(dir, name);
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  ensureDir(tmp);
  const entries = await treeToEntries({ params: state.params, ema: state.ema.params, mu: state.opt.mu, nu: state.opt.nu }, join(final, 'state.safetensors'));
  writeFileAtomic(join(tmp, 'state.safetensors'), serializeSafetensors(entries, { format: `tapegrad-${state.params && 'conv_in' in state.params ? 'image' : '2d'}-checkpoint` }));
  writeFileAtomic(join(tmp, 'state.json'), JSON.stringify({ step: state.step, optStep: state.opt.step, emaStep: state.ema.step, losses: state.losses }, null, 1) + '\n');
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeFileAtomic(join(dir, 'latest'), name + '\n');
  const all = readdirSync(dir).filter((n) => /^step-\d{6,}$/.test(n)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) if (old !== name) rmSync(join(dir, old), { recursive: true, force: true });
  return final;
}

export function readConfig(runDir: string): RunConfig {
  const file = join(runDir, 'config.json');
  if (!existsSync(file)) throw new Error(`'${runDir}' is not a run folder: '${file}' does not exist; expected a folder written by 'tapegrad train'`);
  let cfg: RunConfig;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as RunConfig;
  } catch (e) {
    throw new Error(`'${file}' is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (cfg.version !== 1 || (cfg.kind !== '2d' && cfg.kind !== 'image')) throw new Error(`'${file}' has version ${String(cfg.version)} kind ${String(cfg.kind)}; this tapegrad reads version 1, kind '2d' or 'image'`);
  return cfg;
}

/** The folder of the latest checkpoint of a run, or null when it has none. */
export function latestCheckpoint(runDir: string): string | null {
  const p = join(runDir, 'checkpoints', 'latest');
  if (!existsSync(p)) return null;
  const name = readFileSync(p, 'utf8').trim();
  const dir = join(runDir, 'checkpoints', name);
  if (!/^step-\d{6,}$/.test(name) || !existsSync(join(dir, 'state.json'))) {
    throw new Error(`'${p}' points at '${name}', which is not a complete checkpoint folder`);
  }
  return dir;
}

/** Load a checkpoint written by saveCheckpoint (shapes checked against the config's model). */
export function loadCheckpoint(dir: string, cfg: RunConfig): TrainState {
  const fj = join(dir, 'state.json');
  const fs = join(dir, 'state.safetensors');
  let meta: { step: number; optStep: number; emaStep: number; losses: { step: number; loss: number }[] };
  try {
    meta = JSON.parse(readFileSync(fj, 'utf8'));
  } catch (e) {
    throw new Error(`checkpoint '${fj}' cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Number.isInteger(meta.step) || meta.step < 0) throw new Error(`checkpoint '${fj}': step ${String(meta.step)} is not a non-negative integer`);
  const template = initState(cfg);
  try {
    const parsed = parseSafetensors(readFileSync(fs), fs);
    const tree = entriesToTree(parsed.tensors, { params: template.params, ema: template.ema.params, mu: template.opt.mu, nu: template.opt.nu }, {}, fs);
    return { params: tree.params, ema: { step: meta.emaStep, params: tree.ema }, opt: { step: meta.optStep, mu: tree.mu, nu: tree.nu }, step: meta.step, losses: meta.losses ?? [] };
  } finally {
    disposeState(template);
  }
}

export function disposeState(s: TrainState): void {
  T.dispose([s.params, s.ema.params, s.opt.mu, s.opt.nu]);
}
