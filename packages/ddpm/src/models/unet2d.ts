// diffusers' UNet2DModel, name for name and operation for operation, written with
// @tapegrad/nn layers and @tapegrad/tensor ops (read from diffusers' unet_2d.py,
// unet_2d_blocks.py, resnet.py, attention_processor.py, embeddings.py, downsampling.py,
// upsampling.py; our own code).
//
//   params = unet2d.init(key, config)          a pytree whose treeFlattenWithPath names are
//                                               exactly diffusers' state_dict() keys
//   y = unet2d.apply(params, x, t, { config, classLabels?, train?, key? })
//
// x [B, inChannels, H, W] (H and W divisible by 2^(levels-1)), t [B] 0-based timesteps
// (float values), classLabels [B] integer labels in [0, numClassEmbeds) when the config has
// numClassEmbeds. Returns [B, outChannels, H, W].

import * as T from '@tapegrad/tensor';
import { publicOp } from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import * as nn from '@tapegrad/nn';
import type { ConvParams, LinearParams, NormParams } from '@tapegrad/nn';
import {
  architecture, resolveUNet2DConfig, unet2dParamSpec, unetError,
  type AttentionSpec, type ParamSpec, type ResnetSpec, type ResolvedUNet2DConfig, type UNet2DConfig,
} from './unet2d-config.ts';

// ------------------------------------------------------------------------------------------
// Parameter tree types (keys = diffusers' module names).

export interface ResnetBlock2DParams {
  norm1: NormParams;
  conv1: ConvParams;
  time_emb_proj: LinearParams;
  norm2: NormParams;
  conv2: ConvParams;
  conv_shortcut?: ConvParams;
}

/** diffusers' Attention as built by the UNet2D blocks (_from_deprecated_attn_block, bias, residual). */
export interface AttentionParams {
  group_norm?: NormParams;
  to_q: LinearParams;
  to_k: LinearParams;
  to_v: LinearParams;
  /** to_out.0 (to_out.1 is a parameterless dropout in diffusers). */
  to_out: [LinearParams];
}

export interface DownBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: AttentionParams[];
  downsamplers?: [{ conv: ConvParams }];
}

export interface UpBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: AttentionParams[];
  upsamplers?: [{ conv: ConvParams }];
}

export interface MidBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: AttentionParams[];
}

export interface UNet2DParams {
  conv_in: ConvParams;
  time_embedding: { linear_1: LinearParams; linear_2: LinearParams };
  class_embedding?: { weight: Tensor };
  down_blocks: DownBlockParams[];
  mid_block?: MidBlockParams;
  up_blocks: UpBlockParams[];
  conv_norm_out: NormParams;
  conv_out: ConvParams;
}

export interface UNet2DApplyOptions {
  /** The config the params were made for (the one passed to unet2d.init). */
  config: UNet2DConfig;
  /** [B] integer class labels (a tensor or host numbers), required iff config.numClassEmbeds is set. */
  classLabels?: Tensor | readonly number[];
  /** Training mode: dropout (config.dropout > 0) is active and needs `key`. Default false. */
  train?: boolean;
  /** Randomness for dropout in training mode; resnet i (in forward order) uses foldIn(key, i). */
  key?: RandomKey;
}

const OP = 'unet2d.apply';

// ------------------------------------------------------------------------------------------
// Building the tree from flat names.

/** Nested objects from dotted names; a segment made of digits indexes an array. */
export function treeFromEntries<V>(entries: readonly (readonly [string, V])[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [name, v] of entries) {
    const parts = name.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]);
      const slot = (node as Record<string, unknown>)[part];
      if (last) {
        (node as Record<string, unknown>)[part] = v;
      } else {
        if (slot === undefined) (node as Record<string, unknown>)[part] = nextIsIndex ? [] : {};
        node = (node as Record<string, unknown>)[part] as Record<string, unknown>;
      }
    });
  }
  return root;
}

function initTensor(s: ParamSpec, key: RandomKey): Tensor {
  switch (s.init) {
    case 'kaiming': return nn.kaimingUniform(key, s.shape);
    case 'bias': return nn.biasUniform(key, s.shape, s.fanIn!);
    case 'ones': return T.ones(s.shape);
    case 'zeros': return T.zeros(s.shape);
    case 'normal': return nn.normal(key, s.shape);
  }
}

// ------------------------------------------------------------------------------------------
// Checking params against the config.

const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

/**
 * Compare a params tree with the tensors the config needs; throws `<fn>: params do not match
 * the config (N problems): missing 'name' [shape]; shape of 'name': ...; unexpected 'name'`.
 */
