// `tapegrad sample`: draw samples from a trained run. 2-D runs: an SVG scatter plot over the data;
// image runs: a PNG grid (class-conditional runs: one row per class, or one class with --class).

import { dirname, extname, join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey, splitKey } from '@tapegrad/tensor';
import { makeSchedule, sample, SAMPLERS, type SamplerName, type StepInfo } from '@tapegrad/ddpm';
import { checkWritableDir, UsageError } from '../fsx.ts';
import { resolveBackend, type BackendChoice } from '../options.ts';
import { openDiffusers, openRun } from '../model2d.ts';
import { existsSync } from 'node:fs';
import { readConfig, type RunConfig } from '../run.ts';
import { denoiserModel, makeDataset, type DatasetName } from '@tapegrad/ddpm';
import { scatterSvg, writeSvg, type ScatterPanel } from '../pictures/svg.ts';
import { writeImageGrid } from '../pictures/png.ts';
import { sampleImages } from '../tasks.ts';
import type { Io } from '../io.ts';

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
  /** Each denoising step op by op instead of compiled (the default). Same results. */
  eager?: boolean;
}

export async function sampleCommand(flags: SampleFlags, io: Io): Promise<number> {
  const backend = resolveBackend(flags.backend, io.env);
  if (flags.steps > 1000) throw new UsageError(`--steps ${flags.steps} is more than the 1000 training timesteps of the schedule; expected 1..1000`);
  const isDiffusers = existsSync(join(flags.checkpoint, 'model_index.json'));
  let cfg: RunConfig | null = null;
  if (!isDiffusers) {
    try { cfg = readConfig(flags.checkpoint); } catch { /* openRun below gives the full message */ }
  }
  const image = isDiffusers || cfg?.kind === 'image';
  if (cfg && !image && (flags.guidance !== undefined || flags.class !== undefined)) {
    throw new UsageError(`--guidance and --class need a class-conditional model; 2-D runs are unconditional`);
  }
  if (cfg?.kind === 'image' && !cfg.image!.conditional && (flags.guidance !== undefined || flags.class !== undefined)) {
    throw new UsageError(`--guidance and --class need a class-conditional model; the run '${flags.checkpoint}' is unconditional`);
  }
  if (cfg?.kind === 'image' && flags.class !== undefined && flags.class >= cfg.image!.numClasses) {
    throw new UsageError(`--class ${flags.class} is not a class of the run; expected 0..${cfg.image!.numClasses - 1}`);
  }
  const ext = image ? '.png' : '.svg';
  const out = flags.out ?? join(flags.checkpoint, `sample-${flags.sampler}-${flags.steps}${flags.trajectory ? '-trajectory' : ''}${ext}`);
  if (extname(out).toLowerCase() !== ext) {
    throw new UsageError(`--out '${out}': ${image ? 'image samples are written as a PNG grid' : '2-D samples are drawn as an SVG scatter plot'}; expected a path ending in ${ext}`);
  }
  try { checkWritableDir(dirname(out), '--out folder'); } catch (e) { throw new UsageError((e as Error).message); }
  await T.setBackend(backend);
  const run = isDiffusers ? await openDiffusers(flags.checkpoint) : { ...(await openRun(flags.checkpoint)), schedule: undefined };
  try {
    if (isDiffusers && run.cfg.image!.conditional === false && (flags.guidance !== undefined || flags.class !== undefined)) {
      throw new UsageError(`--guidance and --class need a class-conditional model; the pipeline '${flags.checkpoint}' has no class embedding`);
    }
    const schedule = run.schedule ?? makeSchedule(run.cfg.schedule, run.cfg.T);
    const key = splitKey(randomKey(flags.seed ?? 0), 2);
    const capture = new Set<number>();
    for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) capture.add(Math.min(flags.steps - 1, Math.round(f * (flags.steps - 1))));
    const frames: { t: number; x: Float32Array; x0: Float32Array }[] = [];
    const onStep = flags.trajectory ? async (s: StepInfo) => {
      if (capture.has(s.index)) frames.push({ t: s.t, x: Float32Array.from(await s.x.data()), x0: Float32Array.from(await s.x0.data()) });
    } : undefined;
    let executor = '';
    const onExecutor = (e: { executor: string; reason: string | null }) => { executor = e.reason ? `${e.executor}: ${e.reason}` : e.executor; };
    const t0 = performance.now();
    if (run.cfg.kind === 'image') {
      const im = run.cfg.image!;
      const guidance = flags.guidance ?? (im.conditional ? 3 : 1);
      const g = await sampleImages(run.cfg, run.ema, schedule, {
        sampler: flags.sampler, steps: flags.steps, guidance, key: key[0]!, classIndex: flags.class, n: flags.n ?? (im.conditional && flags.class === undefined ? undefined : 64),
        perClass: flags.n !== undefined && im.conditional && flags.class === undefined ? Math.max(1, Math.ceil(flags.n / im.numClasses)) : 8, onStep,
        eager: flags.eager, onExecutor,
      });
      const scale = im.height <= 14 ? 4 : 2;
      const plane = im.channels * im.height * im.width;
      if (flags.trajectory) {
        // rows: x_t at each captured step, then the x0 estimates; columns: the first (up to 8) samples
        const k = Math.min(8, g.n);
        const rows = [...frames.map((f) => f.x), g.images, ...frames.map((f) => f.x0)];
        const all = new Float32Array(rows.length * k * plane);
        rows.forEach((r, i) => all.set(r.subarray(0, k * plane), i * k * plane));
        writeImageGrid(out, all, rows.length * k, im.channels, im.height, im.width, { cols: k, scale });
        io.stdout(`trajectory rows: x_t at t = ${frames.map((f) => f.t).join(', ')}; the output; the x0 estimates at the same t\n`);
      } else {
        writeImageGrid(out, g.images, g.n, im.channels, im.height, im.width, { cols: g.cols, scale });
      }
      io.stdout(`sampled ${g.n} images with ${flags.sampler} (${flags.steps} steps${im.conditional ? `, guidance ${guidance}` : ''}) in ${((performance.now() - t0) / 1000).toFixed(1)} s (executor ${executor}); wrote ${out}\n`);
      return 0;
    }
    const n = flags.n ?? 1000;
    const x = await sample(denoiserModel(run.ema, run.cfg.denoiser!), {
      shape: [n, 2], schedule, sampler: flags.sampler, steps: flags.steps, key: key[0]!, prediction: run.cfg.prediction, spacing: 'trailing', onStep,
      eager: flags.eager, onExecutor,
    });
    const pts = await x.data();
    x.dispose();
    const secs = (performance.now() - t0) / 1000;
    const data = makeDataset(run.cfg.data as DatasetName, key[1]!, n);
    const title = `${run.cfg.data}: ${flags.sampler}, ${flags.steps} steps, ${n} samples (EMA weights, step ${run.step})`;
    if (flags.trajectory) {
      const panels: ScatterPanel[] = [
        ...frames.map((f) => ({ title: `x_t, t=${f.t}`, points: f.x, reference: null })),
        { title: 'x_0 (output)', points: pts, reference: data },
        ...frames.map((f) => ({ title: `x0 estimate, t=${f.t}`, points: f.x0, reference: data, color: '#555555' })),
        { title: 'data', points: data, reference: null, color: '#555555' },
      ];
      writeSvg(out, scatterSvg(panels, { cols: frames.length + 1, size: 220, title: `${title}: top x_t, bottom the model's x0 estimate` }));
    } else {
      writeSvg(out, scatterSvg([{ title, points: pts, reference: data }], { cols: 1, size: 480 }));
    }
    io.stdout(`sampled ${n} points with ${flags.sampler} (${flags.steps} steps) in ${secs.toFixed(1)} s (executor ${executor}); wrote ${out}\n`);
    return 0;
  } finally {
    T.dispose(run.ema);
  }
}

export { SAMPLERS };
