// Loading a trained 2-D run for sampling and evaluation.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as T from '@tapegrad/tensor';
import type { Tree } from '@tapegrad/nn';
import { UsageError } from './fsx.ts';
import { disposeState, latestCheckpoint, loadCheckpoint, readConfig, type RunConfig } from './run.ts';

/** Read `--checkpoint RUN`: the config and the EMA params of its latest checkpoint (caller disposes). */
export function openRun(path: string, flag = '--checkpoint'): { cfg: RunConfig; dir: string; ema: Tree; step: number; ckpt: string } {
  const dir = resolve(path);
  if (existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${flag} '${path}' is a diffusers pipeline folder; reading diffusers folders needs importDiffusers, which is not part of this build yet`);
  }
  let cfg: RunConfig;
  try { cfg = readConfig(dir); } catch (e) { throw new UsageError(`${flag}: ${(e as Error).message}`); }
  const ckpt = latestCheckpoint(dir);
  if (!ckpt) throw new UsageError(`${flag} '${path}' has no checkpoint yet (no '${join(dir, 'checkpoints', 'latest')}'); train it first`);
  const state = loadCheckpoint(ckpt, cfg);
  const ema = state.ema.params;
  T.dispose([state.params, state.opt.mu, state.opt.nu]);
  void disposeState;
  return { cfg, dir, ema, step: state.step, ckpt };
}