export function checkUNet2DParams(params: unknown, config: UNet2DConfig, fn = OP): void {
  if (params === null || typeof params !== 'object') {
    throw unetError(fn, `params must be the tree returned by unet2d.init (or importDiffusers), got ${params === null ? 'null' : typeof params}`);
  }
  const spec = unet2dParamSpec(config, fn);
  const have = new Map<string, unknown>(T.treeFlattenWithPath(params));
  const problems: string[] = [];
  for (const s of spec) {
    const t = have.get(s.name);
    if (t === undefined) {
      problems.push(`missing '${s.name}' ${fmtShape(s.shape)}`);
      continue;
    }
    have.delete(s.name);
    if (!T.isTensor(t)) {
      problems.push(`'${s.name}' is ${t === null ? 'null' : typeof t}, not a tensor`);
    } else if (t.isDisposed) {
      problems.push(`'${s.name}' ${fmtShape(t.shape)} was already disposed`);
    } else if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      problems.push(`shape of '${s.name}' is ${fmtShape(t.shape)}; expected ${fmtShape(s.shape)}`);
    }
  }
  for (const name of have.keys()) problems.push(`unexpected '${name}'`);
  if (problems.length) {
    const shown = problems.slice(0, 12).join('; ') + (problems.length > 12 ? `; ... (${problems.length - 12} more)` : '');
    throw unetError(fn, `params do not match the config (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${shown}`);
  }
}

// ------------------------------------------------------------------------------------------
// Blocks.

type Act = (x: Tensor) => Tensor;

function activation(name: ResolvedUNet2DConfig['actFn']): Act {
  switch (name) {
    case 'silu':
    case 'swish': return T.silu;
    case 'gelu': return T.gelu;
    case 'relu': return T.relu;
  }
}

interface Ctx {
  c: ResolvedUNet2DConfig;
  act: Act;
  /** act(temb), shared by every resnet (diffusers recomputes it in each; same numbers). */
  tembAct: Tensor;
  train: boolean;
  key?: RandomKey;
  resnetIndex: number;
}

/** diffusers' ResnetBlock2D (pre-norm, time_embedding_norm 'default' or 'scale_shift'). */
function resnetBlock(p: ResnetBlock2DParams, x: Tensor, s: ResnetSpec, ctx: Ctx): Tensor {
  const { c, act } = ctx;
  const index = ctx.resnetIndex++;
  const gn = { groups: c.normNumGroups, eps: c.normEps };
  let h = act(nn.groupNorm.apply(p.norm1, x, gn));
  h = nn.conv2d.apply(p.conv1, h, { padding: 1 });
  const tp = nn.linear.apply(p.time_emb_proj, ctx.tembAct); // [B, C] or [B, 2C]
  const B = tp.shape[0];
  if (c.resnetTimeScaleShift === 'default') {
    h = T.add(h, T.reshape(tp, [B, s.outChannels, 1, 1]));
    h = nn.groupNorm.apply(p.norm2, h, gn);
  } else {
    const scale = T.reshape(T.slice(tp, [0, 0], [B, s.outChannels]), [B, s.outChannels, 1, 1]);
    const shift = T.reshape(T.slice(tp, [0, s.outChannels], [B, s.outChannels]), [B, s.outChannels, 1, 1]);
    h = T.add(T.mul(nn.groupNorm.apply(p.norm2, h, gn), T.add(scale, 1)), shift);
  }
  h = act(h);
  if (ctx.train && c.dropout > 0) {
    if (!ctx.key) throw unetError(OP, `train: true with config.dropout = ${c.dropout} needs opts.key (a RandomKey for the dropout masks)`);
    h = nn.dropout.apply({}, h, { rate: c.dropout, key: T.foldIn(ctx.key, index) });
  }
  h = nn.conv2d.apply(p.conv2, h, { padding: 1 });
  const shortcut = p.conv_shortcut ? nn.conv2d.apply(p.conv_shortcut, x) : x;
  const out = T.add(shortcut, h);
  return s.outputScaleFactor === 1 ? out : T.div(out, s.outputScaleFactor);
}

/**
 * diffusers' Attention over the H*W positions of a feature map, as the UNet2D blocks build it:
 * optional GroupNorm, q/k/v/out linears with bias, softmax(q k^T / sqrt(headDim)) v per head,
 * the residual added, then divided by rescaleOutputFactor.
 */
