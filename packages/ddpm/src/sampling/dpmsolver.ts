// The DPM-Solver++ sampler (Lu et al. 2022, arXiv 2211.01095; diffusers
// DPMSolverMultistepScheduler with its defaults: order 2 'midpoint', data prediction,
// lower_order_final) and its single step. Notation: ab = alpha_bar, a = sqrt(ab),
// sigma = sqrt(1 - ab), sigmaVe = sigma/a, lambda = log(a/sigma) = -log(sigmaVe).

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { dpmSolverMultistepTimesteps } from '../schedule/timesteps.ts';
import { checkSameShape } from '../process/coef.ts';
import { checkAlphaBar as checkAb, nextListed, odeAlphaBarAt, stepBySplit, type Sampler, type SamplerSplitStep } from './sampler.ts';

/**
 * Coefficients of a DPM-Solver++ update (Lu et al. 2022, arXiv 2211.01095, data-prediction form;
 * diffusers DPMSolverMultistepScheduler) from the current step s0 to the next step t, using the
 * previous step s1 for the second-order multistep (2M, 'midpoint') update:
 *   first order:  x_t = (sigma_t/sigma_s0) x - a_t (e^{-h} - 1) D0,                   D0 = x0(s0)
 *   2M:           x_t = (sigma_t/sigma_s0) x - a_t (e^{-h} - 1) (D0 + D1/2),           D1 = (x0(s0) - x0(s1))/r0
 * with h = lambda_t - lambda_s0, r0 = (lambda_s0 - lambda_s1)/h. Returned as
 * x_t = xCoef x + c0 x0(s0) + c1 x0(s1) (c1 = 0 for first order). ab_t = 1 (sigma_t = 0, the
 * final step) gives x_t = x0(s0); e^{-h} = sigmaVe_t/sigmaVe_s0 avoids the infinite lambda there.
 */
export function dpmSolverPlusPlusCoefficients(alphaBarS0: number, alphaBarT: number, alphaBarS1?: number): { xCoef: number; c0: number; c1: number } {
  const fn = 'dpmSolverPlusPlusCoefficients';
  checkAb(fn, 'alphaBarS0', alphaBarS0);
  checkAb(fn, 'alphaBarT', alphaBarT);
  if (!(alphaBarS0 < 1)) throw opError(fn, `alphaBarS0 must be < 1 (the current step must carry noise), got ${alphaBarS0}`);
  const ve = (ab: number) => Math.sqrt((1 - ab) / ab);
  const sigS0 = Math.sqrt(1 - alphaBarS0), sigT = Math.sqrt(1 - alphaBarT), aT = Math.sqrt(alphaBarT);
  const expNegH = ve(alphaBarT) / ve(alphaBarS0);
  const xCoef = sigT / sigS0;
  const phi = -aT * (expNegH - 1); // -a_t (e^{-h} - 1)
  if (alphaBarS1 === undefined) return { xCoef, c0: phi, c1: 0 };
  checkAb(fn, 'alphaBarS1', alphaBarS1);
  if (!(alphaBarS1 < alphaBarS0 && alphaBarS0 < alphaBarT)) {
    throw opError(fn, `second order needs alpha_bar increasing along the solve (s1 -> s0 -> t), got ${alphaBarS1}, ${alphaBarS0}, ${alphaBarT}`);
  }
  if (alphaBarT === 1) throw opError(fn, 'the second-order update is undefined at the final sigma = 0 step (h is infinite); use the first-order update there');
  const h = Math.log(ve(alphaBarS0) / ve(alphaBarT));
  const h0 = Math.log(ve(alphaBarS1) / ve(alphaBarS0));
  const r0 = h0 / h;
  return { xCoef, c0: phi * (1 + 0.5 / r0), c1: -phi * (0.5 / r0) };
}

/** One DPM-Solver++ step (first order without `prevX0`, 2M with it); see dpmSolverPlusPlusCoefficients. */
export function dpmSolverPlusPlusStep(args: {
  x: Tensor; x0: Tensor; alphaBarS0: number; alphaBarT: number; prevX0?: Tensor; alphaBarS1?: number;
}): Tensor {
  const fn = 'dpmSolverPlusPlusStep';
  const { x, x0, prevX0 } = args;
  checkTensor(fn, 'x', x); checkTensor(fn, 'x0', x0); checkSameShape(fn, 'x', x, 'x0', x0);
  if ((prevX0 === undefined) !== (args.alphaBarS1 === undefined)) {
    throw opError(fn, 'prevX0 and alphaBarS1 go together (second order needs both, first order neither)');
  }
  if (prevX0) { checkTensor(fn, 'prevX0', prevX0); checkSameShape(fn, 'x', x, 'prevX0', prevX0); }
  const c = dpmSolverPlusPlusCoefficients(args.alphaBarS0, args.alphaBarT, args.alphaBarS1);
  return dpmUpdate(x, x0, prevX0 ?? null, c);
}

/** The tensor math of dpmSolverPlusPlusStep: xCoef x + c0 x0 (+ c1 prevX0 when given). */
function dpmUpdate(x: Tensor, x0: Tensor, prevX0: Tensor | null, c: Record<string, number | Tensor>): Tensor {
  return T.tidy(() => {
    let out = T.add(T.mul(x, c.xCoef!), T.mul(x0, c.c0!));
    if (prevX0) out = T.add(out, T.mul(prevX0, c.c1!));
    return out;
  });
}

/**
 * DPM-Solver++(2M): dpmSolverMultistepTimesteps(T, steps, spacing, offset), each step landing on
 * the next listed timestep; first order on the first step (no history) and on the last (final
 * sigma 0), second order between. The previous x0 is the carry between steps.
 */
export function dpmSolverPlusPlusSampler(): Sampler {
  return {
    name: 'dpmsolver++',
    defaultSpacing: 'linspace',
    defaultSteps: (T) => Math.min(50, T),
    plan(T, steps, spacing, offset) {
      const ts = dpmSolverMultistepTimesteps(T, steps, spacing, offset);
      return { timesteps: ts, prev: nextListed(ts) };
    },
    start(schedule, plan) {
      const ab = (t: number) => odeAlphaBarAt(schedule, t);
      const n = plan.timesteps.length;
      const split: SamplerSplitStep = {
        scalars({ index, alphaBarT, alphaBarPrev, hasCarry }) {
          const second = hasCarry && index < n - 1;
          const c = second
            ? dpmSolverPlusPlusCoefficients(alphaBarT, alphaBarPrev, ab(plan.timesteps[index - 1]!))
            : dpmSolverPlusPlusCoefficients(alphaBarT, alphaBarPrev);
          return { mode: second ? 'second' : 'first', coefs: c, noise: false };
        },
        apply: (mode, { x, x0, carry }, c) => ({ next: dpmUpdate(x, x0, mode === 'second' ? carry : null, c), carry: x0 }),
      };
      return { alphaBar: ab, step: (args) => stepBySplit(split, args), split };
    },
  };
}
