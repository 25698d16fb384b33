// The denoiser contract shared by the training loss and every sampler.

import type { Tensor } from '@tapegrad/tensor';
import { checkSameShape, ddpmError, fmtShape } from '../process/coef.ts';

/**
 * A denoiser: `model(x, t, cond?)` returns the prediction (eps, x0 or v, see PredictionType)
 * with the shape of `x`. `t` is a [B] tensor of 0-based timesteps (0..T-1, float32 values of
 * integers), the same convention in training and in every sampler. The returned tensor is
 * owned by the caller (the sampler or loss disposes it).
 */
export type Model = (x: Tensor, t: Tensor, cond?: Tensor) => Tensor;

/** Call the model and check that it returned a tensor of x's shape. */
export function callModel(fn: string, model: Model, x: Tensor, t: Tensor, cond?: Tensor): Tensor {
  if (typeof model !== 'function') throw ddpmError(fn, `model must be a function (x, t, cond?) => Tensor, got ${typeof model}`);
  const out = cond === undefined ? model(x, t) : model(x, t, cond);
  if (out === null || typeof out !== 'object' || typeof (out as Tensor).shape !== 'object') {
    throw ddpmError(fn, `model returned ${out === null ? 'null' : typeof out}; expected a Tensor with the shape of x ${fmtShape(x.shape)}`);
  }
  try {
    checkSameShape(fn, 'x_t', x, 'model output', out);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
