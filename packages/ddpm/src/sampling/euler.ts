// The Euler sampler of the probability-flow ODE (Karras et al. 2022; diffusers
// EulerDiscreteScheduler without churn) and its single step.

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { timesteps as spacedTimesteps } from '../schedule/timesteps.ts';
import { checkSameShape } from '../process/coef.ts';
import { checkAlphaBar as checkAb, nextListed, odeAlphaBarAt, stepBySplit, type Sampler, type SamplerSplitStep } from './sampler.ts';

/**
 * One Euler step of the probability-flow ODE in the variance-exploding coordinates of Karras et
 * al. 2022 (diffusers EulerDiscreteScheduler, no churn): x~ = x/a_s, sigma = sigmaVe,
 * d = (x~ - x0)/sigma, x~' = x~ + (sigma' - sigma) d, x' = a' x~' (diffusers keeps x~ and scales
 * the model input by 1/sqrt(sigma^2 + 1) = a; here x stays in the VP scale the model sees).
 * The same map as DDIM with eta = 0 and eps re-derived from x0, and as first-order DPM-Solver++.
 */
export function eulerStep(args: { x: Tensor; x0: Tensor; alphaBarS: number; alphaBarT: number }): Tensor {
  const fn = 'eulerStep';
  const { x, x0, alphaBarS, alphaBarT } = args;
  checkTensor(fn, 'x', x); checkTensor(fn, 'x0', x0); checkSameShape(fn, 'x', x, 'x0', x0);
  checkAb(fn, 'alphaBarS', alphaBarS); checkAb(fn, 'alphaBarT', alphaBarT);
  if (!(alphaBarS < 1)) throw opError(fn, `alphaBarS must be < 1, got ${alphaBarS}`);
  return eulerUpdate(x, x0, eulerCoefficients(alphaBarS, alphaBarT));
}

/** The host numbers of eulerStep (float64): 1/sqrt(ab_s), 1/sigma_s, sigma_t - sigma_s, sqrt(ab_t) with sigma = sqrt((1-ab)/ab). */
function eulerCoefficients(alphaBarS: number, alphaBarT: number): Record<string, number> {
  const aS = Math.sqrt(alphaBarS), aT = Math.sqrt(alphaBarT);
  const sigS = Math.sqrt((1 - alphaBarS) / alphaBarS), sigT = Math.sqrt((1 - alphaBarT) / alphaBarT);
  return { ras: 1 / aS, rsig: 1 / sigS, dt: sigT - sigS, aT };
}

/** The tensor math of eulerStep: xs = x/a_s, d = (xs - x0)/sigma_s, a_t (xs + d dt). */
function eulerUpdate(x: Tensor, x0: Tensor, c: Record<string, number | Tensor>): Tensor {
  return T.tidy(() => {
    const xs = T.mul(x, c.ras!);
    const d = T.mul(T.sub(xs, x0), c.rsig!);
    return T.mul(T.add(xs, T.mul(d, c.dt!)), c.aT!);
  });
}

/** Euler: timesteps(T, steps, spacing, offset), each step landing on the next listed timestep. */
export function eulerSampler(): Sampler {
  return {
    name: 'euler',
    defaultSpacing: 'linspace',
    defaultSteps: (T) => Math.min(50, T),
    plan(T, steps, spacing, offset) {
      const ts = spacedTimesteps(T, steps, spacing, offset);
      return { timesteps: ts, prev: nextListed(ts) };
    },
    start(schedule) {
      const split: SamplerSplitStep = {
        scalars({ alphaBarT, alphaBarPrev }) {
          checkAb('eulerStep', 'alphaBarS', alphaBarT); checkAb('eulerStep', 'alphaBarT', alphaBarPrev);
          if (!(alphaBarT < 1)) throw opError('eulerStep', `alphaBarS must be < 1, got ${alphaBarT}`);
          return { mode: 'euler', coefs: eulerCoefficients(alphaBarT, alphaBarPrev), noise: false };
        },
        apply: (_mode, { x, x0 }, c) => ({ next: eulerUpdate(x, x0, c) }),
      };
      return { alphaBar: (t) => odeAlphaBarAt(schedule, t), step: (args) => stepBySplit(split, args), split };
    },
  };
}
