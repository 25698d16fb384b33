// The MLP denoiser for vector data (the 2-D sets): an MLP on [x, sinusoidal(t)] with SiLU activations (@tapegrad/nn).
//   h = concat(x [B, d], emb(t) [B, E]) -> Linear(d + E, H) -> SiLU -> (Linear(H, H) -> SiLU) x (L - 1) -> Linear(H, d)
// emb is diffusers' get_timestep_embedding with flip_sin_to_cos=true, shift=0 (improved-diffusion).
// Optionally each coordinate of x is also given as sinusoidal features of scale * x (Fourier
// features, Tancik et al. 2020; tanelp/tiny-diffusion's "sinusoidal" input embedding), which
// lets a small MLP resolve thin structures such as the moons.

import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { mlp, sinusoidalEmbedding, type MlpParams } from '@tapegrad/nn';
import type { Model } from './model.ts';
import type { Denoiser, DenoiserApplyOptions } from './denoiser.ts';
import { ddpmError } from '../process/coef.ts';

export interface DenoiserConfig {
  /** Data dimension (2 for the toy sets). */
  dim: number;
  /** Width of the hidden layers. */
  hidden: number;
  /** Number of hidden layers (SiLU after each). */
  layers: number;
  /** Size of the sinusoidal time embedding. */
  timeEmbedDim: number;
  /** Sinusoidal features per coordinate of x (0: x only). Default 0. */
  xEmbedDim?: number;
  /** Scale of x in those features. Default 25. */
  xEmbedScale?: number;
  /**
   * Class-conditional: the number of classes; the label enters as a one-hot vector of
   * numClasses + 1 entries (the last is the null class of classifier-free guidance). Default: unconditional.
   */
  numClasses?: number;
}

export const DEFAULT_DENOISER: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32 };

export function initDenoiser(key: RandomKey, cfg: DenoiserConfig = DEFAULT_DENOISER): MlpParams {
  return mlp.init(key, {
    inFeatures: cfg.dim * (1 + (cfg.xEmbedDim ?? 0)) + cfg.timeEmbedDim + (cfg.numClasses ? cfg.numClasses + 1 : 0),
    hiddenFeatures: new Array<number>(cfg.layers).fill(cfg.hidden),
    outFeatures: cfg.dim,
    activation: 'silu',
  });
}

/** The network output for x [B, dim] at 0-based timesteps t [B] (and class labels [B] when cfg.numClasses is set). */
export function applyDenoiser(params: MlpParams, x: Tensor, t: Tensor, cfg: DenoiserConfig = DEFAULT_DENOISER, classLabels?: Tensor): Tensor {
  if (cfg.numClasses && classLabels === undefined) {
    throw ddpmError('mlpDenoiser.apply', `the model is class-conditional (numClasses ${cfg.numClasses}); expected classLabels [${x.shape[0]}] (use ${cfg.numClasses}, the null class, for unconditional)`);
  }
  if (!cfg.numClasses && classLabels !== undefined) {
    throw ddpmError('mlpDenoiser.apply', `got classLabels but the model is unconditional (config.numClasses is not set)`);
  }
  return T.tidy(() => {
    const emb = sinusoidalEmbedding(t, cfg.timeEmbedDim, { flipSinToCos: true, downscaleFreqShift: 0 });
    const parts = [x, emb];
    const xe = cfg.xEmbedDim ?? 0;
    if (xe > 0) {
      const [B, d] = x.shape as [number, number];
      const f = sinusoidalEmbedding(T.reshape(x, [B * d]), xe, { flipSinToCos: true, downscaleFreqShift: 0, scale: cfg.xEmbedScale ?? 25 });
      parts.push(T.reshape(f, [B, d * xe]));
    }
    if (classLabels !== undefined) parts.push(T.oneHot(classLabels, cfg.numClasses! + 1));
    return mlp.apply(params, T.concat(parts, 1), { activation: 'silu' });
  });
}

/** The params bound as a Model for the loss and the samplers. */
export function denoiserModel(params: MlpParams, cfg: DenoiserConfig = DEFAULT_DENOISER): Model {
  return (x, t) => applyDenoiser(params, x, t, cfg);
}

/**
 * The MLP as a Denoiser (the train loop's contract), bound to `cfg`: init(key, config) uses the
 * config it is given (the same cfg in practice; train passes its modelConfig), apply uses cfg.
 */
export function mlpDenoiser(cfg: DenoiserConfig = DEFAULT_DENOISER): Denoiser<MlpParams, DenoiserConfig> {
  return {
    init: (key, config) => initDenoiser(key, config ?? cfg),
    apply: (params, x, t, opts: DenoiserApplyOptions = {}) => applyDenoiser(params, x, t, cfg, opts.classLabels),
  };
}
