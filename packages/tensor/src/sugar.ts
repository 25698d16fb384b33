// Method sugar: `x.add(y)` for every op that has a natural receiver. The functions stay
// the primary API; these are one-line forwards.

import { Tensor } from './tensor.ts';
import * as E from './ops/elementwise.ts';
import * as R from './ops/reduce.ts';
import * as M from './ops/movement.ts';
import { matmul } from './ops/linalg.ts';
import type { TensorLike } from './ops/creation.ts';
import type { Axes } from './ops/reduce.ts';

declare module './tensor.ts' {
  interface Tensor {
    add(b: TensorLike): Tensor; sub(b: TensorLike): Tensor; mul(b: TensorLike): Tensor; div(b: TensorLike): Tensor;
    pow(b: TensorLike): Tensor; maximum(b: TensorLike): Tensor; minimum(b: TensorLike): Tensor;
    greater(b: TensorLike): Tensor; less(b: TensorLike): Tensor; equal(b: TensorLike): Tensor;
    neg(): Tensor; abs(): Tensor; exp(): Tensor; log(): Tensor; sqrt(): Tensor; rsqrt(): Tensor; square(): Tensor;
    sin(): Tensor; cos(): Tensor; tanh(): Tensor; sigmoid(): Tensor; relu(): Tensor; silu(): Tensor; gelu(): Tensor;
    clip(lo: TensorLike, hi: TensorLike): Tensor;
    sum(axes?: Axes, keepDims?: boolean): Tensor; mean(axes?: Axes, keepDims?: boolean): Tensor;
    max(axes?: Axes, keepDims?: boolean): Tensor; min(axes?: Axes, keepDims?: boolean): Tensor;
    argmax(axis?: number, keepDims?: boolean): Tensor; softmax(axis?: number): Tensor; logSoftmax(axis?: number): Tensor;
    matmul(b: Tensor): Tensor; transpose(perm?: readonly number[]): Tensor; reshape(shape: readonly number[]): Tensor;
    expandDims(axis?: number): Tensor; squeeze(axes?: number | readonly number[]): Tensor; flatten(): Tensor;
    broadcastTo(shape: readonly number[]): Tensor;
  }
}

const P = Tensor.prototype;
for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'greater', 'less', 'equal'] as const) {
  P[name] = function (this: Tensor, b: TensorLike) { return E[name](this, b); };
}
for (const name of ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu', 'gelu'] as const) {
  P[name] = function (this: Tensor) { return E[name](this); };
}
P.clip = function (this: Tensor, lo: TensorLike, hi: TensorLike) { return E.clip(this, lo, hi); };
for (const name of ['sum', 'mean', 'max', 'min'] as const) {
  P[name] = function (this: Tensor, axes?: Axes, keepDims?: boolean) { return R[name](this, axes, keepDims); };
}
P.argmax = function (this: Tensor, axis?: number, keepDims?: boolean) { return R.argmax(this, axis, keepDims); };
P.softmax = function (this: Tensor, axis?: number) { return R.softmax(this, axis); };
P.logSoftmax = function (this: Tensor, axis?: number) { return R.logSoftmax(this, axis); };
P.matmul = function (this: Tensor, b: Tensor) { return matmul(this, b); };
P.transpose = function (this: Tensor, perm?: readonly number[]) { return M.transpose(this, perm); };
P.reshape = function (this: Tensor, shape: readonly number[]) { return M.reshape(this, shape); };
P.expandDims = function (this: Tensor, axis?: number) { return M.expandDims(this, axis); };
P.squeeze = function (this: Tensor, axes?: number | readonly number[]) { return M.squeeze(this, axes); };
P.flatten = function (this: Tensor) { return M.flatten(this); };
P.broadcastTo = function (this: Tensor, shape: readonly number[]) { return M.broadcastTo(this, shape); };
