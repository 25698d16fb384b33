// Parameterless layers: activations (relu, silu, gelu, tanh, sigmoid), dropout (keyed),
// flatten, upsample (nearest) and pooling. An activation object is both a Layer and a Module
// (init returns {}), so it goes straight into sequential: sequential(lin, relu, lin2).

import { checkNumber, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Pair, RandomKey, Tensor } from '@tapegrad/tensor';
import { applying, type Context, type Layer, type Module } from './module.ts';
import { withBackendOf, type NoParams } from './util.ts';

export type ActivationName = 'relu' | 'silu' | 'gelu' | 'tanh' | 'sigmoid' | 'identity';

/** A layer without parameters that is also usable directly as a Module. */
export type ParameterlessLayer<Opts = unknown> = Layer<void | undefined, NoParams, Opts> & Module<NoParams>;

function parameterless(name: string, f: (x: Tensor) => Tensor): ParameterlessLayer {
  const layer: ParameterlessLayer = {
    name,
    init: () => ({}) as NoParams,
    apply: (_p, x) => applying(name, x, f),
    module: () => layer,
  };
  return layer;
}

/** max(x, 0). */
export const relu = parameterless('relu', T.relu);
/** x * sigmoid(x) (swish). */
export const silu = parameterless('silu', T.silu);
/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default approximate='none'). */
export const gelu = parameterless('gelu', T.gelu);
export const tanh = parameterless('tanh', T.tanh);
export const sigmoid = parameterless('sigmoid', T.sigmoid);
/** The input unchanged (a new tensor object sharing its buffer). */
export const identity = parameterless('identity', T.clone);

const ACTIVATIONS: Record<ActivationName, (x: Tensor) => Tensor> = {
  relu: T.relu, silu: T.silu, gelu: T.gelu, tanh: T.tanh, sigmoid: T.sigmoid, identity: T.clone,
};

/** The activation function called `name` (throws naming `op` and the valid names). */
export function activationFn(op: string, name: ActivationName): (x: Tensor) => Tensor {
  const f = ACTIVATIONS[name];
  if (!f || !Object.prototype.hasOwnProperty.call(ACTIVATIONS, name)) {
    throw opError(op, `unknown activation ${JSON.stringify(name)}; expected one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  }
  return f;
}

// ---------------------------------------------------------------------------------------
// dropout

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1]. */
  rate: number;
  /** Required when rate > 0. The same key drops the same elements. */
  key?: RandomKey;
}

/**
 * Functional dropout: zero each element with probability `rate` (mask from `key`), scale the
 * rest by 1 / (1 - rate) (inverted dropout, as PyTorch). Always active; the module form
 * `dropout.module({ rate })` is active only when ctx.train is true and then uses ctx.key.
 */
export const dropout: Layer<{ rate: number }, NoParams, DropoutOptions> = {
  name: 'dropout',
  init: () => ({}) as NoParams,
  apply(_p: NoParams, x: Tensor, opts?: DropoutOptions): Tensor {
    const op = 'dropout';
    const rate = checkNumber(op, 'rate', opts?.rate, 0, 1);
    return applying(op, x, (x) => {
      if (rate === 0) return T.clone(x);
      if (rate === 1) return T.mul(x, 0);
      if (!opts?.key) throw opError(op, `rate ${rate} needs a key (opts.key, or ctx.key for the module form); expected a RandomKey`);
      const u = withBackendOf(x, () => T.randomUniform(opts.key!, x.shape));
      const keepMask = T.greaterEqual(u, rate);
      return T.mul(x, T.mul(keepMask, 1 / (1 - rate)));
    });
  },
  module(cfg: { rate: number }): Module<NoParams> {
    checkNumber('dropout.module', 'rate', cfg?.rate, 0, 1);
    return {
      name: 'dropout',
      init: () => ({}) as NoParams,
      apply(p, x, ctx: Context = {}) {
        if (!ctx.train) return applying('dropout', x, T.clone);
        if (cfg.rate > 0 && !ctx.key) throw opError('dropout', `training mode (ctx.train) with rate ${cfg.rate} needs ctx.key; expected a RandomKey`);
        return dropout.apply(p, x, { rate: cfg.rate, key: ctx.key });
      },
    };
  },
};

// ---------------------------------------------------------------------------------------
// shape layers

/** Flatten every dimension from `startDim` (default 1, PyTorch's nn.Flatten) on. */
export const flatten: Layer<{ startDim?: number } | void, NoParams, { startDim?: number }> & Module<NoParams> = {
  name: 'flatten',
  init: () => ({}) as NoParams,
  apply(_p: NoParams, x: Tensor, opts: { startDim?: number } = {}) {
    return applying('flatten', x, (x) => {
      const s = opts.startDim ?? 1;
      if (!Number.isInteger(s) || s < 0 || s >= Math.max(x.rank, 1)) {
        throw opError('flatten', `startDim ${s} is out of range for input ${fmtShape(x.shape)}; expected an integer in [0, ${x.rank - 1}]`);
      }
      return T.reshape(x, [...x.shape.slice(0, s), x.shape.slice(s).reduce((a, b) => a * b, 1)]);
    });
  },
  module(cfg) {
    const opts = cfg ?? {};
    return { name: 'flatten', init: () => ({}) as NoParams, apply: (p, x) => flatten.apply(p, x, opts) };
  },
};

export interface UpsampleOptions {
  /** Integer factor (or [h, w] factors); default 2. Mode is nearest-neighbour. */
  scale?: Pair;
}

/** Nearest-neighbour upsampling of NCHW maps (PyTorch nn.Upsample(mode='nearest')). */
export const upsample: Layer<UpsampleOptions | void, NoParams, UpsampleOptions> & Module<NoParams> = {
  name: 'upsample',
  init: () => ({}) as NoParams,
  apply(_p: NoParams, x: Tensor, opts: UpsampleOptions = {}) {
    return applying('upsample', x, (x) => {
      if (x.rank !== 4) throw opError('upsample', `input must have rank 4 (N, C, H, W), got ${fmtShape(x.shape)}`);
      return T.upsampleNearest2d(x, opts.scale ?? 2);
    });
  },
  module(cfg) {
    const opts = cfg ?? {};
    return { name: 'upsample', init: () => ({}) as NoParams, apply: (p, x) => upsample.apply(p, x, opts) };
  },
};

export interface PoolOptions {
  kernelSize: Pair;
  /** Default: the kernel size. */
  stride?: Pair;
  padding?: Pair;
}

function pool(name: 'maxPool2d' | 'avgPool2d', f: typeof T.maxPool2d): Layer<PoolOptions, NoParams, PoolOptions> {
  const layer: Layer<PoolOptions, NoParams, PoolOptions> = {
    name,
    init: () => ({}) as NoParams,
    apply(_p, x, opts) {
      if (!opts || opts.kernelSize === undefined) throw opError(name, 'opts.kernelSize is required');
      return applying(name, x, (x) => f(x, opts.kernelSize, { stride: opts.stride, padding: opts.padding }));
    },
    module: (cfg) => ({ name, init: () => ({}) as NoParams, apply: (p, x) => layer.apply(p, x, cfg) }),
  };
  return layer;
}

/** Max pooling over NCHW maps. */
export const maxPool2d = pool('maxPool2d', T.maxPool2d);
/** Average pooling over NCHW maps (padding counted, PyTorch's default). */
export const avgPool2d = pool('avgPool2d', T.avgPool2d);
