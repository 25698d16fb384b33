// The DDIM sampler (Song et al. 2021; diffusers DDIMScheduler) and its single step.

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { ddimPrevTimestep, timesteps as spacedTimesteps } from '../schedule/timesteps.ts';
import { ddimCoefficients } from '../f64/formulas.ts';
import { checkSameShape, checkTensor, ddpmError } from '../process/coef.ts';
import { epsFromX0 } from '../process/forward.ts';
import { alphaBarAt, type Sampler } from './sampler.ts';

/**
 * One DDIM step (Song et al. 2021 eq. 12): x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z,
 * sigma = eta sqrt((1 - ab_prev)/(1 - ab_t)) sqrt(1 - ab_t/ab_prev) (eq. 16). eta = 0 is deterministic
 * (z unused); eta = 1 is the DDPM posterior variance. x0 and eps are the model's estimates (x0 possibly
 * clipped; eps either the raw one, as diffusers, or re-derived from the clipped x0).
 */
export function ddimStep(args: {
  x0: Tensor; eps: Tensor; z?: Tensor; alphaBarT: number; alphaBarPrev: number; eta?: number;
}): Tensor {
  const fn = 'ddimStep';
  const { x0, eps, z, alphaBarT, alphaBarPrev } = args;
  checkTensor(fn, 'x0', x0); checkTensor(fn, 'eps', eps); checkSameShape(fn, 'x0', x0, 'eps', eps);
  const eta = args.eta ?? 0;
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw ddpmError(fn, `eta must be in [0, 1], got ${String(eta)}`);
  const c = ddimCoefficients(alphaBarT, alphaBarPrev, eta);
  if (c.sigma > 0) {
    if (z === undefined) throw ddpmError(fn, `z (standard normal noise) is required when eta > 0 (sigma=${c.sigma})`);
    checkTensor(fn, 'z', z); checkSameShape(fn, 'x0', x0, 'z', z);
  }
  return T.tidy(() => {
    let out = T.add(T.mul(x0, c.x0Coef), T.mul(eps, c.epsDirCoef));
    if (c.sigma > 0) out = T.add(out, T.mul(z!, c.sigma));
    return out;
  });
}

export interface DdimSamplerOptions {
  /** 0 (deterministic, default) .. 1 (DDPM-like). */
  eta?: number;
  /** Re-derive eps from the clipped x0 (improved-diffusion, lucidrains). Default false (diffusers). */
  useClippedModelOutput?: boolean;
}

/**
 * DDIM: timesteps(T, steps, spacing, offset); each step lands on t - T//steps
 * (DDIMScheduler.step, for every spacing), below 0 = the end (set_alpha_to_one).
 */
export function ddimSampler(opts: DdimSamplerOptions = {}): Sampler {
  const eta = opts.eta ?? 0;
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw ddpmError('sample', `eta must be in [0, 1], got ${String(eta)}`);
  return {
    name: 'ddim',
    defaultSpacing: 'leading',
    defaultSteps: (T) => Math.min(50, T),
    plan(T, steps, spacing, offset) {
      const ts = spacedTimesteps(T, steps, spacing, offset);
      return { timesteps: ts, prev: ts.map((t) => Math.max(ddimPrevTimestep(t, T, steps), -1)) };
    },
    start(schedule) {
      return {
        alphaBar: (t) => alphaBarAt(schedule, t),
        step({ x, x0, eps, prevT, alphaBarT, alphaBarPrev, noise }) {
          return {
            next: T.tidy(() => {
              const e = opts.useClippedModelOutput ? epsFromX0(x, x0, alphaBarT) : eps;
              const z = eta > 0 && prevT >= 0 ? noise() : undefined;
              return ddimStep({ x0, eps: e, z, alphaBarT, alphaBarPrev, eta });
            }),
          };
        },
      };
    },
  };
}
