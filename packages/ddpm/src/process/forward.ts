// The forward process q(x_t | x_0) and the conversions between the eps, x0 and v
// parameterizations, as tensor ops. Coefficients come from the float64 schedule on the host.
// a = sqrt(alpha_bar_t), s = sqrt(1 - alpha_bar_t):
//   x_t = a x0 + s eps                 (Ho et al. 2020 eq. 4)
//   v   = a eps - s x0                 (Salimans & Ho 2022 App. D)
//   x0  = (x_t - s eps)/a = a x_t - s v
//   eps = (x_t - a x0)/s  = a v + s x_t
// Every alphaBar argument is a Coef: one number for the batch or one per batch element.

import { checkTensor, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import { checkCoef, checkSameShape, checkTimesteps, coefArg, gatherCoef, mapCoef, type Coef, type Timesteps } from './coef.ts';

/** What the network predicts (diffusers' prediction_type names). 'v' is accepted for 'v_prediction'. */
export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

const PREDICTIONS: readonly string[] = ['epsilon', 'sample', 'v_prediction'];

/** Validate a prediction type ('v' is an alias of 'v_prediction'). */
export function checkPrediction(fn: string, p: unknown): PredictionType {
  if (p === 'v') return 'v_prediction';
  if (typeof p !== 'string' || !PREDICTIONS.includes(p)) {
    throw opError(fn, `unknown prediction type ${typeof p === 'string' ? `'${p}'` : String(p)}, expected 'epsilon', 'sample' or 'v_prediction' ('v')`);
  }
  return p as PredictionType;
}

const inUnit = (allowZero: boolean) => (v: number) => v <= 1 && (v > 0 || (allowZero && v === 0));

function ab(fn: string, alphaBar: Coef, like: Tensor, allowZero: boolean): void {
  checkCoef(fn, 'alphaBar', alphaBar, like, inUnit(allowZero), allowZero ? 'in [0, 1]' : 'in (0, 1] (x0 is recovered by dividing by sqrt(alpha_bar); at alpha_bar = 0, a zero-terminal-SNR step, use v_prediction)');
}

/** The host coefficients of each conversion, functions of alpha_bar (float64). */
const CONV = {
  ra: (v: number) => 1 / Math.sqrt(v),
  sra: (v: number) => Math.sqrt(1 - v) / Math.sqrt(v),
  rs: (v: number) => 1 / Math.sqrt(1 - v),
  ars: (v: number) => Math.sqrt(v) / Math.sqrt(1 - v),
  sq: Math.sqrt,
  sq1m: (v: number) => Math.sqrt(1 - v),
} as const;

const sqrtC = (c: Coef) => mapCoef(c, Math.sqrt);
const sqrt1mC = (c: Coef) => mapCoef(c, (v) => Math.sqrt(1 - v));

/**
 * q(x_t | x_0) by reparameterization (Ho et al. 2020 eq. 4):
 * x_t = sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) noise, with t one timestep or one per sample.
 */
export function qSample(schedule: Schedule, x0: Tensor, t: Timesteps, noise: Tensor): Tensor {
  const fn = 'qSample';
  checkTensor(fn, 'x0', x0);
  checkTensor(fn, 'noise', noise);
  checkSameShape(fn, 'x0', x0, 'noise', noise);
  const tt = checkTimesteps(fn, schedule, t, x0.shape[0] ?? 1);
  const a = gatherCoef(schedule.sqrtAlphasCumprod, tt);
  const s = gatherCoef(schedule.sqrtOneMinusAlphasCumprod, tt);
  return T.tidy(() => T.add(T.mul(x0, coefArg(a, x0)), T.mul(noise, coefArg(s, x0))));
}

/** x0 = (x_t - sqrt(1 - ab) eps)/sqrt(ab) (DDIM eq. 12's "predicted x0"). */
export function x0FromEps(xt: Tensor, eps: Tensor, alphaBar: Coef): Tensor {
  const fn = 'x0FromEps';
  checkTensor(fn, 'xt', xt); checkTensor(fn, 'eps', eps); checkSameShape(fn, 'xt', xt, 'eps', eps);
  ab(fn, alphaBar, xt, false);
  const ra = mapCoef(alphaBar, CONV.ra);
  const sra = mapCoef(alphaBar, CONV.sra);
  return T.tidy(() => T.sub(T.mul(xt, coefArg(ra, xt)), T.mul(eps, coefArg(sra, xt))));
}

/** eps = (x_t - sqrt(ab) x0)/sqrt(1 - ab). Undefined at alpha_bar = 1. */
export function epsFromX0(xt: Tensor, x0: Tensor, alphaBar: Coef): Tensor {
  const fn = 'epsFromX0';
  checkTensor(fn, 'xt', xt); checkTensor(fn, 'x0', x0); checkSameShape(fn, 'xt', xt, 'x0', x0);
  checkCoef(fn, 'alphaBar', alphaBar, xt, (v) => v >= 0 && v < 1, 'in [0, 1) (1 - alpha_bar is a divisor)');
  const rs = mapCoef(alphaBar, CONV.rs);
  const ars = mapCoef(alphaBar, CONV.ars);
  return T.tidy(() => T.sub(T.mul(xt, coefArg(rs, xt)), T.mul(x0, coefArg(ars, xt))));
}

/** v = sqrt(ab) eps - sqrt(1 - ab) x0 (Salimans & Ho 2022; diffusers get_velocity). */
export function vFromX0Eps(x0: Tensor, eps: Tensor, alphaBar: Coef): Tensor {
  const fn = 'vFromX0Eps';
  checkTensor(fn, 'x0', x0); checkTensor(fn, 'eps', eps); checkSameShape(fn, 'x0', x0, 'eps', eps);
  ab(fn, alphaBar, x0, true);
  return T.tidy(() => T.sub(T.mul(eps, coefArg(sqrtC(alphaBar), x0)), T.mul(x0, coefArg(sqrt1mC(alphaBar), x0))));
}

/** x0 = sqrt(ab) x_t - sqrt(1 - ab) v. */
export function x0FromV(xt: Tensor, v: Tensor, alphaBar: Coef): Tensor {
  const fn = 'x0FromV';
  checkTensor(fn, 'xt', xt); checkTensor(fn, 'v', v); checkSameShape(fn, 'xt', xt, 'v', v);
  ab(fn, alphaBar, xt, true);
  return T.tidy(() => T.sub(T.mul(xt, coefArg(sqrtC(alphaBar), xt)), T.mul(v, coefArg(sqrt1mC(alphaBar), xt))));
}

/** eps = sqrt(ab) v + sqrt(1 - ab) x_t. */
export function epsFromV(xt: Tensor, v: Tensor, alphaBar: Coef): Tensor {
  const fn = 'epsFromV';
  checkTensor(fn, 'xt', xt); checkTensor(fn, 'v', v); checkSameShape(fn, 'xt', xt, 'v', v);
  ab(fn, alphaBar, xt, true);
  return T.tidy(() => T.add(T.mul(v, coefArg(sqrtC(alphaBar), xt)), T.mul(xt, coefArg(sqrt1mC(alphaBar), xt))));
}


/** The coefficients predictionToX0EpsWith takes, as numbers or rank-0 tensors (inside a compiled step). */
export type ConversionCoefs = Record<string, number | Tensor>;

/**
 * The host coefficients of predictionToX0EpsWith for one alpha_bar (float64; the same values the
 * eager conversions use): epsilon { ra, sra }, sample { rs, ars }, v_prediction { sq, sq1m }.
 */
export function conversionCoefs(prediction: PredictionType | 'v', alphaBar: number): Record<string, number> {
  const p = checkPrediction('conversionCoefs', prediction);
  const keys = p === 'epsilon' ? ['ra', 'sra'] as const : p === 'sample' ? ['rs', 'ars'] as const : ['sq', 'sq1m'] as const;
  return Object.fromEntries(keys.map((k) => [k, CONV[k](alphaBar)]));
}

/**
 * predictionToX0Eps's tensor math with its coefficients given (conversionCoefs: numbers, or
 * rank-0 tensors inside a compiled step): no validation, no host work.
 */
export function predictionToX0EpsWith(prediction: PredictionType, xt: Tensor, output: Tensor, c: ConversionCoefs): { x0: Tensor; eps: Tensor } {
  return T.tidy(() => {
    switch (prediction) {
      case 'epsilon': return { x0: T.sub(T.mul(xt, c.ra!), T.mul(output, c.sra!)), eps: T.clone(output) };
      case 'sample': return { x0: T.clone(output), eps: T.sub(T.mul(xt, c.rs!), T.mul(output, c.ars!)) };
      case 'v_prediction': return { x0: T.sub(T.mul(xt, c.sq!), T.mul(output, c.sq1m!)), eps: T.add(T.mul(output, c.sq!), T.mul(xt, c.sq1m!)) };
    }
  });
}

/**
 * Both x0 and eps from a model output of the given parameterization at x_t:
 * epsilon: x0 = x0FromEps; sample: eps = epsFromX0; v_prediction: x0FromV and epsFromV.
 */
export function predictionToX0Eps(prediction: PredictionType | 'v', xt: Tensor, output: Tensor, alphaBar: Coef): { x0: Tensor; eps: Tensor } {
  const fn = 'predictionToX0Eps';
  const p = checkPrediction(fn, prediction);
  checkTensor(fn, 'xt', xt); checkTensor(fn, 'output', output);
  checkSameShape(fn, 'x_t', xt, 'model output', output);
  // the checks of x0FromEps / epsFromX0 / x0FromV and epsFromV
  if (p === 'epsilon') ab('x0FromEps', alphaBar, xt, false);
  else if (p === 'sample') checkCoef('epsFromX0', 'alphaBar', alphaBar, xt, (v) => v >= 0 && v < 1, 'in [0, 1) (1 - alpha_bar is a divisor)');
  else ab('x0FromV', alphaBar, xt, true);
  return T.tidy(() => {
    const keys = Object.keys(conversionCoefs(p, 0.5)) as (keyof typeof CONV)[];
    const c = Object.fromEntries(keys.map((k) => [k, coefArg(mapCoef(alphaBar, CONV[k]), xt)]));
    return predictionToX0EpsWith(p, xt, output, c);
  });
}

/** The regression target of each parameterization: eps, x0 or v = sqrt(ab) eps - sqrt(1 - ab) x0. */
export function predictionTarget(prediction: PredictionType | 'v', x0: Tensor, eps: Tensor, alphaBar: Coef): Tensor {
  const fn = 'predictionTarget';
  const p = checkPrediction(fn, prediction);
  checkTensor(fn, 'x0', x0); checkTensor(fn, 'eps', eps); checkSameShape(fn, 'x0', x0, 'eps', eps);
  switch (p) {
    case 'epsilon': return T.clone(eps);
    case 'sample': return T.clone(x0);
    case 'v_prediction': return vFromX0Eps(x0, eps, alphaBar);
  }
}

