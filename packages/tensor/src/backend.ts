// The contract between ops and backends. Ops validate arguments and compute output
// shapes (shared code); a backend receives already-valid, semantic requests, each with its
// output shape (`outShape`, the last argument of every op method: a backend never re-derives
// it), and returns opaque storage. The reference backend implements these directly in float64 so that it
// is an independent oracle; the gpu.js backends plan kernels (coalescing, padding) of
// their own.

import type { Shape } from './shape.ts';
import type { FusedNode } from './backends/kernels.ts';

export type { FusedNode, FusedRef } from './backends/kernels.ts';

export type BackendName = 'webasm' | 'webgpu' | 'cpu' | 'reference';

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'silu' | 'gelu' | 'erf' | 'floor' | 'step';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'greater' | 'greaterEqual' | 'less' | 'lessEqual' | 'equal' | 'notEqual';

export type ReduceOp = 'sum' | 'max' | 'min';
export type ArgReduceOp = 'argmax' | 'argmin';

export interface Conv2dAttrs {
  stride: [number, number];
  padding: [number, number]; // symmetric (top/bottom, left/right)
  dilation: [number, number];
  groups: number;
}

export interface ConvTranspose2dAttrs extends Conv2dAttrs {
  outputPadding: [number, number];
}

export interface Pool2dAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

/** GroupNorm over x [N, C, ...spatial]: C split into `groups` groups of C/groups channels. */
export interface GroupNormAttrs {
  groups: number;
  eps: number;
}

/** Opaque per-backend storage handle (Float32Array, Float64Array or a GPU slot). */
export type Storage = unknown;

export interface Backend {
  readonly name: BackendName;
  /** Bytes per element as stored (4 for float32 backends, 8 for the f64 reference). */
  readonly bytesPerElement: number;
  /** Free-form description: adapter name, gpu.js kernel class, ... */
  describe(): string;

  upload(values: Float32Array | Float64Array, size: number): Storage;
  download(s: Storage, size: number): Promise<Float32Array | Float64Array>;
  /** Only where it cannot block a GPU; otherwise undefined. */
  downloadSync?(s: Storage, size: number): Float32Array | Float64Array;
  free(s: Storage): void;

