// Run folders: the resolved config (config.json) of a `tapegrad train` run.
//
//   runs/NAME/config.json              the resolved configuration (every flag after presets)
//   runs/NAME/metrics.csv              step,loss,lr,grad_norm,images_per_s,wall_s
//   runs/NAME/samples/step-NNNNNN.*    a fixed-seed sample picture from the EMA weights
//   runs/NAME/loss.svg                 the loss curve
//   runs/NAME/checkpoints/...          @tapegrad/ddpm's checkpoints (train / loadTrainedModel):
//                                      step-NNNNNN/{params,ema,optimizer}.safetensors + state.json, latest

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PredictionType, ScheduleKind, UNet2DConfig, DenoiserConfig } from '@tapegrad/ddpm';

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

export const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

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

