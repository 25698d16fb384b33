// Method sugar: `x.add(y)` for every op that has a natural receiver. The functions stay
// the primary API; these are one-line forwards to the public ops (api.ts).

import { Tensor } from './tensor.ts';
import * as A from './api.ts';
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
  P[name] = function (this: Tensor, b: TensorLike) { return A[name](this, b); };
}
for (const name of ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu', 'gelu'] as const) {
  P[name] = function (this: Tensor) { return A[name](this); };
}
P.clip = function (this: Tensor, lo: TensorLike, hi: TensorLike) { return A.clip(this, lo, hi); };
for (const name of ['sum', 'mean', 'max', 'min'] as const) {
  P[name] = function (this: Tensor, axes?: Axes, keepDims?: boolean) { return A[name](this, axes, keepDims); };
}
P.argmax = function (this: Tensor, axis?: number, keepDims?: boolean) { return A.argmax(this, axis, keepDims); };
P.softmax = function (this: Tensor, axis?: number) { return A.softmax(this, axis); };
P.logSoftmax = function (this: Tensor, axis?: number) { return A.logSoftmax(this, axis); };
P.matmul = function (this: Tensor, b: Tensor) { return A.matmul(this, b); };
P.transpose = function (this: Tensor, perm?: readonly number[]) { return A.transpose(this, perm); };
P.reshape = function (this: Tensor, shape: readonly number[]) { return A.reshape(this, shape); };
P.expandDims = function (this: Tensor, axis?: number) { return A.expandDims(this, axis); };
P.squeeze = function (this: Tensor, axes?: number | readonly number[]) { return A.squeeze(this, axes); };
P.flatten = function (this: Tensor) { return A.flatten(this); };
P.broadcastTo = function (this: Tensor, shape: readonly number[]) { return A.broadcastTo(this, shape); };
