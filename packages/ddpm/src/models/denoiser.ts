// The trainable denoiser contract shared by the MLP (models/mlp.ts) and the UNet
// (models/unet2d.ts): a pure `init` / `apply` pair over a params tree, as every @tapegrad/nn layer.

import type { RandomKey, Tensor } from '@tapegrad/tensor';
import type { Model } from './model.ts';

export interface DenoiserApplyOptions {
  /**
   * Class labels [B] (float values of integers 0..numClasses, where numClasses itself is the
   * learned null class used by classifier-free guidance). Absent for an unconditional model.
   */
  classLabels?: Tensor;
  /** Training mode (dropout on). Default false. */
  train?: boolean;
  /** Randomness of training mode (dropout); required when train is true and the model has dropout. */
  key?: RandomKey;
}

/**
 * A denoiser family: `init(key, config)` makes fresh parameters, `apply(params, x, t, opts)` returns
 * the prediction (eps, x0 or v) with the shape of x for 0-based timesteps t [B] (float32 values of
 * integers, the same convention as Model). `config` must be JSON-serializable: it is written into
 * checkpoints and compared on resume.
 */
export interface Denoiser<P = any, C = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  init(key: RandomKey, config: C): P;
  apply(params: P, x: Tensor, t: Tensor, opts?: DenoiserApplyOptions): Tensor;
}

/**
 * Bind parameters to a Model (what `sample` and `diffusionLoss` call): the third argument of the
 * model (cond) becomes `classLabels`. Evaluation mode (train: false).
 */
export function denoiserAsModel<P>(denoiser: Denoiser<P>, params: P): Model {
  return (x, t, cond) => denoiser.apply(params, x, t, cond === undefined ? {} : { classLabels: cond });
}
