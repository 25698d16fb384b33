// Initializers matching PyTorch's defaults (torch.nn.init), drawn from explicit keys.
//
//   fanInOut(shape)       torch.nn.init._calculate_fan_in_and_fan_out: for a weight of shape
//                         [d0, d1, *receptive], fanIn = d1 * prod(receptive), fanOut = d0 * prod(receptive)
//   kaimingUniform        U(-b, b), b = gain * sqrt(3 / fanIn), gain = sqrt(2 / (1 + a^2));
//                         PyTorch's Linear / Conv default is a = sqrt(5), i.e. b = 1 / sqrt(fanIn)
//   xavierUniform         U(-b, b), b = gain * sqrt(6 / (fanIn + fanOut))
//   biasUniform           U(-1/sqrt(fanIn), 1/sqrt(fanIn)), PyTorch's Linear / Conv bias default

import { checkNumber, fmtShape, opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { RandomKey, Tensor } from '@tapegrad/tensor';

/** PyTorch's fan computation for a weight of shape [out, in, *receptive field]. */
export function fanInOut(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw opError('fanInOut', `fan in and fan out need a weight of rank >= 2, got shape ${fmtShape(shape)}`);
  }
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** U(-bound, bound); a zero bound gives zeros. */
export function uniform(key: RandomKey, shape: readonly number[], bound: number): Tensor {
  checkNumber('uniform', 'bound', bound, 0);
  if (bound === 0) return T.zeros(shape);
  return T.randomUniform(key, shape, -bound, bound);
}

export interface KaimingOptions {
  /** Negative slope of the rectifier (PyTorch's `a`); default sqrt(5), PyTorch's Linear/Conv default. */
  a?: number;
  /** Override the fan in computed from the shape. */
  fanIn?: number;
}

/** torch.nn.init.kaiming_uniform_(w, a) with mode 'fan_in' and leaky_relu gain. */
export function kaimingUniform(key: RandomKey, shape: readonly number[], opts: KaimingOptions = {}): Tensor {
  const a = opts.a ?? Math.sqrt(5);
  const fanIn = opts.fanIn ?? fanInOut(shape).fanIn;
  if (!(fanIn > 0)) throw opError('kaimingUniform', `fan in must be positive, got ${fanIn} for shape ${fmtShape(shape)}`);
  const gain = Math.sqrt(2 / (1 + a * a));
  return uniform(key, shape, gain * Math.sqrt(3 / fanIn));
}

/** torch.nn.init.xavier_uniform_(w, gain). */
export function xavierUniform(key: RandomKey, shape: readonly number[], gain = 1): Tensor {
  const { fanIn, fanOut } = fanInOut(shape);
  return uniform(key, shape, gain * Math.sqrt(6 / (fanIn + fanOut)));
}

/** PyTorch's default bias init for Linear / Conv: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function biasUniform(key: RandomKey, shape: readonly number[], fanIn: number): Tensor {
  if (!(fanIn > 0)) throw opError('biasUniform', `fan in must be positive, got ${fanIn}`);
  return uniform(key, shape, 1 / Math.sqrt(fanIn));
}

/** N(mean, std^2) (torch.nn.init.normal_; Embedding's default is N(0, 1)). */
export function normal(key: RandomKey, shape: readonly number[], std = 1, mean = 0): Tensor {
  return T.randomNormal(key, shape, mean, std);
}
