// Multi-head self-attention with PyTorch nn.MultiheadAttention's parameter names, so a
// state_dict maps one to one:
//   in_proj_weight  [3D, D]  rows [W_q; W_k; W_v]   xavier-uniform (as PyTorch)
//   in_proj_bias    [3D]                            zeros
//   out_proj.weight [D, D]                          kaiming-uniform(a = sqrt 5) (Linear default)
//   out_proj.bias   [D]                             zeros
// Head h uses features h*D/H .. (h+1)*D/H of q, k and v (PyTorch's split).

import { checkInt, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { stopGradient } from '@tapegrad/autograd';
import { kaimingUniform, xavierUniform } from './init.ts';
import { applying, paramTensor, type Layer, type Module } from './module.ts';
import { linear, type LinearParams } from './linear.ts';
import { constOn } from './util.ts';

export interface AttentionOptions {
  /** Mask out keys after the query position (decoder-style). Default false. */
  causal?: boolean;
}

/**
 * Softmax over `axis` written stably: exp(x - max(x)) / sum(exp(x - max(x))). The maximum is
 * a constant for differentiation (softmax does not depend on the shift), as in jax.nn.softmax.
 */
export function stableSoftmax(x: Tensor, axis = -1): Tensor {
  return T.tidy(() => {
    const e = T.exp(T.sub(x, stopGradient(T.max(x, axis, true))));
    return T.div(e, T.sum(e, axis, true));
  });
}

/**
 * softmax(q k^T / sqrt(d) [+ causal mask]) v over the last two axes: q [..., Tq, d],
 * k [..., Tk, d], v [..., Tk, dv] -> [..., Tq, dv]. Masked logits are set to -1e30 (not
 * -Infinity), so no row can produce NaN.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  if (q.rank < 2 || k.rank !== q.rank || v.rank !== q.rank) {
    throw opError(op, `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} must have the same rank >= 2`);
  }
  const d = q.shape[q.rank - 1];
  const Tq = q.shape[q.rank - 2];
  const Tk = k.shape[k.rank - 2];
  if (k.shape[k.rank - 1] !== d || v.shape[v.rank - 2] !== Tk) {
    throw opError(op, `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}: expected q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]`);
  }
  return T.tidy(() => {
    const perm = k.shape.map((_, i) => i);
    [perm[k.rank - 2], perm[k.rank - 1]] = [perm[k.rank - 1], perm[k.rank - 2]];
    let logits = T.mul(T.matmul(q, T.transpose(k, perm)), 1 / Math.sqrt(d));
    if (opts.causal) {
      const keep = new Float64Array(Tq * Tk);
      for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) keep[i * Tk + j] = j <= i ? 1 : 0;
      logits = T.where(constOn(q, keep, [Tq, Tk]), logits, -1e30);
    }
    return T.matmul(stableSoftmax(logits, -1), v);
  });
}

export interface MultiHeadSelfAttentionConfig {
  /** Embedding dimension D (channels C for NCHW input). */
  dim: number;
  /** Number of heads; must divide dim. */
  heads: number;
  /** in_proj_bias and out_proj.bias. Default true. */
  bias?: boolean;
  /** Zero the output projection (the residual branch starts as the identity). Default false. */
  zeroInitOut?: boolean;
}

export interface MultiHeadSelfAttentionParams {
  in_proj_weight: Tensor;
  in_proj_bias?: Tensor;
  out_proj: LinearParams;
}

export interface MultiHeadSelfAttentionApplyOptions extends AttentionOptions {
  heads: number;
}

const MHA_PARAMS = '{in_proj_weight [3D, D], in_proj_bias? [3D], out_proj: {weight [D, D], bias? [D]}}';

/**
 * apply(params, x, { heads, causal? }):
 *   x [B, T, D]     sequences -> [B, T, D]
 *   x [N, C, H, W]  feature maps: the H*W positions are the tokens (D = C) -> [N, C, H, W]
 */
