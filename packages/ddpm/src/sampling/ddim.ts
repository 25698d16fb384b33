// The DDIM sampler (Song et al. 2021; diffusers DDIMScheduler) and its single step.

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { ddimPrevTimestep, timesteps as spacedTimesteps } from '../schedule/timesteps.ts';
import { ddimCoefficients } from '../f64/formulas.ts';
import { checkSameShape } from '../process/coef.ts';
import { conversionCoefs } from '../process/forward.ts';
import { alphaBarAt, stepBySplit, type Sampler, type SamplerSplitStep } from './sampler.ts';

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
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw opError(fn, `eta must be in [0, 1], got ${String(eta)}`);
  const c = ddimCoefficients(alphaBarT, alphaBarPrev, eta);
  if (c.sigma > 0) {
    if (z === undefined) throw opError(fn, `z (standard normal noise) is required when eta > 0 (sigma=${c.sigma})`);
    checkTensor(fn, 'z', z); checkSameShape(fn, 'x0', x0, 'z', z);
  }
  return ddimUpdate(x0, eps, c.sigma > 0 ? z! : null, c);
}

/** The tensor math of ddimStep: x0Coef x0 + epsDirCoef eps (+ sigma z when z is given). */
function ddimUpdate(x0: Tensor, eps: Tensor, z: Tensor | null, c: Record<string, number | Tensor>): Tensor {
  return T.tidy(() => {
    let out = T.add(T.mul(x0, c.x0Coef!), T.mul(eps, c.epsDirCoef!));
    if (z) out = T.add(out, T.mul(z, c.sigma!));
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
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw opError('sample', `eta must be in [0, 1], got ${String(eta)}`);
  return {
    name: 'ddim',
    defaultSpacing: 'leading',
    defaultSteps: (T) => Math.min(50, T),
    plan(T, steps, spacing, offset) {
      const ts = spacedTimesteps(T, steps, spacing, offset);
      return { timesteps: ts, prev: ts.map((t) => Math.max(ddimPrevTimestep(t, T, steps), -1)) };
    },
    start(schedule) {
      const clipped = opts.useClippedModelOutput ?? false;
      const split: SamplerSplitStep = {
        scalars({ alphaBarT, alphaBarPrev }) {
          const c = ddimCoefficients(alphaBarT, alphaBarPrev, eta);
          const noise = c.sigma > 0;
          // with useClippedModelOutput, eps = epsFromX0(x, x0, alphaBarT) (its coefficients rs, ars)
          const coefs: Record<string, number> = { x0Coef: c.x0Coef, epsDirCoef: c.epsDirCoef, sigma: c.sigma, ...(clipped ? conversionCoefs('sample', alphaBarT) : {}) };
          return { mode: `${clipped ? 'clipped' : 'raw'}${noise ? '+noise' : ''}`, coefs, noise };
        },
        apply(mode, { x, x0, eps, noise }, c) {
          return {
            next: T.tidy(() => {
              const e = mode.startsWith('clipped') ? T.sub(T.mul(x, c.rs!), T.mul(x0, c.ars!)) : eps; // epsFromX0
              return ddimUpdate(x0, e, mode.endsWith('+noise') ? noise : null, c);
            }),
          };
        },
      };
      return { alphaBar: (t) => alphaBarAt(schedule, t), step: (args) => stepBySplit(split, args), split };
    },
  };
}
