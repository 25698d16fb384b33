// `tapegrad export --format diffusers`: an image run's EMA weights as a diffusers DDPMPipeline
// folder (exportDiffusers: model_index.json, unet/config.json + safetensors, scheduler config).

import * as T from '@tapegrad/tensor';
import { exportDiffusers, makeSchedule } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { openRun } from '../model2d.ts';
import { readConfig } from '../run.ts';
import type { Io } from '../io.ts';

export interface ExportFlags { checkpoint: string; format: 'diffusers'; out: string; backend?: BackendChoice }

export async function exportCommand(flags: ExportFlags, io: Io): Promise<number> {
  const backend = resolveBackend(flags.backend, io.env);
  let kind: string | undefined;
  try { kind = readConfig(flags.checkpoint).kind; } catch (e) { throw new UsageError(`--checkpoint: ${(e as Error).message}`); }
  if (kind !== 'image') throw new UsageError(`--checkpoint '${flags.checkpoint}' is a 2-D run (an MLP); --format diffusers exports image runs (UNet2DModel)`);
  try { checkWritableDir(flags.out, '--out folder'); } catch (e) { throw new UsageError((e as Error).message); }
  await T.setBackend(backend);
  const run = await openRun(flags.checkpoint);
  try {
    const schedule = makeSchedule(run.cfg.schedule, run.cfg.T);
    await exportDiffusers(flags.out, { config: run.cfg.image!.unet, params: run.ema, schedule });
    io.stdout(`exported the EMA weights of ${run.ckpt} (step ${run.step}) as a diffusers DDPMPipeline folder: ${flags.out}\n`);
    return 0;
  } finally {
    T.dispose(run.ema);
  }
}
