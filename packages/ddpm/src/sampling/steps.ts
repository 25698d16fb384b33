// One reverse step of each sampler as tensor ops. Coefficients are float64 host numbers from the
// schedule (shared by the whole batch: a sampling loop visits one timestep at a time) and the
// formulas are the papers', in the notation of formulas.ts:
//   ab = alpha_bar, a = sqrt(ab), sigma = sqrt(1 - ab), sigmaVe = sigma/a = sqrt((1 - ab)/ab),
//   lambda = log(a/sigma) = -log(sigmaVe) (DPM-Solver's half log-SNR).

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import { ddimCoefficients, type DdpmVarianceType } from '../f64/formulas.ts';
import { checkSameShape, checkTensor, ddpmError } from '../process/coef.ts';

function checkT(fn: string, s: Schedule, t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= s.T) {
    throw ddpmError(fn, `t must be an integer in [0, ${s.T - 1}] (0-based), got ${String(t)}`);
  }
}

function checkAb(fn: string, name: string, v: number, allowZero = false): void {
  if (typeof v !== 'number' || !(v <= 1 && (v > 0 || (allowZero && v === 0)))) {
    throw ddpmError(fn, `${name} must be a number in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${String(v)}`);
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
    throw ddpmError(fn, `unknown variance '${String(variance)}', expected 'fixed_small' or 'fixed_large'`);
  }
  const v = variance === 'fixed_small' ? schedule.posteriorVariance[t]! : schedule.betas[t]!;
  const std = t > 0 ? Math.sqrt(v) : 0;
  if (std > 0) {
    if (z === undefined) throw ddpmError(fn, `z (standard normal noise) is required at t=${t} > 0`);
    checkTensor(fn, 'z', z); checkSameShape(fn, 'x_t', xt, 'z', z);
  }
  return T.tidy(() => {
    const mean = posteriorMean(schedule, t, x0Hat, xt);
    return std > 0 ? T.add(mean, T.mul(z!, std)) : mean;
  });
}

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
  if (!(alphaBarS0 < 1)) throw ddpmError(fn, `alphaBarS0 must be < 1 (the current step must carry noise), got ${alphaBarS0}`);
  const ve = (ab: number) => Math.sqrt((1 - ab) / ab);
  const sigS0 = Math.sqrt(1 - alphaBarS0), sigT = Math.sqrt(1 - alphaBarT), aT = Math.sqrt(alphaBarT);
  const expNegH = ve(alphaBarT) / ve(alphaBarS0);
  const xCoef = sigT / sigS0;
  const phi = -aT * (expNegH - 1); // -a_t (e^{-h} - 1)
  if (alphaBarS1 === undefined) return { xCoef, c0: phi, c1: 0 };
  checkAb(fn, 'alphaBarS1', alphaBarS1);
  if (!(alphaBarS1 < alphaBarS0 && alphaBarS0 < alphaBarT)) {
    throw ddpmError(fn, `second order needs alpha_bar increasing along the solve (s1 -> s0 -> t), got ${alphaBarS1}, ${alphaBarS0}, ${alphaBarT}`);
  }
  if (alphaBarT === 1) throw ddpmError(fn, 'the second-order update is undefined at the final sigma = 0 step (h is infinite); use the first-order update there');
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
    throw ddpmError(fn, 'prevX0 and alphaBarS1 go together (second order needs both, first order neither)');
  }
  if (prevX0) { checkTensor(fn, 'prevX0', prevX0); checkSameShape(fn, 'x', x, 'prevX0', prevX0); }
  const c = dpmSolverPlusPlusCoefficients(args.alphaBarS0, args.alphaBarT, args.alphaBarS1);
  return T.tidy(() => {
    let out = T.add(T.mul(x, c.xCoef), T.mul(x0, c.c0));
    if (prevX0) out = T.add(out, T.mul(prevX0, c.c1));
    return out;
  });
}

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
  if (!(alphaBarS < 1)) throw ddpmError(fn, `alphaBarS must be < 1, got ${alphaBarS}`);
  const aS = Math.sqrt(alphaBarS), aT = Math.sqrt(alphaBarT);
  const sigS = Math.sqrt((1 - alphaBarS) / alphaBarS), sigT = Math.sqrt((1 - alphaBarT) / alphaBarT);
  const dt = sigT - sigS;
  return T.tidy(() => {
    const xs = T.mul(x, 1 / aS);
    const d = T.mul(T.sub(xs, x0), 1 / sigS);
    return T.mul(T.add(xs, T.mul(d, dt)), aT);
  });
}
