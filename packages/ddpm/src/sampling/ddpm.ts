// The ancestral DDPM sampler (Ho et al. 2020 Algorithm 2; diffusers DDPMScheduler,
// improved-diffusion p_sample) and its single step, as tensor ops. Coefficients are float64 host
// numbers from the schedule (shared by the whole batch: a sampling loop visits one timestep at a
// time); notation of f64/formulas.ts.

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { respace, type Schedule } from '../schedule/schedule.ts';
import { timesteps as spacedTimesteps } from '../schedule/timesteps.ts';
import type { DdpmVarianceType } from '../f64/formulas.ts';
import { checkSameShape } from '../process/coef.ts';
import { alphaBarAt, nextListed, stepBySplit, type Sampler, type SamplerSplitStep } from './sampler.ts';

function checkT(fn: string, s: Schedule, t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= s.T) {
    throw opError(fn, `t must be an integer in [0, ${s.T - 1}] (0-based), got ${String(t)}`);
  }
}

/** Posterior mean of q(x_{t-1} | x_t, x_0) (Ho et al. 2020 eq. 7): coef1[t] x0 + coef2[t] x_t. */
export function posteriorMean(schedule: Schedule, t: number, x0: Tensor, xt: Tensor): Tensor {
  const fn = 'posteriorMean';
  checkT(fn, schedule, t);
  checkTensor(fn, 'x0', x0); checkTensor(fn, 'xt', xt); checkSameShape(fn, 'x_t', xt, 'x0', x0);
  const c1 = schedule.posteriorMeanCoef1[t]!, c2 = schedule.posteriorMeanCoef2[t]!;
  return T.tidy(() => T.add(T.mul(x0, c1), T.mul(xt, c2)));
}

/**
 * One ancestral step (Ho et al. 2020 Algorithm 2, in the x0 form of improved-diffusion's
 * p_sample): x_{t-1} = posteriorMean(x0_hat, x_t) + sqrt(var_t) z, var_t = beta_tilde_t
 * ('fixed_small') or beta_t ('fixed_large'). At t = 0 no noise is added and z is ignored.
 * x0Hat is the (possibly clipped) estimate of x0 from the model.
 */
export function ddpmStep(
  schedule: Schedule, t: number, xt: Tensor, x0Hat: Tensor, z: Tensor | undefined,
  variance: DdpmVarianceType = 'fixed_small',
): Tensor {
  const fn = 'ddpmStep';
  checkT(fn, schedule, t);
  if (variance !== 'fixed_small' && variance !== 'fixed_large') {
    throw opError(fn, `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
  }
  const v = variance === 'fixed_small' ? schedule.posteriorVariance[t]! : schedule.betas[t]!;
  const std = t > 0 ? Math.sqrt(v) : 0;
  if (std > 0) {
    if (z === undefined) throw opError(fn, `z (standard normal noise) is required at t=${t} > 0`);
    checkTensor(fn, 'z', z); checkSameShape(fn, 'x_t', xt, 'z', z);
  }
  return ddpmUpdate(xt, x0Hat, std > 0 ? z! : null, { c1: schedule.posteriorMeanCoef1[t]!, c2: schedule.posteriorMeanCoef2[t]!, std });
}

/** The tensor math of ddpmStep: c1 x0 + c2 x_t (+ std z when z is given); coefficients numbers or rank-0 tensors. */
function ddpmUpdate(xt: Tensor, x0: Tensor, z: Tensor | null, c: Record<string, number | Tensor>): Tensor {
  return T.tidy(() => {
    const mean = T.add(T.mul(x0, c.c1!), T.mul(xt, c.c2!));
    return z ? T.add(mean, T.mul(z, c.std!)) : mean;
  });
}

export interface DdpmSamplerOptions {
  /** 'fixed_small' (beta tilde, default) or 'fixed_large' (beta). */
  variance?: DdpmVarianceType;
}

/**
 * The ancestral sampler. With steps = T it visits T-1..0; with fewer steps it samples the
 * respaced process (improved-diffusion respacing, diffusers DDPMScheduler with
 * num_inference_steps): the betas of the visited timesteps are recomputed from their alpha_bar.
 * Each step lands on the next listed timestep (DDPMScheduler.previous_timestep).
 */
export function ddpmSampler(opts: DdpmSamplerOptions = {}): Sampler {
  const variance = opts.variance ?? 'fixed_small';
  if (variance !== 'fixed_small' && variance !== 'fixed_large') {
    throw opError('sample', `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
  }
  return {
    name: 'ddpm',
    defaultSpacing: 'leading',
    defaultSteps: (T) => T,
    plan(T, steps, spacing, offset) {
      const ts = steps === T ? Array.from({ length: T }, (_, i) => T - 1 - i) : spacedTimesteps(T, steps, spacing, offset);
      return { timesteps: ts, prev: nextListed(ts) };
    },
    start(schedule, plan) {
      const sched = respace(schedule, plan.timesteps); // the respaced process (identity when steps = T)
      const n = plan.timesteps.length;
      const split: SamplerSplitStep = {
        scalars({ index }) {
          const k = n - 1 - index; // index in the respaced (ascending) schedule
          const v = variance === 'fixed_small' ? sched.posteriorVariance[k]! : sched.betas[k]!;
          const std = k > 0 ? Math.sqrt(v) : 0;
          const coefs = { c1: sched.posteriorMeanCoef1[k]!, c2: sched.posteriorMeanCoef2[k]!, std };
          return { mode: std > 0 ? 'noise' : 'mean', coefs, noise: std > 0 };
        },
        apply: (mode, { x, x0, noise }, c) => ({ next: ddpmUpdate(x, x0, mode === 'noise' ? noise : null, c) }),
      };
      return { alphaBar: (t) => alphaBarAt(schedule, t), step: (args) => stepBySplit(split, args), split };
    },
  };
}
