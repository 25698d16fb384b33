// Bits/dim of a data set under the model's variational bound (improved-diffusion calc_bpd_loop,
// averaged over examples), batch by batch.

import { opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import { foldIn, type RandomKey } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import type { PredictionType } from '../process/forward.ts';
import { priorBpd, variationalBound, vbTermBpd } from '../process/vlb.ts';
import { checkPrediction, predictionToX0Eps, qSample } from '../process/forward.ts';
import { timestepTensor } from '../process/coef.ts';
import { clipX0 } from '../sampling/guidance.ts';
import { callModel } from '../models/model.ts';
import { hostUniform } from '../data/toy2d.ts';

import type { Model } from '../models/model.ts';
import type { DataSource } from '../train/data.ts';

export interface BitsPerDimOptions {
  schedule: Schedule;
  key: RandomKey;
  /** Examples per model call. Default 64. */
  batchSize?: number;
  /** Evaluate the first `limit` examples of the source (default: all). */
  limit?: number;
  prediction?: PredictionType | 'v';
  variance?: DdpmVarianceType;
  /** Clip the x0 estimate to [-1, 1] (data in [-1, 1]). Default true. */
  clip?: boolean;
  /**
   * What a class-conditional model gets as its condition: 'data' (the examples' labels: the
   * class-conditional likelihood) or a number (e.g. the null class: the unconditional one).
   * Default: nothing (an unconditional model).
   */
  labels?: 'data' | number;
  /**
   * Timesteps evaluated per batch. Default (or T): all of them, the exact bound of
   * variationalBound (T model calls per batch). K < T: an unbiased stratified estimate of the
   * same sum in K model calls: the decoder term at t = 0 exactly, and 1..T-1 cut into K - 1
   * contiguous strata of (nearly) equal size, one uniformly drawn t per stratum and batch whose
   * term is weighted by the stratum's size. x_t at each t uses the noise variationalBound uses.
   */
  timesteps?: number;
}

/**
 * The strata of the stratified bound: K - 1 contiguous ranges [lo, hi) covering 1..T-1 with
 * sizes differing by at most one (exported for the tests).
 */
export function boundStrata(T: number, K: number): { lo: number; hi: number }[] {
  const m = K - 1, span = T - 1;
  return Array.from({ length: m }, (_, k) => ({ lo: 1 + Math.floor((k * span) / m), hi: 1 + Math.floor(((k + 1) * span) / m) }));
}

/** Stratified estimate of variationalBound's total (see BitsPerDimOptions.timesteps); [B] bits/dim. */
function stratifiedBound(model: Model, x0: T.Tensor, K: number, opts: BitsPerDimOptions & { key: RandomKey }, cond: T.Tensor | undefined): T.Tensor {
  const fn = 'bitsPerDim';
  const { schedule } = opts;
  const prediction = checkPrediction(fn, opts.prediction ?? 'epsilon');
  const B = x0.shape[0]!;
  const strata = boundStrata(schedule.T, K);
  const u = hostUniform(foldIn(opts.key, schedule.T), strata.length);
  const picks: { t: number; w: number }[] = [{ t: 0, w: 1 }, ...strata.map((s, k) => ({ t: s.lo + Math.min(s.hi - s.lo - 1, Math.floor(u[k]! * (s.hi - s.lo))), w: s.hi - s.lo }))];
  return T.tidy(() => {
    let total = priorBpd(schedule, x0);
    for (const { t, w } of picks) {
      const noise = T.useBackend(x0.backend, () => T.randomNormal(foldIn(opts.key, t), x0.shape));
      const xt = qSample(schedule, x0, t, noise);
      const out = callModel(fn, model, xt, timestepTensor(t, B, x0), cond);
      let { x0: x0Hat } = predictionToX0Eps(prediction, xt, out, schedule.alphasCumprod[t]!);
      if (opts.clip ?? true) x0Hat = clipX0(x0Hat, 1);
      total = T.add(total, T.mul(vbTermBpd(schedule, { x0, xt, t, x0Hat, variance: opts.variance }), w));
    }
    return total;
  });
}

/**
 * Mean bits/dim over the examples of `data` (each example's bound: sum over t of the KL terms,
 * the decoder NLL and the prior, T model calls per batch, or `timesteps` calls for the stratified
 * estimate), with its standard error. Reads each
 * batch's totals back; a non-finite bound is an error naming the batch.
 */
export async function bitsPerDim(model: Model, data: DataSource, opts: BitsPerDimOptions): Promise<{ bitsPerDim: number; stdErr: number; n: number; perExample: Float64Array }> {
  const fn = 'bitsPerDim';
  const bs = opts.batchSize ?? 64;
  if (!Number.isInteger(bs) || bs < 1) throw opError(fn, `batchSize must be an integer >= 1, got ${bs}`);
  const n = opts.limit ?? data.size;
  if (!Number.isInteger(n) || n < 1 || n > data.size) throw opError(fn, `limit must be an integer in [1, ${data.size}], got ${n}`);
  if (opts.labels !== undefined && opts.labels !== 'data' && !(Number.isInteger(opts.labels) && opts.labels >= 0)) {
    throw opError(fn, `labels must be 'data' or a class index >= 0, got ${JSON.stringify(opts.labels)}`);
  }
  const K = opts.timesteps ?? opts.schedule.T;
  if (!Number.isInteger(K) || K < Math.min(2, opts.schedule.T) || K > opts.schedule.T) {
    throw opError(fn, `timesteps must be an integer in [${Math.min(2, opts.schedule.T)}, ${opts.schedule.T}] (the decoder term plus at least one stratum, at most T), got ${K}`);
  }
  if (opts.labels === 'data' && data.numClasses === undefined) throw opError(fn, "labels: 'data' needs a data source with classes (numClasses)");
  const out = new Float64Array(n);
  for (let start = 0, b = 0; start < n; start += bs, b++) {
    const m = Math.min(bs, n - start);
    const batch = data.get(Int32Array.from({ length: m }, (_, i) => start + i));
    const x0 = T.tensor(batch.x, [m, ...data.shape]);
    const cond = opts.labels === undefined ? undefined
      : T.tensor(opts.labels === 'data' ? Float32Array.from(batch.labels!) : new Float32Array(m).fill(opts.labels), [m]);
    let total: T.Tensor | null = null;
    try {
      if (K === opts.schedule.T) {
        const r = variationalBound(model, x0, { schedule: opts.schedule, key: foldIn(opts.key, b), prediction: opts.prediction, variance: opts.variance, clip: opts.clip, cond });
        total = r.total;
        r.prior.dispose(); r.terms.dispose();
      } else {
        total = stratifiedBound(model, x0, K, { ...opts, key: foldIn(opts.key, b) }, cond);
      }
      const v = await total.data();
      for (let i = 0; i < m; i++) {
        if (!Number.isFinite(v[i]!)) throw opError(fn, `the bound of example ${start + i} (batch ${b}) is ${v[i]}; the model output is not finite`);
        out[start + i] = v[i]!;
      }
    } finally {
      x0.dispose(); cond?.dispose(); total?.dispose();
    }
  }
  const mean = out.reduce((a, v) => a + v, 0) / n;
  const variance = n > 1 ? out.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { bitsPerDim: mean, stdErr: Math.sqrt(variance / n), n, perExample: out };
}
