// The demo's denoiser: an MLP on [x, sinusoidal(t)] with SiLU activations (@tapegrad/nn).
//   h = concat(x [B, d], emb(t) [B, E]) -> Linear(d + E, H) -> SiLU -> (Linear(H, H) -> SiLU) x (L - 1) -> Linear(H, d)
// emb is diffusers' get_timestep_embedding with flip_sin_to_cos=true, shift=0 (improved-diffusion).
// Optionally each coordinate of x is also given as sinusoidal features of scale * x (Fourier
// features, Tancik et al. 2020; tanelp/tiny-diffusion's "sinusoidal" input embedding), which
// lets a small MLP resolve thin structures such as the moons.

import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { mlp, sinusoidalEmbedding, type MlpParams } from '@tapegrad/nn';
import type { Model } from './model.ts';

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
}

export const DEFAULT_DENOISER: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32 };

export function initDenoiser(key: RandomKey, cfg: DenoiserConfig = DEFAULT_DENOISER): MlpParams {
  return mlp.init(key, {
    inFeatures: cfg.dim * (1 + (cfg.xEmbedDim ?? 0)) + cfg.timeEmbedDim,
    hiddenFeatures: new Array<number>(cfg.layers).fill(cfg.hidden),
    outFeatures: cfg.dim,
    activation: 'silu',
  });
}

/** The network output for x [B, dim] at 0-based timesteps t [B]. */
export function applyDenoiser(params: MlpParams, x: Tensor, t: Tensor, cfg: DenoiserConfig = DEFAULT_DENOISER): Tensor {
  return T.tidy(() => {
    const emb = sinusoidalEmbedding(t, cfg.timeEmbedDim, { flipSinToCos: true, downscaleFreqShift: 0 });
    const parts = [x, emb];
    const xe = cfg.xEmbedDim ?? 0;
    if (xe > 0) {
      const [B, d] = x.shape as [number, number];
      const f = sinusoidalEmbedding(T.reshape(x, [B * d]), xe, { flipSinToCos: true, downscaleFreqShift: 0, scale: cfg.xEmbedScale ?? 25 });
      parts.push(T.reshape(f, [B, d * xe]));
    }
    return mlp.apply(params, T.concat(parts, 1), { activation: 'silu' });
  });
}

/** The params bound as a Model for the loss and the samplers. */
export function denoiserModel(params: MlpParams, cfg: DenoiserConfig = DEFAULT_DENOISER): Model {
  return (x, t) => applyDenoiser(params, x, t, cfg);
}