function attentionBlock(p: AttentionParams, x: Tensor, s: AttentionSpec, c: ResolvedUNet2DConfig): Tensor {
  const [B, C, H, W] = x.shape;
  const N = H * W;
  const { heads, headDim } = s;
  const inner = heads * headDim;
  const normed = s.groupNorm !== null && p.group_norm ? nn.groupNorm.apply(p.group_norm, x, { groups: s.groupNorm, eps: c.normEps }) : x;
  const seq = T.transpose(T.reshape(normed, [B, C, N]), [0, 2, 1]); // [B, N, C]
  const split = (lin: LinearParams) => T.transpose(T.reshape(nn.linear.apply(lin, seq), [B, N, heads, headDim]), [0, 2, 1, 3]); // [B, heads, N, hd]
  const o = nn.scaledDotProductAttention(split(p.to_q), split(p.to_k), split(p.to_v)); // [B, heads, N, hd]
  const merged = T.reshape(T.transpose(o, [0, 2, 1, 3]), [B, N, inner]);
  const out = T.reshape(T.transpose(nn.linear.apply(p.to_out[0], merged), [0, 2, 1]), [B, C, H, W]);
  const res = T.add(out, x);
  return s.rescaleOutputFactor === 1 ? res : T.div(res, s.rescaleOutputFactor);
}

/** diffusers' Downsample2D(use_conv=True): 3x3 stride-2 conv; padding 0 first pads right and bottom by one. */
function downsample(p: { conv: ConvParams }, x: Tensor, padding: number): Tensor {
  if (padding === 0) return nn.conv2d.apply(p.conv, T.pad(x, [[0, 0], [0, 0], [0, 1], [0, 1]]), { stride: 2 });
  return nn.conv2d.apply(p.conv, x, { stride: 2, padding });
}

/** diffusers' Upsample2D(use_conv=True): nearest x2, then a 3x3 conv. */
function upsample(p: { conv: ConvParams }, x: Tensor): Tensor {
  return nn.conv2d.apply(p.conv, T.upsampleNearest2d(x, 2), { padding: 1 });
}

// ------------------------------------------------------------------------------------------
// Arguments.

function checkInputs(c: ResolvedUNet2DConfig, x: unknown, t: unknown, labels: unknown): { B: number; tHost: number[] | null } {
  if (!T.isTensor(x)) throw unetError(OP, `x must be a Tensor [B, ${c.inChannels}, H, W], got ${x === null ? 'null' : typeof x}`);
  if (x.isDisposed) throw unetError(OP, `x ${fmtShape(x.shape)} was already disposed; expected a live tensor`);
  const levels = c.blockOutChannels.length;
  const m = 2 ** (levels - 1);
  if (x.rank !== 4 || x.shape[1] !== c.inChannels) {
    throw unetError(OP, `x has shape ${fmtShape(x.shape)}; expected [B, ${c.inChannels}, H, W] (config.inChannels = ${c.inChannels})`);
  }
  const [B, , H, W] = x.shape;
  if (H % m || W % m) {
    throw unetError(OP, `x has shape ${fmtShape(x.shape)}: height ${H} and width ${W} must be multiples of ${m} (2^(levels-1) with ${levels} entries in blockOutChannels), so that every upsampled map matches its skip connection`);
  }
  let tHost: number[] | null = null;
  if (typeof t === 'number') {
    if (!Number.isFinite(t)) throw unetError(OP, `t must be finite, got ${t}`);
    tHost = Array(B).fill(t);
  } else if (Array.isArray(t) || ArrayBuffer.isView(t)) {
    const arr = Array.from(t as ArrayLike<number>);
    if (arr.length !== B) throw unetError(OP, `t has ${arr.length} entries but x has a batch of ${B}; expected one timestep per sample`);
    const bad = arr.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0) throw unetError(OP, `t[${bad}] = ${String(arr[bad])} is not a finite number`);
    tHost = arr;
  } else if (T.isTensor(t)) {
    if (t.isDisposed) throw unetError(OP, `t ${fmtShape(t.shape)} was already disposed; expected a live tensor`);
    if (!(t.rank === 0 || (t.rank === 1 && t.shape[0] === B))) {
      throw unetError(OP, `t has shape ${fmtShape(t.shape)}; expected [${B}] (one 0-based timestep per sample of x ${fmtShape(x.shape)}) or a scalar`);
    }
  } else {
    throw unetError(OP, `t must be a Tensor [B], a number or an array of numbers, got ${t === null ? 'null' : typeof t}`);
  }
  const hasClasses = c.numClassEmbeds !== null;
  if (hasClasses && labels === undefined) {
    throw unetError(OP, `config.numClassEmbeds = ${c.numClassEmbeds}: opts.classLabels is required ([${B}] integer labels in [0, ${c.numClassEmbeds}))`);
  }
  if (!hasClasses && labels !== undefined) {
    throw unetError(OP, 'opts.classLabels was given but the config has no class embedding (numClassEmbeds is null)');
  }
  if (hasClasses) {
    const n = T.isTensor(labels) ? (labels.rank === 1 ? labels.shape[0] : -1) : Array.isArray(labels) ? labels.length : -2;
    if (n === -2) throw unetError(OP, `opts.classLabels must be a Tensor [B] or an array of integers, got ${labels === null ? 'null' : typeof labels}`);
    if (n !== B) {
      throw unetError(OP, `opts.classLabels has ${T.isTensor(labels) ? `shape ${fmtShape(labels.shape)}` : `${n} entries`}; expected [${B}] (one label per sample of x ${fmtShape(x.shape)})`);
    }
  }
  return { B, tHost };
}

