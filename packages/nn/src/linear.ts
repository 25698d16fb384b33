// linear (PyTorch nn.Linear: y = x W^T + b, weight [out, in], bias [out]) and mlp.

import { checkInt, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';
import { biasUniform, kaimingUniform } from './init.ts';
import { applying, paramTensor, type Layer, type Module } from './module.ts';
import { activationFn, type ActivationName } from './activations.ts';

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Default true. */
  bias?: boolean;
  /** Zero weight and bias (the "zero module" output layers of diffusion models). Default false. */
  zeroInit?: boolean;
}

/** PyTorch state_dict names: weight [out, in], bias [out] (absent when bias: false). */
export interface LinearParams {
  weight: Tensor;
  bias?: Tensor;
}

const LINEAR_PARAMS = '{weight [out, in], bias? [out]}';

export const linear: Layer<LinearConfig, LinearParams, unknown> = {
  name: 'linear',
  /** weight, bias ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default), or zeros with zeroInit. */
  init(key: RandomKey, cfg: LinearConfig): LinearParams {
    const op = 'linear.init';
    const inF = checkInt(op, 'inFeatures', cfg?.inFeatures);
    const outF = checkInt(op, 'outFeatures', cfg?.outFeatures);
    const [kw, kb] = T.splitKey(key, 2);
    const p: LinearParams = { weight: cfg.zeroInit ? T.zeros([outF, inF]) : kaimingUniform(kw, [outF, inF]) };
    if (cfg.bias ?? true) p.bias = cfg.zeroInit ? T.zeros([outF]) : biasUniform(kb, [outF], inF);
    return p;
  },
  /** x [..., in] -> [..., out]. */
  apply(params: LinearParams, x: Tensor): Tensor {
    const op = 'linear';
    const w = paramTensor(op, params, 'weight', LINEAR_PARAMS);
    if (w.rank !== 2) throw opError(op, `params.weight must have rank 2 [out, in], got ${fmtShape(w.shape)}`);
    const b = params.bias === undefined ? undefined : paramTensor(op, params, 'bias', LINEAR_PARAMS);
    if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0])) {
      throw opError(op, `params.bias has shape ${fmtShape(b.shape)}; expected [${w.shape[0]}] to match weight ${fmtShape(w.shape)}`);
    }
    return applying(op, x, (x) => {
      if (x.rank < 1 || x.shape[x.rank - 1] !== w.shape[1]) {
        throw opError(op, `input ${fmtShape(x.shape)} has ${x.rank ? x.shape[x.rank - 1] : 'no'} features in its last dimension; expected ${w.shape[1]} (weight ${fmtShape(w.shape)} is [out, in])`);
      }
      const y = T.matmul(x, T.transpose(w));
      return b ? T.add(y, b) : y;
    });
  },
  module(cfg: LinearConfig): Module<LinearParams> {
    return { name: 'linear', init: (key) => linear.init(key, cfg), apply: (p, x) => linear.apply(p, x) };
  },
};

export interface MlpConfig {
  inFeatures: number;
  /** Widths of the hidden layers (may be empty: a single linear layer). */
  hiddenFeatures: readonly number[];
  outFeatures: number;
  /** Between layers, not after the last one. Default 'relu'. */
  activation?: ActivationName;
  bias?: boolean;
  /** Zero-init the last layer. Default false. */
  zeroInitLast?: boolean;
}

/** One LinearParams per layer: names '0.weight', '0.bias', '1.weight', ... */
export type MlpParams = LinearParams[];

export const mlp: Layer<MlpConfig, MlpParams, Partial<MlpConfig>> = {
  name: 'mlp',
  init(key: RandomKey, cfg: MlpConfig): MlpParams {
    const op = 'mlp.init';
    if (!cfg || !Array.isArray(cfg.hiddenFeatures)) throw opError(op, `config.hiddenFeatures must be an array of layer widths, got ${JSON.stringify(cfg?.hiddenFeatures)}`);
    const widths = [checkInt(op, 'inFeatures', cfg.inFeatures), ...cfg.hiddenFeatures.map((h, i) => checkInt(op, `hiddenFeatures[${i}]`, h)), checkInt(op, 'outFeatures', cfg.outFeatures)];
    activationFn(op, cfg.activation ?? 'relu');
    const n = widths.length - 1;
    const keys = T.splitKey(key, n);
    return keys.map((k, i) =>
      linear.init(k, { inFeatures: widths[i], outFeatures: widths[i + 1], bias: cfg.bias, zeroInit: i === n - 1 && cfg.zeroInitLast }),
    );
  },
  apply(params: MlpParams, x: Tensor, opts: Partial<MlpConfig> = {}): Tensor {
    const op = 'mlp';
    const act = activationFn(op, opts.activation ?? 'relu');
    if (!Array.isArray(params) || params.length === 0) throw opError(op, `params must be a non-empty array of linear params, got ${Array.isArray(params) ? '[]' : typeof params}`);
    return applying(op, x, (h) => {
      params.forEach((p, i) => {
        h = linear.apply(p, h);
        if (i < params.length - 1) h = act(h);
      });
      return h;
    });
  },
  module(cfg: MlpConfig): Module<MlpParams> {
    return { name: 'mlp', init: (key) => mlp.init(key, cfg), apply: (p, x) => mlp.apply(p, x, cfg) };
  },
};
