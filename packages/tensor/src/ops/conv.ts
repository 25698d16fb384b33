// Convolutions and pooling on NCHW images with OIHW weights (PyTorch's layouts, so weights
// interoperate). Primitives: conv2d, convTranspose2d, conv2dFilterGrad, maxPool2dGather,
// maxPool2dScatter. avgPool2d and upsampleNearest2d are composites.

import { fmtValue } from '../errors.ts';
import type { Conv2dAttrs, ConvTranspose2dAttrs, Pool2dAttrs } from '../backend.ts';
import { fmtShape, opError, type Shape } from '../shape.ts';
import { runPrimitive } from '../dispatch.ts';
import { tidy } from '../scope.ts';
import type { Tensor } from '../tensor.ts';
import { fromFlat, onBackendOf } from './creation.ts';
import { broadcastTo, reshape } from './movement.ts';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  /** Symmetric zero padding, or 'valid' (none) / 'same' (output size = input size, stride 1). */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
}

export interface ConvTranspose2dOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
}

function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw opError(op, `${name} must be an integer >= ${min} or a pair of them, got ${fmtValue(v)}`);
  }
  return p as [number, number];
}

function checkRank4(op: string, name: string, t: Tensor): void {
  if (t.rank !== 4) throw opError(op, `${name} must have rank 4 (${name === 'x' ? 'N, C, H, W' : 'O, I, KH, KW'}), got shape ${fmtShape(t.shape)}`);
}

function outSize(op: string, n: number, k: number, s: number, p: number, d: number, axis: string): number {
  const o = Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
  if (o < 1) throw opError(op, `the output ${axis} would be ${o}: input ${n}, kernel ${k}, stride ${s}, padding ${p}, dilation ${d}; expected a kernel that fits the padded input`);
  return o;
}

/** @internal Validated conv2d attributes and output shape. */
export function conv2dPlan(op: string, xShape: Shape, wShape: Shape, opts: Conv2dOptions): { attrs: Conv2dAttrs; out: number[] } {
  const [N, C, H, W] = xShape;
  const [O, Cg, KH, KW] = wShape;
  const stride = pair(op, 'stride', opts.stride, 1, 1);
  const dilation = pair(op, 'dilation', opts.dilation, 1, 1);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw opError(op, `groups must be a positive integer, got ${groups}`);
  let padding: [number, number];
  if (opts.padding === 'valid') padding = [0, 0];
  else if (opts.padding === 'same') {
    const tot = [dilation[0] * (KH - 1), dilation[1] * (KW - 1)];
    if (stride[0] !== 1 || stride[1] !== 1 || tot[0] % 2 || tot[1] % 2) {
      throw opError(op, `padding 'same' needs stride 1 and an odd effective kernel size, got stride ${fmtValue(stride)}, kernel ${KH}x${KW}, dilation ${fmtValue(dilation)}`);
    }
    padding = [tot[0] / 2, tot[1] / 2];
  } else padding = pair(op, 'padding', opts.padding, 0, 0);
  if (C !== Cg * groups || O % groups !== 0) {
    throw opError(op, `input ${fmtShape(xShape)} and weight ${fmtShape(wShape)} with groups=${groups}: expected x channels (${C}) = weight in-channels (${Cg}) x groups and out-channels (${O}) divisible by groups`);
  }
  const Ho = outSize(op, H, KH, stride[0], padding[0], dilation[0], 'height');
  const Wo = outSize(op, W, KW, stride[1], padding[1], dilation[1], 'width');
  return { attrs: { stride, padding, dilation, groups }, out: [N, O, Ho, Wo] };
}

/** 2-D cross-correlation (PyTorch conv2d): x [N, C, H, W], w [O, C/groups, KH, KW]. */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  checkRank4('conv2d', 'x', x);
  checkRank4('conv2d', 'w', w);
  const { attrs, out } = conv2dPlan('conv2d', x.shape, w.shape, opts);
  return runPrimitive('conv2d', [x, w], out, { ...attrs }, (b, [sx, sw]) => b.conv2d(sx, x.shape, sw, w.shape, attrs, out));
}

/**
 * Transposed convolution (PyTorch conv_transpose2d): x [N, Cin, H, W],
 * w [Cin, Cout/groups, KH, KW]; the gradient of conv2d with respect to its input.
 */
