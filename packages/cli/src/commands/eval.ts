// `tapegrad eval`: for a 2-D run, MMD (RBF) and energy distance of each sampler's samples against
// fresh data, beside the data-vs-data floor and an untrained model of the same architecture.
// The keys are the two-moons demo's, so the quick preset reproduces its numbers.

import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey, splitKey } from '@tapegrad/tensor';
import { makeSchedule, sample, SAMPLERS, type SamplerName } from '@tapegrad/ddpm';
import { writeFileAtomic } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { openRun } from '../model2d.ts';
import { denoiserModel, energyDistance, initDenoiser, makeDataset, mmdRbf, type DatasetName } from '@tapegrad/ddpm';
import { scatterSvg, writeSvg, type ScatterPanel } from '../pictures/svg.ts';
import type { Io } from '../io.ts';
import { checkImageEvalFlags, evalImageRun, type ImageEvalFlags } from './eval-images.ts';
import { readConfig } from '../run.ts';

export interface EvalFlags extends ImageEvalFlags {
  checkpoint: string;
  n?: number;
  bandwidth?: number[];
  samplers?: SamplerName[];
  backend?: BackendChoice;
}

export const EVAL_STEPS: Record<SamplerName, number> = { ddpm: 200, ddim: 50, 'dpmsolver++': 20, euler: 50 };

export async function evalCommand(flags: EvalFlags, io: Io): Promise<number> {
  const backend = resolveBackend(flags.backend, io.env);
  let cfg0;
  try { cfg0 = readConfig(flags.checkpoint); } catch { /* openRun below reports it */ }
  if (cfg0) checkImageEvalFlags(cfg0, flags, flags.checkpoint);
  await T.setBackend(backend);
  const run = await openRun(flags.checkpoint);
  if (run.cfg.kind === 'image') {
    try {
      return await evalImageRun(run, flags, io, backend);
    } finally {
      T.dispose(run.ema);
    }
  }
  try {
    const n = flags.n ?? 1000;
    const bw = flags.bandwidth ?? [0.5, 0.2];
    const samplers = flags.samplers ?? [...SAMPLERS];
    const schedule = makeSchedule(run.cfg.schedule, run.cfg.T);
    const [kSample, kData, kFloor, kUntrained] = splitKey(randomKey(run.cfg.seed + 1_000_003), 4);
    const fresh = makeDataset(run.cfg.data as DatasetName, kData!, n);
    const other = makeDataset(run.cfg.data as DatasetName, kFloor!, n);
    const score = (pts: ArrayLike<number>) => ({ mmd: bw.map((h) => mmdRbf(pts, fresh, h)), energy: energyDistance(pts, fresh) });
    const floor = score(other);
    const keys = splitKey(kSample!, SAMPLERS.length);
    const results: { sampler: SamplerName; steps: number; seconds: number; mmd: number[]; energy: number }[] = [];
    const panels: ScatterPanel[] = [{ title: `data (fresh, n=${n})`, points: fresh, reference: null, color: '#555555' }];
    for (const s of samplers) {
      const t0 = performance.now();
      const x = await sample(denoiserModel(run.ema, run.cfg.denoiser!), {
        shape: [n, 2], schedule, sampler: s, steps: EVAL_STEPS[s], key: keys[SAMPLERS.indexOf(s)]!, prediction: run.cfg.prediction, spacing: 'trailing',
        eager: flags.eager,
      });
      const pts = await x.data();
      x.dispose();
      const seconds = (performance.now() - t0) / 1000;
      results.push({ sampler: s, steps: EVAL_STEPS[s], seconds, ...score(pts) });
      panels.push({ title: `${s}, ${EVAL_STEPS[s]} steps, MMD ${results.at(-1)!.mmd.map((v) => v.toFixed(4)).join(' | ')}`, points: pts, reference: fresh, color: '#1f77b4' });
    }
    const base: SamplerName = samplers.includes('ddim') ? 'ddim' : samplers[0]!;
    const up = initDenoiser(kUntrained!, run.cfg.denoiser!);
    let untrained;
    try {
      const ux = await sample(denoiserModel(up, run.cfg.denoiser!), {
        shape: [n, 2], schedule, sampler: base, steps: EVAL_STEPS[base], key: kSample!, prediction: run.cfg.prediction, spacing: 'trailing',
        eager: flags.eager,
      });
      const upts = await ux.data();
      ux.dispose();
      untrained = { sampler: base, ...score(upts) };
      panels.push({ title: `untrained model (${base}), MMD ${untrained.mmd.map((v) => v.toFixed(4)).join(' | ')}`, points: upts, reference: fresh, color: '#d62728' });
    } finally {
      T.dispose(up);
    }
    const report = {
      run: run.dir, checkpoint: run.ckpt, step: run.step, data: run.cfg.data, backend, n,
      metric: { mmd: `RBF kernel exp(-|x-y|^2 / 2h^2), biased (V-statistic) estimate, h = ${bw.join(', ')}`, energy: 'sqrt(2E|X-Y| - E|X-X\'| - E|Y-Y\'|), V-statistic' },
      bandwidths: bw, floor, samplers: results, untrained,
    };
    writeFileAtomic(join(run.dir, 'eval.json'), JSON.stringify(report, null, 2) + '\n');
    writeSvg(join(run.dir, 'eval-samples.svg'), scatterSvg(panels, { cols: 3, title: `${run.cfg.data}, step ${run.step}: samples over fresh data (MMD at h = ${bw.join(' | ')})` }));
    const row = (name: string, m: number[], e: number, extra = '') => io.stdout(`  ${name.padEnd(26)} ${m.map((v, i) => `MMD h=${bw[i]}: ${v.toFixed(4)}`).join('  ')}  energy ${e.toFixed(4)}${extra}\n`);
    io.stdout(`eval of ${run.ckpt} (${n} samples vs ${n} fresh data points):\n`);
    row('data vs data (floor)', floor.mmd, floor.energy);
    for (const r of results) row(`${r.sampler}, ${r.steps} steps`, r.mmd, r.energy, `  (${r.seconds.toFixed(1)} s)`);
    row(`untrained model (${base})`, untrained.mmd, untrained.energy);
    io.stdout(`wrote ${join(run.dir, 'eval.json')} and ${join(run.dir, 'eval-samples.svg')}\n`);
    return 0;
  } finally {
    T.dispose(run.ema);
  }
}
