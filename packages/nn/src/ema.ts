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

export interface Ema {
  /** The decay update number `step` (0-based) uses. */
  decayAt(step: number): number;
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
    init(params) {
      const { leaves, def } = flattenTensors('ema.init', 'params', params);
      return { step: 0, params: treeUnflatten(def, leaves.map((t) => T.clone(t))) };
    },
    update(state, params) {
      const uop = 'ema.update';
      if (!state || !Number.isInteger(state.step) || state.step < 0) throw opError(uop, `state.step must be a non-negative integer (state from ema.init), got ${JSON.stringify(state?.step)}`);
      const p = flattenTensors(uop, 'params', params);
      const e = flattenTensors(uop, 'state.params', state.params);
      checkSameTree(uop, 'params', p, 'state.params', e);
      const d = self.decayAt(state.step);
      return T.tidy(() => ({
        step: state.step + 1,
        params: treeUnflatten(p.def, p.leaves.map((pi: Tensor, i) => T.add(T.mul(e.leaves[i], d), T.mul(pi, 1 - d)))),
      }));
    },
    step(state, params) {
      const next = self.update(state, params);
      disposeReplaced(state, next);
      return next;
    },
  };
  return self;
}
