// Exponential moving average of parameters: ema <- d ema + (1 - d) params, with the decay d
// of update number `step` (0-based) optionally warmed up.

import * as T from '@tapegrad/tensor';
import { treeUnflatten, type Tensor, checkNumber, opError } from '@tapegrad/tensor';
import { checkSameTree, flattenTensors } from './trees.ts';
import { disposeReplaced, type Tree } from './util.ts';

export interface EmaConfig {
  /** Target decay in [0, 1]; e.g. 0.9999. */
  decay: number;
  /**
   * Warm-up of the decay for early updates:
   *   'none'            d = decay
   *   'tensorflow'      d = min(decay, (1 + step) / (10 + step))   (tf.train.ExponentialMovingAverage num_updates)
   *   { invGamma, power }  d = min(decay, 1 - (1 + step / invGamma)^-power)   (diffusers' EMAModel; defaults 1, 2/3)
   * Default 'none'.
   */
  warmup?: 'none' | 'tensorflow' | { invGamma?: number; power?: number };
}

export interface EmaState<P = Tree> {
  /** Updates done so far. */
  step: number;
  /** The averaged parameters (the structure of params). */
  params: P;
}

/** The per-update host scalars of an EMA update: d and 1 - d (both float64, from the step). */
export interface EmaScalars {
  decay: number;
  /** 1 - decay, computed on the host (a compiled step cannot compute it in float64). */
  rest: number;
}

/** The same scalars as numbers or rank-0 tensors (inside a compiled step). */
export interface EmaScalarArgs {
  decay: number | Tensor;
  rest: number | Tensor;
}

export interface Ema {
  /** The decay update number `step` (0-based) uses. */
  decayAt(step: number): number;
  /** { decay: decayAt(step), rest: 1 - decayAt(step) } (host float64): what `apply` takes. */
  scalars(step: number): EmaScalars;
  /**
   * The averaging math alone: avg * decay + params * rest per leaf, with the scalars given as
   * numbers or rank-0 tensors (inside a compiled step). Returns the new average tree. Pure.
   */
  apply<P extends Tree>(avg: P, params: P, scalars: EmaScalarArgs): P;
  /** State whose average starts at params (shares their buffers; tensors are immutable). */
  init<P extends Tree>(params: P): EmaState<P>;
  /** Pure: a new state; nothing disposed. */
  update<P extends Tree>(state: EmaState<P>, params: P): EmaState<P>;
  /** update, then dispose the old state's tensors (params are left alone). */
  step<P extends Tree>(state: EmaState<P>, params: P): EmaState<P>;
}

export function ema(cfg: EmaConfig): Ema {
  const op = 'ema';
  const decay = checkNumber(op, 'decay', cfg?.decay, 0, 1);
  const w = cfg.warmup ?? 'none';
  let decayAt: (step: number) => number;
  if (w === 'none') decayAt = () => decay;
  else if (w === 'tensorflow') decayAt = (s) => Math.min(decay, (1 + s) / (10 + s));
  else if (typeof w === 'object' && w !== null) {
    const invGamma = checkNumber(op, 'warmup.invGamma', w.invGamma ?? 1, 0, Infinity, true);
    const power = checkNumber(op, 'warmup.power', w.power ?? 2 / 3, 0, Infinity, true);
    decayAt = (s) => Math.min(decay, 1 - (1 + s / invGamma) ** -power);
  } else throw opError(op, `warmup must be 'none', 'tensorflow' or { invGamma, power }, got ${JSON.stringify(w)}`);

  const self: Ema = {
    decayAt(step) {
      if (!Number.isInteger(step) || step < 0) throw opError('ema.decayAt', `step must be a non-negative integer, got ${step}`);
      return decayAt(step);
    },
    scalars(step) {
      const d = self.decayAt(step);
      return { decay: d, rest: 1 - d };
    },
    apply(avg, params, sc) {
      const uop = 'ema.update';
      for (const k of ['decay', 'rest'] as const) {
        const v = sc?.[k];
        if (T.isTensor(v) ? v.rank !== 0 : typeof v !== 'number' || !Number.isFinite(v)) {
          throw opError(uop, `scalars.${k} must be a finite number or a rank-0 tensor, got ${T.isTensor(v) ? `a tensor of shape [${v.shape.join(', ')}]` : JSON.stringify(v)}`);
        }
      }
      const p = flattenTensors(uop, 'params', params);
      const e = flattenTensors(uop, 'state.params', avg);
      checkSameTree(uop, 'params', p, 'state.params', e);
      return T.tidy(() => treeUnflatten(p.def, p.leaves.map((pi: Tensor, i) => T.add(T.mul(e.leaves[i], sc.decay), T.mul(pi, sc.rest)))));
    },
    init(params) {
      const { leaves, def } = flattenTensors('ema.init', 'params', params);
      return { step: 0, params: treeUnflatten(def, leaves.map((t) => T.clone(t))) };
    },
    update(state, params) {
      const uop = 'ema.update';
      if (!state || !Number.isInteger(state.step) || state.step < 0) throw opError(uop, `state.step must be a non-negative integer (state from ema.init), got ${JSON.stringify(state?.step)}`);
      return { step: state.step + 1, params: self.apply(state.params, params, self.scalars(state.step)) };
    },
    step(state, params) {
      const next = self.update(state, params);
      disposeReplaced(state, next);
      return next;
    },
  };
  return self;
}