// ------------------------------------------------------------------------------------------
// The model.

function init(key: RandomKey, config: UNet2DConfig): UNet2DParams {
  const spec = unet2dParamSpec(config, 'unet2d.init');
  if (!(key instanceof T.RandomKey)) throw unetError('unet2d.init', `key must be a RandomKey (T.randomKey(seed)), got ${key === null ? 'null' : typeof key}`);
  const keys = T.splitKey(key, spec.length);
  const entries: [string, Tensor][] = [];
  try {
    spec.forEach((s, i) => entries.push([s.name, initTensor(s, keys[i])]));
  } catch (e) {
    T.dispose(entries.map((e) => e[1]));
    throw e;
  }
  return treeFromEntries(entries) as unknown as UNet2DParams;
}

function apply(params: UNet2DParams, x: Tensor, t: Tensor | number | readonly number[], opts: UNet2DApplyOptions): Tensor {
  if (opts === null || typeof opts !== 'object' || opts.config === undefined) {
    throw unetError(OP, 'opts.config is required: pass { config } with the config given to unet2d.init (or use unet2d.module(config) / unet2d.model(params, config))');
  }
  const c = resolveUNet2DConfig(opts.config, OP);
  checkUNet2DParams(params, c);
  const { B, tHost } = checkInputs(c, x, t, opts.classLabels);
  if (opts.train && c.dropout > 0 && !(opts.key instanceof T.RandomKey)) {
    throw unetError(OP, `train: true with config.dropout = ${c.dropout} needs opts.key (a RandomKey for the dropout masks)`);
  }
  const a = architecture(c);
  const boc0 = c.blockOutChannels[0];
  return T.tidy(() => {
    // 0. center
    let h: Tensor = c.centerInputSample ? T.sub(T.mul(x, 2), 1) : x;
    // 1. time (+ class) embedding
    const sinOpts = { flipSinToCos: c.flipSinToCos, downscaleFreqShift: c.freqShift };
    let tEmb: Tensor;
    if (tHost) tEmb = T.useBackend(x.backend, () => nn.sinusoidalEmbedding(tHost, boc0, sinOpts));
    else {
      const tt = t as Tensor;
      const tb = tt.rank === 0 ? T.broadcastTo(T.reshape(tt, [1]), [B]) : tt;
      tEmb = nn.sinusoidalEmbedding(tb, boc0, sinOpts);
    }
    let emb = nn.linear.apply(params.time_embedding.linear_2, T.silu(nn.linear.apply(params.time_embedding.linear_1, tEmb)));
    if (c.numClassEmbeds !== null) {
      const labels = opts.classLabels!;
      const rows = T.isTensor(labels) ? nn.embedding.apply(params.class_embedding!, labels) : T.useBackend(x.backend, () => nn.embedding.apply(params.class_embedding!, labels));
      emb = T.add(emb, rows);
    }
    const act = activation(c.actFn);
    const ctx: Ctx = { c, act, tembAct: act(emb), train: opts.train ?? false, key: opts.key, resnetIndex: 0 };
    // 2. conv_in
    h = nn.conv2d.apply(params.conv_in, h, { padding: 1 });
    // 3. down
    const skips: Tensor[] = [h];
    a.down.forEach((spec, i) => {
      const p = params.down_blocks[i];
      spec.resnets.forEach((r, j) => {
        h = resnetBlock(p.resnets[j], h, r, ctx);
        if (spec.attentions) h = attentionBlock(p.attentions![j], h, spec.attentions[j], c);
        skips.push(h);
      });
      if (spec.downsample) {
        h = downsample(p.downsamplers![0], h, c.downsamplePadding);
        skips.push(h);
      }
    });
    // 4. mid
    if (a.mid) {
      const p = params.mid_block!;
      h = resnetBlock(p.resnets[0], h, a.mid.resnets[0], ctx);
      if (a.mid.attentions) h = attentionBlock(p.attentions![0], h, a.mid.attentions[0], c);
      h = resnetBlock(p.resnets[1], h, a.mid.resnets[1], ctx);
    }
    // 5. up
    a.up.forEach((spec, i) => {
      const p = params.up_blocks[i];
      spec.resnets.forEach((r, j) => {
        h = T.concat([h, skips.pop()!], 1);
        h = resnetBlock(p.resnets[j], h, r, ctx);
        if (spec.attentions) h = attentionBlock(p.attentions![j], h, spec.attentions[j], c);
      });
      if (spec.upsample) h = upsample(p.upsamplers![0], h);
    });
    // 6. out (diffusers' conv_act is always SiLU)
    h = T.silu(nn.groupNorm.apply(params.conv_norm_out, h, { groups: c.normNumGroups, eps: c.normEps }));
    return nn.conv2d.apply(params.conv_out, h, { padding: 1 });
  });
}

