// embedding (PyTorch nn.Embedding: weight [num, dim] ~ N(0, 1), rows picked by index) and the
// sinusoidal timestep embedding of diffusion models.

import * as T from '@tapegrad/tensor';
import { isTensor, type RandomKey, type Tensor, checkInt, checkNumber, checkTensor, fmtShape, opError } from '@tapegrad/tensor';
import { normal } from './init.ts';
import { paramTensor, type Layer, type Module } from './module.ts';
import { constOn } from './util.ts';

export interface EmbeddingConfig {
  numEmbeddings: number;
  embeddingDim: number;
}

export interface EmbeddingParams {
  weight: Tensor;
}

/**
 * indices (a tensor of integer values, or a host array) -> [...indices.shape, dim]. The module
 * form takes the indices as its input tensor. Indices get no gradient. Tensor indices are
 * picked with `T.gather` (no host read of its own), so a compiled step can take them as an
 * argument; the index check runs where gather's does (not on webgpu; at trace time only).
 */
export const embedding: Layer<EmbeddingConfig, EmbeddingParams, unknown> & {
  apply(params: EmbeddingParams, indices: Tensor | readonly number[]): Tensor;
} = {
  name: 'embedding',
  init(key: RandomKey, cfg: EmbeddingConfig): EmbeddingParams {
    const op = 'embedding.init';
    const n = checkInt(op, 'numEmbeddings', cfg?.numEmbeddings);
    const d = checkInt(op, 'embeddingDim', cfg.embeddingDim);
    return { weight: normal(key, [n, d]) };
  },
  apply(params: EmbeddingParams, indices: Tensor | readonly number[]): Tensor {
    const op = 'embedding';
    const w = paramTensor(op, params, 'weight', '{weight [num, dim]}');
    if (w.rank !== 2) throw opError(op, `params.weight must have rank 2 [num, dim], got ${fmtShape(w.shape)}`);
    const n = w.shape[0];
    if (isTensor(indices)) {
      checkTensor(op, 'indices', indices);
      // No host read here: gather validates the indices itself (where the backend reads
      // synchronously; at trace time inside a compiled step, where a dataSync of a traced
      // label tensor would be refused); its error is restated in embedding's words.
      try {
        return T.gather(w, indices, 0);
      } catch (e) {
        const m = /^gather: index (\S+) at position (\d+) is not an integer/.exec((e as Error)?.message ?? '');
        if (!m) throw e;
        throw opError(op, `index ${m[1]} at position ${m[2]} of indices ${fmtShape(indices.shape)} is not an integer in [0, ${n}) (weight ${fmtShape(w.shape)})`);
      }
    }
    if (!Array.isArray(indices) && !ArrayBuffer.isView(indices)) throw opError(op, `indices must be a tensor or an array of integers, got ${typeof indices}`);
    const arr = Array.from(indices as ArrayLike<number>);
    const bad = arr.findIndex((i) => !Number.isInteger(i) || i < 0 || i >= n);
    if (bad >= 0) throw opError(op, `index ${arr[bad]} at position ${bad} is not an integer in [0, ${n}) (weight ${fmtShape(w.shape)})`);
    return T.gather(w, arr, 0);
  },
  module(cfg: EmbeddingConfig): Module<EmbeddingParams> {
    return { name: 'embedding', init: (key) => embedding.init(key, cfg), apply: (p, x) => embedding.apply(p, x) };
  },
};

export interface SinusoidalOptions {
  /** Default 10000. */
  maxPeriod?: number;
  /** Frequencies exp(-ln(maxPeriod) i / (half - shift)); default 1 (diffusers' default). */
  downscaleFreqShift?: number;
  /** [cos, sin] instead of [sin, cos]. Default false. */
  flipSinToCos?: boolean;
  /** Multiplies the arguments. Default 1. */
  scale?: number;
}

/**
 * Sinusoidal timestep embedding [B, dim] of timesteps [B] (diffusers' get_timestep_embedding):
 * half = floor(dim / 2), freq_i = exp(-ln(maxPeriod) * i / (half - downscaleFreqShift)),
 * out = [sin(scale t freq), cos(scale t freq)] (flipped with flipSinToCos), zero-padded to an
 * odd dim. Host timesteps are computed in float64 on the host and uploaded (exact up to the
 * final rounding); tensor timesteps are computed with ops (float32 arguments). No parameters.
 */
export function sinusoidalEmbedding(timesteps: Tensor | readonly number[], dim: number, opts: SinusoidalOptions = {}): Tensor {
  const op = 'sinusoidalEmbedding';
  checkInt(op, 'dim', dim);
  const maxPeriod = checkNumber(op, 'maxPeriod', opts.maxPeriod ?? 10000, 0, Infinity, true);
  const shift = checkNumber(op, 'downscaleFreqShift', opts.downscaleFreqShift ?? 1);
  const scale = checkNumber(op, 'scale', opts.scale ?? 1);
  const half = Math.floor(dim / 2);
  if (half > 0 && !(half - shift > 0)) {
    throw opError(op, `dim/2 - downscaleFreqShift must be > 0, got dim=${dim}, downscaleFreqShift=${shift}`);
  }
  const freqs = Float64Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / (half - shift)));
  const [first, second] = opts.flipSinToCos ? [Math.cos, Math.sin] : [Math.sin, Math.cos];
  if (!isTensor(timesteps)) {
    if (!Array.isArray(timesteps) && !ArrayBuffer.isView(timesteps)) throw opError(op, `timesteps must be a 1-D tensor or an array of numbers, got ${typeof timesteps}`);
    const ts = Array.from(timesteps as ArrayLike<number>);
    const bad = ts.findIndex((t) => typeof t !== 'number' || !Number.isFinite(t));
    if (bad >= 0) throw opError(op, `timestep ${ts[bad]} at position ${bad} is not a finite number`);
    const out = new Float64Array(ts.length * dim);
    ts.forEach((t, b) => {
      for (let i = 0; i < half; i++) {
        const arg = scale * (t * freqs[i]);
        out[b * dim + i] = first(arg);
        out[b * dim + half + i] = second(arg);
      }
    });
    return T.tensor(out, [ts.length, dim]);
  }
  checkTensor(op, 'timesteps', timesteps);
  if (timesteps.rank !== 1) throw opError(op, `timesteps must have rank 1 [B], got ${fmtShape(timesteps.shape)}`);
  const t = timesteps;
  return T.tidy(() => {
    const B = t.shape[0];
    if (half === 0) return constOn(t, new Float64Array(B * dim), [B, dim]);
    const args = T.mul(T.reshape(t, [B, 1]), T.reshape(constOn(t, freqs.map((f) => f * scale), [half]), [1, half]));
    const parts = opts.flipSinToCos ? [T.cos(args), T.sin(args)] : [T.sin(args), T.cos(args)];
    if (dim % 2) parts.push(constOn(t, new Float64Array(B), [B, 1]));
    return T.concat(parts, 1);
  });
}
