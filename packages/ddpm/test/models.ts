// Analytic denoisers for sampler tests: perfect predictors of simple data distributions.
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../src/schedule/schedule.ts';
import type { Model } from '../src/models/model.ts';
import type { PredictionType } from '../src/process/forward.ts';

/** The 0-based timesteps a model was called with (host copy of its t tensor). */
export function readT(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** [B, 1] column of per-sample host values. */
function col(values: ArrayLike<number>): Tensor {
  return T.tensor(Float64Array.from(values), [values.length, 1]);
}

/**
 * The exact minimizer of the denoising loss for data x0 ~ N(mu, diag(sd^2)) (per dimension):
 * x_t ~ N(a mu, a^2 sd^2 + s^2), E[x0 | x_t] = mu + a sd^2 (x_t - a mu)/(a^2 sd^2 + s^2),
 * E[eps | x_t] = s (x_t - a mu)/(a^2 sd^2 + s^2), v = a eps - s x0.
 * `calls` collects the timesteps it was called with.
 */
export function gaussianDenoiser(schedule: Schedule, mu: number[], sd: number[], prediction: PredictionType = 'epsilon', calls?: number[][]): Model {
  return (x, t) => {
    const ts = readT(t);
    calls?.push(ts);
    const ab = ts.map((v) => schedule.alphasCumprod[v]!);
    return T.tidy(() => {
      const a = col(ab.map(Math.sqrt));
      const s = col(ab.map((v) => Math.sqrt(1 - v)));
      const m = T.tensor([mu]);
      const v2 = T.tensor([sd.map((q) => q * q)]);
      const den = T.add(T.mul(T.square(a), v2), T.square(s)); // a^2 sd^2 + s^2
      const r = T.div(T.sub(x, T.mul(a, m)), den); // (x - a mu)/den
      const eps = T.mul(s, r);
      const x0 = T.add(m, T.mul(T.mul(a, v2), r));
      if (prediction === 'epsilon') return eps;
      if (prediction === 'sample') return x0;
      return T.sub(T.mul(a, eps), T.mul(s, x0));
    });
  };
}

/**
 * Exact probability-flow endpoint for that Gaussian: the flow keeps each coordinate's z-score,
 * so x_T at the first sampled timestep tFirst maps to mu + sd (x_T - a mu)/sqrt(a^2 sd^2 + s^2).
 */
export function gaussianFlowEndpoint(schedule: Schedule, tFirst: number, xT: ArrayLike<number>, mu: number[], sd: number[]): Float64Array {
  const ab = schedule.alphasCumprod[tFirst]!;
  const a = Math.sqrt(ab), s2 = 1 - ab;
  const d = mu.length;
  return Float64Array.from(xT, (x, i) => {
    const k = i % d;
    return mu[k]! + (sd[k]! * (x - a * mu[k]!)) / Math.sqrt(a * a * sd[k]! * sd[k]! + s2);
  });
}

/**
 * The perfect model for data that is a single point c (a delta): x0 = c, eps = (x_t - a c)/s,
 * v = a eps - s c, computed with the alpha_bar of the t it is given. If a sampler or the loss
 * passed a timestep that does not match the alpha_bar it uses, the result moves off c.
 * `shift` deliberately mis-indexes t (t + shift, clamped) to show the test notices.
 */
export function deltaDenoiser(schedule: Schedule, c: number[], prediction: PredictionType, calls?: number[][], shift = 0): Model {
  return (x, t) => {
    const ts = readT(t);
    calls?.push(ts);
    const ab = ts.map((v) => schedule.alphasCumprod[Math.min(schedule.T - 1, Math.max(0, v + shift))]!);
    return T.tidy(() => {
      const a = col(ab.map(Math.sqrt));
      const s = col(ab.map((v) => Math.sqrt(1 - v)));
      const x0 = T.broadcastTo(T.tensor([c]), x.shape);
      const eps = T.div(T.sub(x, T.mul(a, x0)), s);
      if (prediction === 'epsilon') return eps;
      if (prediction === 'sample') return x0;
      return T.sub(T.mul(a, eps), T.mul(s, x0));
    });
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function meanStd(v: ArrayLike<number>, dim: number, k: number): { mean: number; std: number } {
  const n = v.length / dim;
  let m = 0;
  for (let i = 0; i < n; i++) m += v[i * dim + k]!;
  m /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (v[i * dim + k]! - m) ** 2;
  return { mean: m, std: Math.sqrt(s / (n - 1)) };
}
