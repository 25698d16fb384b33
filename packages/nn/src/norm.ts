// groupNorm and layerNorm (PyTorch semantics: population variance, eps = 1e-5 inside the
// square root, per-channel / per-element affine weight (ones) and bias (zeros)).

import { checkInt, checkNumber, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { applying, paramTensor, type Layer, type Module } from './module.ts';
import { type NoParams } from './util.ts';

/** (x - mean) / sqrt(var + eps) over `axes` (population variance), written with primitives. */
export function normalize(x: Tensor, axes: number[], eps = 1e-5): Tensor {
  return T.tidy(() => {
    const xc = T.sub(x, T.mean(x, axes, true));
    const v = T.mean(T.square(xc), axes, true);
    return T.mul(xc, T.rsqrt(T.add(v, eps)));
  });
}

/** weight / bias of a norm layer; absent (params {}) without affine. */
export interface NormParams {
  weight?: Tensor;
  bias?: Tensor;
}

function affineParams(op: string, params: NormParams, shape: readonly number[]): { w?: Tensor; b?: Tensor } {
  if (params === null || typeof params !== 'object') throw opError(op, `params must be an object {weight?, bias?}, got ${typeof params}`);
  const out: { w?: Tensor; b?: Tensor } = {};
  for (const f of ['weight', 'bias'] as const) {
    if (params[f] === undefined) continue;
    const t = paramTensor(op, params, f, '{weight, bias}');
    if (t.rank !== shape.length || !t.shape.every((d, i) => d === shape[i])) {
      throw opError(op, `params.${f} has shape ${fmtShape(t.shape)}; expected ${fmtShape(shape)}`);
    }
    out[f === 'weight' ? 'w' : 'b'] = t;
  }
  return out;
}

export interface GroupNormConfig {
  /** Number of groups the channels are split into (PyTorch's num_groups). */
  groups: number;
  /** Number of channels (PyTorch's num_channels); divisible by groups. */
  channels: number;
  /** Default 1e-5. */
  eps?: number;
  /** Per-channel weight and bias. Default true. */
  affine?: boolean;
}

export interface GroupNormApplyOptions {
  groups: number;
  eps?: number;
}

export const groupNorm: Layer<GroupNormConfig, NormParams, GroupNormApplyOptions> = {
  name: 'groupNorm',
  init(_key: RandomKey, cfg: GroupNormConfig): NormParams {
    const op = 'groupNorm.init';
    const g = checkInt(op, 'groups', cfg?.groups);
    const c = checkInt(op, 'channels', cfg.channels);
    if (c % g) throw opError(op, `channels (${c}) must be divisible by groups (${g})`);
    if (cfg.eps !== undefined) checkNumber(op, 'eps', cfg.eps, 0);
    return cfg.affine ?? true ? { weight: T.ones([c]), bias: T.zeros([c]) } : {};
  },
  /** x [N, C, *spatial]: statistics over each group of C/groups channels and all spatial positions. */
  apply(params: NormParams, x: Tensor, opts?: GroupNormApplyOptions): Tensor {
    const op = 'groupNorm';
    const g = checkInt(op, 'opts.groups', opts?.groups);
    const eps = checkNumber(op, 'eps', opts?.eps ?? 1e-5, 0);
    return applying(op, x, (x) => {
      if (x.rank < 2) throw opError(op, `input must have rank >= 2 (N, C, *spatial), got ${fmtShape(x.shape)}`);
      const C = x.shape[1];
      if (C % g) throw opError(op, `input ${fmtShape(x.shape)} has ${C} channels; expected a multiple of groups (${g})`);
      const { w, b } = affineParams(op, params, [C]);
      // the fused op (statistics, normalize and affine in one primitive, with a fused VJP)
      return T.groupNorm(x, g, { gamma: w, beta: b, eps });
    });
  },
  module(cfg: GroupNormConfig): Module<NormParams> {
    return { name: 'groupNorm', init: (key) => groupNorm.init(key, cfg), apply: (p, x) => groupNorm.apply(p, x, cfg) };
  },
};

export interface LayerNormConfig {
  /** The trailing dimensions normalized over (PyTorch's normalized_shape). */
  normalizedShape: number | readonly number[];
  eps?: number;
  /** weight and bias of shape normalizedShape. Default true. */
  elementwiseAffine?: boolean;
}

export interface LayerNormApplyOptions {
  /** Needed only without affine params (otherwise read off params.weight). */
  normalizedShape?: number | readonly number[];
  eps?: number;
}

function normShape(op: string, s: number | readonly number[] | undefined): number[] {
  const list = typeof s === 'number' ? [s] : Array.isArray(s) ? s.slice() : undefined;
  if (!list || list.length === 0 || !list.every((d) => Number.isInteger(d) && d >= 1)) {
    throw opError(op, `normalizedShape must be a positive integer or a non-empty array of them, got ${JSON.stringify(s)}`);
  }
  return list;
}

export const layerNorm: Layer<LayerNormConfig, NormParams, LayerNormApplyOptions> = {
  name: 'layerNorm',
  init(_key: RandomKey, cfg: LayerNormConfig): NormParams | NoParams {
    const op = 'layerNorm.init';
    const s = normShape(op, cfg?.normalizedShape);
    if (cfg.eps !== undefined) checkNumber(op, 'eps', cfg.eps, 0);
    return cfg.elementwiseAffine ?? true ? { weight: T.ones(s), bias: T.zeros(s) } : {};
  },
  /** Normalize x [..., *normalizedShape] over its trailing normalizedShape dimensions. */
  apply(params: NormParams, x: Tensor, opts: LayerNormApplyOptions = {}): Tensor {
    const op = 'layerNorm';
    const eps = checkNumber(op, 'eps', opts.eps ?? 1e-5, 0);
    const s = params?.weight ? params.weight.shape.slice() : normShape(op, opts.normalizedShape);
    return applying(op, x, (x) => {
      const lead = x.rank - s.length;
      if (lead < 0 || !s.every((d, i) => x.shape[lead + i] === d)) {
        throw opError(op, `input ${fmtShape(x.shape)} does not end with the normalized shape ${fmtShape(s)}`);
      }
      const { w, b } = affineParams(op, params, s);
      const y = normalize(x, s.map((_, i) => lead + i), eps);
      const yw = w ? T.mul(y, w) : y;
      return b ? T.add(yw, b) : yw;
    });
  },
  module(cfg: LayerNormConfig): Module<NormParams> {
    return { name: 'layerNorm', init: (key) => layerNorm.init(key, cfg), apply: (p, x) => layerNorm.apply(p, x, cfg) };
  },
};