  unary(op: UnaryOp, x: Storage, size: number, outShape: Shape): Storage;
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  where(c: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  /** `axes` sorted and unique; the output drops them (keepDims is a reshape in the op layer). */
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: number[], outShape: Shape): Storage;
  argReduce(op: ArgReduceOp, x: Storage, shape: Shape, axis: number, outShape: Shape): Storage;
  /** Both ranks >= 2 (the op layer expands vectors); batch dims broadcast to `outShape`. */
  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  transpose(x: Storage, shape: Shape, perm: number[], outShape: Shape): Storage;
  broadcastTo(x: Storage, shape: Shape, outShape: Shape): Storage;
  /** Positive steps only; `begin`/`size` already clamped and validated. */
  slice(x: Storage, shape: Shape, begin: number[], size: number[], step: number[], outShape: Shape): Storage;
  pad(x: Storage, shape: Shape, pads: [number, number][], value: number, outShape: Shape): Storage;
  concat(xs: Storage[], shapes: Shape[], axis: number, outShape: Shape): Storage;
  /** indices: float values, already checked to be integers in [0, shape[axis]). */
  gather(x: Storage, shape: Shape, indices: Storage, nIndices: number, axis: number, outShape: Shape): Storage;
  /** The transpose of gather: sums rows of `g` into a tensor with `dimSize` rows along axis. */
  scatterAdd(g: Storage, gShape: Shape, indices: Storage, nIndices: number, axis: number, dimSize: number, outShape: Shape): Storage;
  conv2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, attrs: Conv2dAttrs, outShape: Shape): Storage;
  convTranspose2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, attrs: ConvTranspose2dAttrs, outShape: Shape): Storage;
  /** dL/dw of conv2d given x and dy; returns a tensor of wShape. */
  conv2dFilterGrad(x: Storage, xShape: Shape, dy: Storage, dyShape: Shape, wShape: Shape, attrs: Conv2dAttrs, outShape: Shape): Storage;
  /** For each pooling window, `v` at the position of the (first) maximum of `x`. */
  maxPool2dGather(x: Storage, v: Storage, xShape: Shape, attrs: Pool2dAttrs, outShape: Shape): Storage;
  /** The transpose of maxPool2dGather in `v`: routes `g` back to the arg-max positions of `x`. */
  maxPool2dScatter(x: Storage, g: Storage, xShape: Shape, gShape: Shape, attrs: Pool2dAttrs, outShape: Shape): Storage;

  // GroupNorm (PyTorch semantics: population variance, eps inside the square root). A group
  // (n, g) is the Cg = C/groups channels g*Cg.. of sample n over all spatial positions
  // (M = Cg * prod(spatial) elements); h = (x - mean) * rstd is the normalized input.
  /** Per group: [mean, rstd = 1/sqrt(var + eps)], outShape [N, groups, 2]; numerically sound (two-pass). */
  groupNormStats(x: Storage, xShape: Shape, attrs: GroupNormAttrs, outShape: Shape): Storage;
  /** h * gamma[c] + beta[c] (gamma / beta null: 1 / 0), from `stats` of groupNormStats. */
  groupNormForward(x: Storage, xShape: Shape, stats: Storage, gamma: Storage | null, beta: Storage | null, attrs: GroupNormAttrs, outShape: Shape): Storage;
  /** Per (n, c) over the spatial positions: [sum g*h, sum g], outShape [N, C, 2]. */
  groupNormChannelSums(x: Storage, xShape: Shape, g: Storage, stats: Storage, attrs: GroupNormAttrs, outShape: Shape): Storage;
  /**
   * dx of groupNorm for the cotangent g: rstd * (d - mean(d) - h * mean(d * h)) per group,
   * d = g * gamma[c] (gamma null: 1), the group means taken from `sums` (groupNormChannelSums).
   */
  groupNormInputGrad(x: Storage, xShape: Shape, g: Storage, stats: Storage, sums: Storage, gamma: Storage | null, attrs: GroupNormAttrs, outShape: Shape): Storage;
  /** [dgamma; dbeta] = sums summed over n, outShape [2, C] (sums [N, C, 2] of groupNormChannelSums). */
  groupNormParamGrad(sums: Storage, sumsShape: Shape, outShape: Shape): Storage;

  /**
   * Optional (the gpu.js backends): a chain of elementwise ops as one kernel, for
   * @tapegrad/compile's fused plans. `inputs[k]` has shape `inShapes[k]`, broadcast to
   * `outShape`; every node's result has `outShape`.
   */
  fusedElementwise?(nodes: readonly FusedNode[], inputs: Storage[], inShapes: Shape[], outShape: Shape): Storage;
  /**
   * The most inputs one fusedElementwise call takes (with fusedElementwise). webgpu binds
   * every input and the output as a storage buffer, and a compute stage gets 8 by default.
   */
  readonly fusedMaxInputs?: number;
  /**
   * Optional (webasm, cpu): one chain over several independent groups of inputs in one
   * kernel, one result storage per group. `inputs[g][k]` has `sizes[g]` elements, or one
   * where `scalar[k]`.
   */
  fusedElementwiseMulti?(nodes: readonly FusedNode[], scalar: readonly boolean[], inputs: Storage[][], sizes: number[]): Storage[];

  /**
   * Storages this backend has handed out (op results, uploads, internal temporaries) and not
   * yet been asked to free; the gpu.js backends count it, so a missing free() shows even on
   * webasm/cpu where the garbage collector would hide it. memory().allocations sums it.
   */
  allocations?(): number;
  /** Number of kernel compilations so far (gpu.js kernel objects + webasm modules). */
  kernelBuilds(): number;
  /** Release every kernel / device resource. */
  destroy(): Promise<void>;
}
