// conv2d and convTranspose2d over NCHW maps, with PyTorch's weight layouts and init.
//   conv2d           weight [out, in/groups, kh, kw] (OIHW), bias [out]
//   convTranspose2d  weight [in, out/groups, kh, kw] (PyTorch's ConvTranspose2d layout), bias [out]

import { checkInt, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Pair, RandomKey, Tensor } from '@tapegrad/tensor';
import { biasUniform, fanInOut, kaimingUniform } from './init.ts';
import { applying, paramTensor, type Layer, type Module } from './module.ts';

export interface ConvParams {
  weight: Tensor;
  bias?: Tensor;
}

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  /** Symmetric zero padding, 'valid' (0) or 'same' (stride 1, odd kernel). Default 0. */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  /** in and out channels must both be divisible by groups. Default 1. */
  groups?: number;
  bias?: boolean;
  /** Zero weight and bias (diffusion models' zero-initialised output convs). */
  zeroInit?: boolean;
}

/** What conv2d.apply needs besides params (groups is read off the shapes). */
export interface Conv2dApplyOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
}

function pair(op: string, name: string, v: Pair | undefined, min: number): [number, number] {
  const p = v === undefined ? undefined : typeof v === 'number' ? [v, v] : v;
  if (!p || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw opError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

function checkBias(op: string, params: ConvParams, channels: number): Tensor | undefined {
  if (params.bias === undefined) return undefined;
  const b = paramTensor(op, params, 'bias', '{weight, bias?}');
  if (b.rank !== 1 || b.shape[0] !== channels) throw opError(op, `params.bias has shape ${fmtShape(b.shape)}; expected [${channels}]`);
  return b;
}

const addChannelBias = (y: Tensor, b: Tensor | undefined): Tensor => (b ? T.add(y, T.reshape(b, [1, b.shape[0], 1, 1])) : y);

/**
 * PyTorch's default init of a (transposed) conv: kaiming-uniform weight and
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)) bias, fanIn computed from the weight layout, which is
 * [out, in/groups, kh, kw] for conv2d and [in, out/groups, kh, kw] for convTranspose2d
 * (PyTorch computes the transposed fan in from that layout too). zeroInit gives zeros.
 */
function initConvParams(op: string, key: RandomKey, cfg: Conv2dConfig | ConvTranspose2dConfig, transposed: boolean): ConvParams {
  const cin = checkInt(op, 'inChannels', cfg?.inChannels);
  const cout = checkInt(op, 'outChannels', cfg.outChannels);
  const groups = checkInt(op, 'groups', cfg.groups ?? 1);
  const [kh, kw] = pair(op, 'kernelSize', cfg.kernelSize, 1);
  if (cin % groups || cout % groups) {
    throw opError(op, `inChannels (${cin}) and outChannels (${cout}) must both be divisible by groups (${groups})`);
  }
  const shape = transposed ? [cin, cout / groups, kh, kw] : [cout, cin / groups, kh, kw];
  const [k1, k2] = T.splitKey(key, 2);
  const p: ConvParams = { weight: cfg.zeroInit ? T.zeros(shape) : kaimingUniform(k1, shape) };
  if (cfg.bias ?? true) p.bias = cfg.zeroInit ? T.zeros([cout]) : biasUniform(k2, [cout], fanInOut(shape).fanIn);
  return p;
}

export const conv2d: Layer<Conv2dConfig, ConvParams, Conv2dApplyOptions> = {
  name: 'conv2d',
  /** weight, bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)), fanIn = in/groups * kh * kw (PyTorch). */
  init(key: RandomKey, cfg: Conv2dConfig): ConvParams {
    return initConvParams('conv2d.init', key, cfg, false);
  },
  /** x [N, C, H, W] -> [N, out, H', W']; groups = C / weight.shape[1]. */
  apply(params: ConvParams, x: Tensor, opts: Conv2dApplyOptions = {}): Tensor {
    const op = 'conv2d';
    const w = paramTensor(op, params, 'weight', '{weight [out, in/groups, kh, kw], bias? [out]}');
    if (w.rank !== 4) throw opError(op, `params.weight must have rank 4 [out, in/groups, kh, kw], got ${fmtShape(w.shape)}`);
    const b = checkBias(op, params, w.shape[0]);
    return applying(op, x, (x) => {
      if (x.rank !== 4) throw opError(op, `input must have rank 4 (N, C, H, W), got ${fmtShape(x.shape)}`);
      const C = x.shape[1];
      const groups = C / w.shape[1];
      if (!Number.isInteger(groups) || w.shape[0] % groups !== 0) {
        throw opError(op, `input ${fmtShape(x.shape)} has ${C} channels but weight ${fmtShape(w.shape)} takes ${w.shape[1]} per group; expected channels = ${w.shape[1]} x groups with ${w.shape[0]} out channels divisible by groups`);
      }
      const y = T.conv2d(x, w, { stride: opts.stride, padding: opts.padding, dilation: opts.dilation, groups });
      return addChannelBias(y, b);
    });
  },
  module(cfg: Conv2dConfig): Module<ConvParams> {
    return { name: 'conv2d', init: (key) => conv2d.init(key, cfg), apply: (p, x) => conv2d.apply(p, x, cfg) };
  },
};

export interface ConvTranspose2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  zeroInit?: boolean;
}

export interface ConvTranspose2dApplyOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  /** Not recoverable from the weight shape; default 1. */
  groups?: number;
}

export const convTranspose2d: Layer<ConvTranspose2dConfig, ConvParams, ConvTranspose2dApplyOptions> = {
  name: 'convTranspose2d',
  /**
   * weight [in, out/groups, kh, kw]; PyTorch computes the fan in from this layout too, so
   * bound = 1/sqrt(out/groups * kh * kw) for weight and bias.
   */
  init(key: RandomKey, cfg: ConvTranspose2dConfig): ConvParams {
    return initConvParams('convTranspose2d.init', key, cfg, true);
  },
  /** x [N, in, H, W] -> [N, out, (H-1)*s - 2p + d(k-1) + op + 1, ...]. */
  apply(params: ConvParams, x: Tensor, opts: ConvTranspose2dApplyOptions = {}): Tensor {
    const op = 'convTranspose2d';
    const w = paramTensor(op, params, 'weight', '{weight [in, out/groups, kh, kw], bias? [out]}');
    if (w.rank !== 4) throw opError(op, `params.weight must have rank 4 [in, out/groups, kh, kw], got ${fmtShape(w.shape)}`);
    const groups = opts.groups ?? 1;
    const b = checkBias(op, params, w.shape[1] * groups);
    return applying(op, x, (x) => {
      if (x.rank !== 4) throw opError(op, `input must have rank 4 (N, C, H, W), got ${fmtShape(x.shape)}`);
      if (x.shape[1] !== w.shape[0]) {
        throw opError(op, `input ${fmtShape(x.shape)} has ${x.shape[1]} channels; expected ${w.shape[0]} (weight ${fmtShape(w.shape)} is [in, out/groups, kh, kw])`);
      }
      const y = T.convTranspose2d(x, w, { stride: opts.stride, padding: opts.padding, outputPadding: opts.outputPadding, dilation: opts.dilation, groups });
      return addChannelBias(y, b);
    });
  },
  module(cfg: ConvTranspose2dConfig): Module<ConvParams> {
    return { name: 'convTranspose2d', init: (key) => convTranspose2d.init(key, cfg), apply: (p, x) => convTranspose2d.apply(p, x, cfg) };
  },
};