export const multiHeadSelfAttention: Layer<MultiHeadSelfAttentionConfig, MultiHeadSelfAttentionParams, MultiHeadSelfAttentionApplyOptions> = {
  name: 'multiHeadSelfAttention',
  init(key: RandomKey, cfg: MultiHeadSelfAttentionConfig): MultiHeadSelfAttentionParams {
    const op = 'multiHeadSelfAttention.init';
    const D = checkInt(op, 'dim', cfg?.dim);
    const H = checkInt(op, 'heads', cfg.heads);
    if (D % H) throw opError(op, `dim (${D}) must be divisible by heads (${H})`);
    const [k1, k2] = T.splitKey(key, 2);
    const bias = cfg.bias ?? true;
    const p: MultiHeadSelfAttentionParams = {
      in_proj_weight: xavierUniform(k1, [3 * D, D]),
      out_proj: { weight: cfg.zeroInitOut ? T.zeros([D, D]) : kaimingUniform(k2, [D, D]) },
    };
    if (bias) {
      p.in_proj_bias = T.zeros([3 * D]);
      p.out_proj.bias = T.zeros([D]);
    }
    return p;
  },
  apply(params: MultiHeadSelfAttentionParams, x: Tensor, opts?: MultiHeadSelfAttentionApplyOptions): Tensor {
    const op = 'multiHeadSelfAttention';
    const H = checkInt(op, 'opts.heads', opts?.heads);
    const w = paramTensor(op, params, 'in_proj_weight', MHA_PARAMS);
    if (w.rank !== 2 || w.shape[0] !== 3 * w.shape[1]) throw opError(op, `params.in_proj_weight has shape ${fmtShape(w.shape)}; expected [3D, D]`);
    const D = w.shape[1];
    if (D % H) throw opError(op, `dim ${D} (from in_proj_weight ${fmtShape(w.shape)}) is not divisible by heads (${H})`);
    if (!params.out_proj || typeof params.out_proj !== 'object') throw opError(op, `params.out_proj is missing; expected params ${MHA_PARAMS}`);
    const inProj: LinearParams = { weight: w };
    if (params.in_proj_bias !== undefined) inProj.bias = paramTensor(op, params, 'in_proj_bias', MHA_PARAMS);
    return applying(op, x, (x) => {
      if (x.rank === 4) {
        const [N, C, Hh, Ww] = x.shape;
        if (C !== D) throw opError(op, `input ${fmtShape(x.shape)} has ${C} channels; expected ${D} (in_proj_weight ${fmtShape(w.shape)})`);
        const seq = T.transpose(T.reshape(x, [N, C, Hh * Ww]), [0, 2, 1]);
        const y = multiHeadSelfAttention.apply(params, seq, opts);
        return T.reshape(T.transpose(y, [0, 2, 1]), [N, C, Hh, Ww]);
      }
      if (x.rank !== 3) throw opError(op, `input must be [B, T, D] sequences or [N, C, H, W] maps, got ${fmtShape(x.shape)}`);
      const [B, Tn, Dx] = x.shape;
      if (Dx !== D) throw opError(op, `input ${fmtShape(x.shape)} has ${Dx} features; expected ${D} (in_proj_weight ${fmtShape(w.shape)})`);
      const dh = D / H;
      // [B, T, 3D] -> [B, T, 3, H, dh] -> [3, B, H, T, dh]
      const qkv = T.transpose(T.reshape(linear.apply(inProj, x), [B, Tn, 3, H, dh]), [2, 0, 3, 1, 4]);
      const part = (i: number) => T.reshape(T.slice(qkv, [i, 0, 0, 0, 0], [1, B, H, Tn, dh]), [B, H, Tn, dh]);
      const o = scaledDotProductAttention(part(0), part(1), part(2), { causal: opts?.causal });
      // [B, H, T, dh] -> [B, T, H, dh] -> [B, T, D]
      const merged = T.reshape(T.transpose(o, [0, 2, 1, 3]), [B, Tn, D]);
      return linear.apply(params.out_proj, merged);
    });
  },
  module(cfg: MultiHeadSelfAttentionConfig & AttentionOptions): Module<MultiHeadSelfAttentionParams> {
    return {
      name: 'multiHeadSelfAttention',
      init: (key) => multiHeadSelfAttention.init(key, cfg),
      apply: (p, x) => multiHeadSelfAttention.apply(p, x, { heads: cfg.heads, causal: cfg.causal }),
    };
  },
};