export function convTranspose2d(x: Tensor, w: Tensor, opts: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  checkRank4(op, 'x', x);
  checkRank4(op, 'w', w);
  const [N, Cin, H, W] = x.shape;
  const [Cw, Og, KH, KW] = w.shape;
  const stride = pair(op, 'stride', opts.stride, 1, 1);
  const padding = pair(op, 'padding', opts.padding, 0, 0);
  const dilation = pair(op, 'dilation', opts.dilation, 1, 1);
  const outputPadding = pair(op, 'outputPadding', opts.outputPadding, 0, 0);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || Cin % groups !== 0) {
    throw opError(op, `groups (${groups}) must be a positive integer dividing the ${Cin} input channels`);
  }
  if (Cw !== Cin) throw opError(op, `weight ${fmtShape(w.shape)} has ${Cw} input channels but x ${fmtShape(x.shape)} has ${Cin}; expected w of shape [Cin, Cout/groups, KH, KW]`);
  for (let k = 0; k < 2; k++) {
    if (outputPadding[k] >= Math.max(stride[k], dilation[k])) {
      throw opError(op, `outputPadding ${fmtValue(outputPadding)} must be smaller than stride or dilation (${fmtValue(stride)}, ${fmtValue(dilation)})`);
    }
  }
  const Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (KH - 1) + outputPadding[0] + 1;
  const Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (KW - 1) + outputPadding[1] + 1;
  if (Ho < 1 || Wo < 1) throw opError(op, `the output would be ${Ho}x${Wo} for input ${H}x${W}, kernel ${KH}x${KW}, stride ${stride}, padding ${padding}; expected a positive size`);
  const attrs: ConvTranspose2dAttrs = { stride, padding, dilation, groups, outputPadding };
  const out = [N, Og * groups, Ho, Wo];
  return runPrimitive(op, [x, w], out, { ...attrs }, (b, [sx, sw]) => b.convTranspose2d(sx, x.shape, sw, w.shape, attrs, out));
}

/** dL/dw of `conv2d(x, w, opts)` given dy = dL/d(output): a tensor of shape `wShape`. */
export function conv2dFilterGrad(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2dFilterGrad';
  checkRank4(op, 'x', x);
  const { attrs, out } = conv2dPlan(op, x.shape, wShape, opts);
  if (dy.rank !== 4 || !dy.shape.every((d, i) => d === out[i])) {
    throw opError(op, `dy has shape ${fmtShape(dy.shape)}; expected the conv2d output shape ${fmtShape(out)}`);
  }
  return runPrimitive(op, [x, dy], wShape.slice(), { ...attrs, wShape: wShape.slice() }, (b, [sx, sd]) =>
    b.conv2dFilterGrad(sx, x.shape, sd, dy.shape, wShape, attrs, wShape),
  );
}

export interface Pool2dOptions {
  stride?: Pair;
  padding?: Pair;
}

/** @internal Validated pooling attributes and output shape. */
export function poolPlan(op: string, xShape: Shape, kernel: Pair, opts: Pool2dOptions): { attrs: Pool2dAttrs; out: number[] } {
  const k = pair(op, 'kernel', kernel, 1, 1);
  const stride = pair(op, 'stride', opts.stride ?? k, 1, 1);
  const padding = pair(op, 'padding', opts.padding, 0, 0);
  if (padding[0] * 2 > k[0] || padding[1] * 2 > k[1]) {
    throw opError(op, `padding ${fmtValue(padding)} must be at most half the kernel ${fmtValue(k)}`);
  }
  const [N, C, H, W] = xShape;
  const Ho = outSize(op, H, k[0], stride[0], padding[0], 1, 'height');
  const Wo = outSize(op, W, k[1], stride[1], padding[1], 1, 'width');
  return { attrs: { kernel: k, stride, padding }, out: [N, C, Ho, Wo] };
}

/** @internal For each window, `v` at the first maximum of `x` (maxPool2d = gather(x, x)). */
export function maxPool2dGather(x: Tensor, v: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  checkRank4('maxPool2d', 'x', x);
  const { attrs, out } = poolPlan('maxPool2d', x.shape, kernel, opts);
  return runPrimitive('maxPool2dGather', [x, v], out, { ...attrs }, (b, [sx, sv]) => b.maxPool2dGather(sx, sv, x.shape, attrs, out));
}

/** @internal The transpose of maxPool2dGather in v: g routed back to the arg-max positions. */
export function maxPool2dScatter(x: Tensor, g: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  const { attrs } = poolPlan('maxPool2d', x.shape, kernel, opts);
  return runPrimitive('maxPool2dScatter', [x, g], x.shape, { ...attrs }, (b, [sx, sg]) => b.maxPool2dScatter(sx, sg, x.shape, g.shape, attrs, x.shape));
}

/** Max pooling (padding never wins a window); stride defaults to the kernel size. */
export function maxPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  return maxPool2dGather(x, x, kernel, opts);
}

/** Average pooling counting padded zeros (PyTorch's count_include_pad=True default). */
export function avgPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  checkRank4('avgPool2d', 'x', x);
  const { attrs } = poolPlan('avgPool2d', x.shape, kernel, opts);
  const C = x.shape[1];
  const [kh, kw] = attrs.kernel;
  return tidy(() => {
    const w = onBackendOf(x, (b) => fromFlat(b, new Float64Array(C * kh * kw).fill(1 / (kh * kw)), [C, 1, kh, kw]));
    return conv2d(x, w, { stride: attrs.stride, padding: attrs.padding, groups: C });
  });
}

/** Nearest-neighbour upsampling by integer factors (each pixel becomes a block). */
export function upsampleNearest2d(x: Tensor, scale: Pair = 2): Tensor {
  checkRank4('upsampleNearest2d', 'x', x);
  const [sh, sw] = pair('upsampleNearest2d', 'scale', scale, 2, 1);
  const [N, C, H, W] = x.shape;
  return tidy(() => reshape(broadcastTo(reshape(x, [N, C, H, 1, W, 1]), [N, C, H, sh, W, sw]), [N, C, H * sh, W * sw]));
}
