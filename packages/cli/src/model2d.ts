// Loading a trained 2-D run for sampling and evaluation.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import type { Tree } from '@tapegrad/nn';
import { importDiffusers, latestCheckpoint, loadTrainedModel, type PredictionType, type Schedule } from '@tapegrad/ddpm';
import { UsageError } from './fsx.ts';
import { readConfig, type RunConfig } from './run.ts';
import { denoiserOf } from './tasks.ts';

/** Read `--checkpoint RUN`: the config and the EMA params of its latest checkpoint (library loadTrainedModel; caller disposes). */
export async function openRun(path: string, flag = '--checkpoint'): Promise<{ cfg: RunConfig; dir: string; ema: Tree; step: number; ckpt: string }> {
  const dir = resolve(path);
  if (existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${flag} '${path}' is a diffusers pipeline folder; reading diffusers folders needs importDiffusers, which is not part of this build yet`);
  }
  let cfg: RunConfig;
  try { cfg = readConfig(dir); } catch (e) { throw new UsageError(`${flag}: ${(e as Error).message}`); }
  if (!(await latestCheckpoint(dir))) throw new UsageError(`${flag} '${path}' has no checkpoint yet (no '${join(dir, 'checkpoints', 'latest')}'); train it first`);
  const m = await loadTrainedModel(dir, denoiserOf(cfg));
  if (!m.ema) {
    T.dispose(m.params);
    throw new Error(`${flag} '${path}': checkpoint ${m.dir} has no EMA weights; expected a checkpoint written by 'tapegrad train'`);
  }
  T.dispose(m.params);
  return { cfg, dir, ema: m.ema, step: m.state.step, ckpt: m.dir };
}

/**
 * A diffusers pipeline folder (or one written by `tapegrad export`) as an image run for sampling:
 * importDiffusers gives the UNet config, the weights and the scheduler's schedule.
 */
export async function openDiffusers(path: string): Promise<{ cfg: RunConfig; ema: Tree; schedule: Schedule; step: number; ckpt: string }> {
  const imp = await importDiffusers(resolve(path));
  const c = imp.config;
  if (!imp.schedule) {
    T.dispose(imp.params);
    throw new Error(`--checkpoint '${path}' has no scheduler/scheduler_config.json; expected a DDPMPipeline folder`);
  }
  const size = Array.isArray(c.sampleSize) ? c.sampleSize : [c.sampleSize as number, c.sampleSize as number];
  if (!(size[0]! > 0) || !(size[1]! > 0)) {
    T.dispose(imp.params);
    throw new Error(`--checkpoint '${path}': unet/config.json has no sample_size; the image size is unknown`);
  }
  const numClasses = c.numClassEmbeds !== null ? c.numClassEmbeds - 1 : 0;
  const cfg: RunConfig = {
    version: 1, kind: 'image', data: path, preset: null, steps: 0, batchSize: 1, lr: 0, weightDecay: 0, emaDecay: 0, gradClip: 0, seed: 0,
    backend: 'webasm', prediction: (imp.sampling?.prediction ?? 'epsilon') as PredictionType, schedule: 'linear', T: imp.schedule.T,
    logEvery: 1, sampleEvery: 0, checkpointEvery: 1, keepCheckpoints: 1,
    image: {
      source: path, channels: c.inChannels, height: size[0]!, width: size[1]!, numClasses, conditional: c.numClassEmbeds !== null,
      labelDropout: 0, unet: c, sampleGuidance: c.numClassEmbeds !== null ? 3 : 1,
    },
  };
  return { cfg, ema: imp.params, schedule: imp.schedule, step: 0, ckpt: resolve(path) };
}