/** The UNet with its config bound: `init(key)`, `apply(params, x, t, { classLabels?, train?, key? })`. */
export interface UNet2DModule {
  readonly config: ResolvedUNet2DConfig;
  init(key: RandomKey): UNet2DParams;
  apply(params: UNet2DParams, x: Tensor, t: Tensor | number | readonly number[], opts?: Omit<UNet2DApplyOptions, 'config'>): Tensor;
}

/** The denoiser contract of @tapegrad/ddpm: (x, t, cond?) => prediction, cond = class labels. */
export type UNet2DModel = (x: Tensor, t: Tensor, cond?: Tensor) => Tensor;

export const unet2d = {
  name: 'unet2d',
  /** New params (PyTorch's default initialisers: kaiming-uniform conv/linear, ones/zeros GroupNorm, N(0,1) embedding). */
  init,
  /** The forward pass of diffusers' UNet2DModel (a public op: an error inside starts with `unet2d.apply:`). */
  apply: publicOp('unet2d.apply', apply),
  /** diffusers' defaults filled in, every value checked. */
  resolveConfig: (config: UNet2DConfig): ResolvedUNet2DConfig => resolveUNet2DConfig(config, 'unet2d.resolveConfig'),
  /** diffusers' state_dict() names and shapes for a config, in diffusers' order. */
  paramSpec: (config: UNet2DConfig): { name: string; shape: number[] }[] => unet2dParamSpec(config, 'unet2d.paramSpec').map(({ name, shape }) => ({ name, shape })),
  /** Throw a readable error unless params fit the config (missing, unexpected and misshaped tensors). */
  checkParams: (params: unknown, config: UNet2DConfig): void => checkUNet2DParams(params, config, 'unet2d.checkParams'),
  /**
   * The label of "no class" under this package's classifier-free-guidance convention: a model
   * for K classes is built with numClassEmbeds = K + 1 and the last row (index K) is the learned
   * null class (diffusers has no built-in null class). Throws when the config has no class embedding.
   */
  nullClassLabel(config: UNet2DConfig): number {
    const c = resolveUNet2DConfig(config, 'unet2d.nullClassLabel');
    if (c.numClassEmbeds === null) throw unetError('unet2d.nullClassLabel', 'the config has no class embedding (numClassEmbeds is null)');
    if (c.numClassEmbeds < 2) throw unetError('unet2d.nullClassLabel', `numClassEmbeds = ${c.numClassEmbeds} leaves no room for a null class; use numClasses + 1`);
    return c.numClassEmbeds - 1;
  },
  /** The UNet with its config bound. */
  module(config: UNet2DConfig): UNet2DModule {
    const c = resolveUNet2DConfig(config, 'unet2d.module');
    return {
      config: c,
      init: (key) => init(key, c),
      apply: (params, x, t, opts = {}) => apply(params, x, t, { ...opts, config: c }),
    };
  },
  /**
   * A @tapegrad/ddpm Model `(x, t, cond?) => Tensor` in evaluation mode: cond is passed as the
   * class labels (a [B] tensor), so samplers, classifier-free guidance and the loss use the UNet
   * as they use any denoiser. The params are not copied (do not dispose them while in use).
   */
  model(params: UNet2DParams, config: UNet2DConfig): UNet2DModel {
    const c = resolveUNet2DConfig(config, 'unet2d.model');
    checkUNet2DParams(params, c, 'unet2d.model');
    return (x, t, cond) => apply(params, x, t, cond === undefined ? { config: c } : { config: c, classLabels: cond });
  },
};
