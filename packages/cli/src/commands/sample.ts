// `tapegrad sample`: draw samples from a trained run; for 2-D data a scatter plot over the data.

import { extname, join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey, splitKey } from '@tapegrad/tensor';
import { makeSchedule, sample, SAMPLERS, type SamplerName, type StepInfo } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { openRun } from '../model2d.ts';
import { makeDataset } from '../twod/datasets.ts';
import { denoiserModel } from '../twod/denoiser.ts';
import { scatterSvg, writeSvg, type ScatterPanel } from '../pictures/svg.ts';
import type { Io } from '../io.ts';
import { dirname } from 'node:path';

export interface SampleFlags {
  checkpoint: string;
  sampler: SamplerName;
  steps: number;
  guidance?: number;
  class?: number;
  n?: number;
  seed?: number;
  out?: string;
  trajectory?: boolean;
  backend?: BackendChoice;
}

export async function sampleCommand(flags: SampleFlags, io: Io): Promise<number> {
  const backend = resolveBackend(flags.backend, io.env);
  if (flags.sampler === 'ddpm' && flags.steps > 1000) throw new UsageError(`--steps ${flags.steps} is more than the ${1000} training timesteps of the schedule`);
  if (flags.steps > 1000) throw new UsageError(`--steps ${flags.steps} is more than the 1000 training timesteps of the schedule; expected 1..1000`);
  if (flags.guidance !== undefined || flags.class !== undefined) {
    throw new UsageError(`--guidance and --class need a class-conditional model; 2-D runs are unconditional`);
  }
  const out = flags.out ?? join(flags.checkpoint, `sample-${flags.sampler}-${flags.steps}${flags.trajectory ? '-trajectory' : ''}.svg`);
  if (extname(out).toLowerCase() !== '.svg') throw new UsageError(`--out '${out}': 2-D samples are drawn as an SVG scatter plot; expected a path ending in .svg`);
  try { checkWritableDir(dirname(out), '--out folder'); } catch (e) { throw new UsageError((e as Error).message); }
  await T.setBackend(backend);
  const run = openRun(flags.checkpoint);
  try {
    const n = flags.n ?? 1000;
    const schedule = makeSchedule(run.cfg.schedule, run.cfg.T);
    const key = splitKey(randomKey(flags.seed ?? 0), 2);
    const capture = new Set<number>();
    for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) capture.add(Math.min(flags.steps - 1, Math.round(f * (flags.steps - 1))));
    const frames: { t: number; x: ArrayLike<number>; x0: ArrayLike<number> }[] = [];
    const onStep = flags.trajectory ? async (s: StepInfo) => {
      if (capture.has(s.index)) frames.push({ t: s.t, x: await s.x.data(), x0: await s.x0.data() });
    } : undefined;
    const t0 = performance.now();
    const x = await sample(denoiserModel(run.ema, run.cfg.denoiser), {
      shape: [n, 2], schedule, sampler: flags.sampler, steps: flags.steps, key: key[0]!, prediction: run.cfg.prediction, spacing: 'trailing', onStep,
    });
    const pts = await x.data();
    x.dispose();
    const secs = (performance.now() - t0) / 1000;
    const data = makeDataset(run.cfg.data, key[1]!, n);
    const title = `${run.cfg.data}: ${flags.sampler}, ${flags.steps} steps, ${n} samples (EMA weights, step ${run.step})`;
    let panels: ScatterPanel[];
    if (flags.trajectory) {
      panels = [
        ...frames.map((f) => ({ title: `x_t, t=${f.t}`, points: f.x, reference: null })),
        { title: 'x_0 (output)', points: pts, reference: data },
        ...frames.map((f) => ({ title: `x0 estimate, t=${f.t}`, points: f.x0, reference: data, color: '#555555' })),
        { title: 'data', points: data, reference: null, color: '#555555' },
      ];
      writeSvg(out, scatterSvg(panels, { cols: frames.length + 1, size: 220, title: `${title}: top x_t, bottom the model's x0 estimate` }));
    } else {
      writeSvg(out, scatterSvg([{ title, points: pts, reference: data }], { cols: 1, size: 480 }));
    }
    io.stdout(`sampled ${n} points with ${flags.sampler} (${flags.steps} steps) in ${secs.toFixed(1)} s; wrote ${out}\n`);
    return 0;
  } finally {
    T.dispose(run.ema);
  }
}

export { SAMPLERS };
