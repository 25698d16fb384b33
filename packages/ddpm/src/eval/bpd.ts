// Bits/dim of a data set under the model's variational bound (improved-diffusion calc_bpd_loop,
// averaged over examples), batch by batch.

import * as T from '@tapegrad/tensor';
import { foldIn, type RandomKey } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import type { PredictionType } from '../process/forward.ts';
import { variationalBound } from '../process/vlb.ts';
import { ddpmError } from '../process/coef.ts';
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
}

/**
 * Mean bits/dim over the examples of `data` (each example's bound: sum over t of the KL terms,
 * the decoder NLL and the prior, T model calls per batch), with its standard error. Reads each
 * batch's totals back; a non-finite bound is an error naming the batch.
 */
export async function bitsPerDim(model: Model, data: DataSource, opts: BitsPerDimOptions): Promise<{ bitsPerDim: number; stdErr: number; n: number; perExample: Float64Array }> {
  const fn = 'bitsPerDim';
  const bs = opts.batchSize ?? 64;
  if (!Number.isInteger(bs) || bs < 1) throw ddpmError(fn, `batchSize must be an integer >= 1, got ${bs}`);
  const n = opts.limit ?? data.size;
  if (!Number.isInteger(n) || n < 1 || n > data.size) throw ddpmError(fn, `limit must be an integer in [1, ${data.size}], got ${n}`);
  if (opts.labels !== undefined && opts.labels !== 'data' && !(Number.isInteger(opts.labels) && opts.labels >= 0)) {
    throw ddpmError(fn, `labels must be 'data' or a class index >= 0, got ${JSON.stringify(opts.labels)}`);
  }
  if (opts.labels === 'data' && data.numClasses === undefined) throw ddpmError(fn, "labels: 'data' needs a data source with classes (numClasses)");
  const out = new Float64Array(n);
  for (let start = 0, b = 0; start < n; start += bs, b++) {
    const m = Math.min(bs, n - start);
    const batch = data.get(Int32Array.from({ length: m }, (_, i) => start + i));
    const x0 = T.tensor(batch.x, [m, ...data.shape]);
    const cond = opts.labels === undefined ? undefined
      : T.tensor(opts.labels === 'data' ? Float32Array.from(batch.labels!) : new Float32Array(m).fill(opts.labels), [m]);
    let total: T.Tensor | null = null;
    try {
      const r = variationalBound(model, x0, { schedule: opts.schedule, key: foldIn(opts.key, b), prediction: opts.prediction, variance: opts.variance, clip: opts.clip, cond });
      total = r.total;
      r.prior.dispose(); r.terms.dispose();
      const v = await total.data();
      for (let i = 0; i < m; i++) {
        if (!Number.isFinite(v[i]!)) throw ddpmError(fn, `the bound of example ${start + i} (batch ${b}) is ${v[i]}; the model output is not finite`);
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
