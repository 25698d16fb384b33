// One vector-Jacobian product rule per primitive of @tapegrad/tensor, written with tensor
// ops (so the backward pass is itself differentiable). A rule gets the recorded node
// (inputs x, output y, attributes) and the output cotangent g, and returns one cotangent
// per input, or null where the input gets no gradient. Rules may return cotangents of the
// broadcast output shape: the tape sums them back to each input's shape.
//
// Zero gradients, by design and documented in the README: comparisons, sign, floor, step,
// argmax/argmin (piecewise constant), the condition of `where`, indices of gather/scatter,
// and the x argument of maxPool2dGather/Scatter (which only selects positions).

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import type { Node } from './tape.ts';

type Rule = (x: Tensor[], y: Tensor, g: Tensor, attrs: Record<string, any>) => (Tensor | null)[]; // eslint-disable-line @typescript-eslint/no-explicit-any

const { mul, div, sub, neg } = T;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Mask with ties counted half, so max(a, b) at a == b has derivative 1/2 in each. */
function tieMask(a: Tensor, b: Tensor): Tensor {
  return T.add(T.greater(a, b), mul(T.equal(a, b), 0.5));
}

/** Cotangent of a reduction, broadcast back over the reduced axes. */
function expandReduced(g: Tensor, xShape: readonly number[], axes: number[]): Tensor {
  const keepShape = xShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return T.broadcastTo(T.reshape(g, keepShape), xShape);
}

/** Scatter the cotangent of a strided slice back into zeros of the input's shape. */
function unslice(g: Tensor, xShape: readonly number[], begin: number[], size: number[], step: number[]): Tensor {
  let cur = g;
  for (let k = 0; k < xShape.length; k++) {
    if (step[k] > 1 && size[k] > 0) {
      // interleave step-1 zeros after every element along axis k, drop the trailing ones
      const s = cur.shape.slice();
      const ex = T.expandDims(cur, k + 1);
      const pads = ex.shape.map((_, i) => (i === k + 1 ? [0, step[k] - 1] : [0, 0]) as [number, number]);
      const padded = T.pad(ex, pads);
      s[k] = size[k] * step[k];
      const flat = T.reshape(padded, s);
      const keepLen = (size[k] - 1) * step[k] + 1;
      cur = T.slice(flat, s.map(() => 0), s.map((d, i) => (i === k ? keepLen : d)));
    }
  }
  const pads = xShape.map((d, k) => [begin[k], d - begin[k] - cur.shape[k]] as [number, number]);
  return T.pad(cur, pads);
}

const RULES: Record<string, Rule> = {
  // --- unary
  neg: (_x, _y, g) => [neg(g)],
  abs: ([x], _y, g) => [mul(g, T.sign(x))],
  sign: () => [null],
  floor: () => [null],
  step: () => [null],
  exp: (_x, y, g) => [mul(g, y)],
  log: ([x], _y, g) => [div(g, x)],
  sqrt: (_x, y, g) => [div(mul(g, 0.5), y)],
  rsqrt: (_x, y, g) => [mul(mul(g, -0.5), T.pow(y, 3))],
  square: ([x], _y, g) => [mul(g, mul(x, 2))],
  reciprocal: (_x, y, g) => [neg(mul(g, T.square(y)))],
  sin: ([x], _y, g) => [mul(g, T.cos(x))],
  cos: ([x], _y, g) => [neg(mul(g, T.sin(x)))],
  tanh: (_x, y, g) => [mul(g, sub(1, T.square(y)))],
  sigmoid: (_x, y, g) => [mul(g, mul(y, sub(1, y)))],
  relu: ([x], _y, g) => [mul(g, T.step(x))],
  silu: ([x], _y, g) => {
    const s = T.sigmoid(x);
    return [mul(g, mul(s, T.add(1, mul(x, sub(1, s)))))];
  },
  // d/dx x Phi(x) = Phi(x) + x phi(x)
  gelu: ([x], _y, g) => {
    const cdf = mul(T.add(1, T.erf(mul(x, Math.SQRT1_2))), 0.5);
    const pdf = mul(T.exp(mul(T.square(x), -0.5)), INV_SQRT_2PI);
    return [mul(g, T.add(cdf, mul(x, pdf)))];
  },
  erf: ([x], _y, g) => [mul(g, mul(T.exp(neg(T.square(x))), SQRT_2_OVER_PI * Math.SQRT2))],

  // --- binary (the tape sums broadcast cotangents back to each input's shape)
  add: (_x, _y, g) => [g, g],
  sub: (_x, _y, g) => [g, neg(g)],
  mul: ([a, b], _y, g) => [mul(g, b), mul(g, a)],
  div: ([, b], y, g) => [div(g, b), neg(div(mul(g, y), b))],
  // d/da a^b = b a^(b-1); d/db a^b = a^b log a, taken as 0 where a <= 0 (as JAX does at 0)
  pow: ([a, b], y, g) => [
    mul(g, mul(b, T.pow(a, sub(b, 1)))),
    mul(g, T.where(T.greater(a, 0), mul(y, T.log(T.where(T.greater(a, 0), a, 1))), 0)),
  ],
  maximum: ([a, b], _y, g) => [mul(g, tieMask(a, b)), mul(g, tieMask(b, a))],
  minimum: ([a, b], _y, g) => [mul(g, tieMask(b, a)), mul(g, tieMask(a, b))],
  greater: () => [null, null],
  greaterEqual: () => [null, null],
  less: () => [null, null],
  lessEqual: () => [null, null],
  equal: () => [null, null],
  notEqual: () => [null, null],
  where: ([c], _y, g) => [null, T.where(c, g, 0), T.where(c, 0, g)],

  // --- reductions
  sum: ([x], _y, g, a) => [expandReduced(g, x.shape, a.axes)],
  max: ([x], y, g, a) => minmaxRule(x, y, g, a.axes),
  min: ([x], y, g, a) => minmaxRule(x, y, g, a.axes),
  argmax: () => [null],
  argmin: () => [null],

  // --- linear algebra and movement
  matmul: ([a, b], _y, g) => [T.matmul(g, swapLast(b)), T.matmul(swapLast(a), g)],
  transpose: (_x, _y, g, a) => {
    const inv = new Array<number>(a.perm.length);
    a.perm.forEach((p: number, i: number) => (inv[p] = i));
    return [T.transpose(g, inv)];
  },
  reshape: ([x], _y, g) => [T.reshape(g, x.shape)],
  clone: (_x, _y, g) => [g],
  broadcastTo: (_x, _y, g) => [g],
  slice: ([x], _y, g, a) => [unslice(g, x.shape, a.begin, a.size, a.step)],
  pad: ([x], _y, g, a) => [T.slice(g, a.pads.map((p: [number, number]) => p[0]), x.shape)],
  concat: (xs, _y, g, a) => {
    let offset = 0;
    return xs.map((x) => {
      const begin = x.shape.map((_, i) => (i === a.axis ? offset : 0));
      offset += x.shape[a.axis];
      return T.slice(g, begin, x.shape);
    });
  },
  gather: ([x, idx], _y, g, a) => [T.scatterAdd(g, idx, a.axis, x.shape[a.axis]), null],
  // scatterAdd takes indices of any shape (gather's rule passes gather's own): gather with
  // them flattened, so the cotangent keeps g's shape
  scatterAdd: ([, idx], _y, g, a) => [T.gather(g, idx.rank === 1 ? idx : T.reshape(idx, [idx.size]), a.axis), null],

  // --- convolution and pooling
  conv2d: ([x, w], _y, g, a) => {
    const opts = convOpts(a);
    return [T.convTranspose2d(g, w, { ...opts, outputPadding: outputPaddingFor(x, g, w.shape, a) }), T.conv2dFilterGrad(x, g, w.shape, opts)];
  },
  // <convTranspose2d(x, w), g> = <x, conv2d(g, w)>. When outputPadding >= stride (allowed
  // while it is below the dilation) conv2d(g, w) has more rows/columns than x: the last
  // ones belong to output positions no input reaches. Crop them for dx, and pad x with
  // zeros to match for dw.
  convTranspose2d: ([x, w], _y, g, a) => {
    const opts = convOpts(a);
    const [N, C, H, W] = x.shape;
    const dx = T.conv2d(g, w, opts);
    const [eh, ew] = [dx.shape[2] - H, dx.shape[3] - W];
    if (eh === 0 && ew === 0) return [dx, T.conv2dFilterGrad(g, x, w.shape, opts)];
    const xp = T.pad(x, [[0, 0], [0, 0], [0, eh], [0, ew]]);
    return [T.slice(dx, [0, 0, 0, 0], [N, C, H, W]), T.conv2dFilterGrad(g, xp, w.shape, opts)];
  },
  // <G, F(x, dy)> = <conv2d(x, G), dy> = <x, convTranspose2d(dy, G)>
  conv2dFilterGrad: ([x, dy], _y, g, a) => {
    const opts = convOpts(a);
    return [T.convTranspose2d(dy, g, { ...opts, outputPadding: outputPaddingFor(x, dy, g.shape, a) }), T.conv2d(x, g, opts)];
  },
  maxPool2dGather: ([x], _y, g, a) => [null, T.maxPool2dScatter(x, g, a.kernel, { stride: a.stride, padding: a.padding })],
  maxPool2dScatter: ([x], _y, g, a) => [null, T.maxPool2dGather(x, g, a.kernel, { stride: a.stride, padding: a.padding })],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const convOpts = (a: Record<string, any>) => ({ stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups });

/**
 * The outputPadding that makes convTranspose2d map a conv2d output (`y`) back to exactly the
 * input's size: conv2d's floor division can drop up to stride-1 trailing rows/columns.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function outputPaddingFor(x: Tensor, y: Tensor, wShape: readonly number[], a: Record<string, any>): [number, number] {
  const pad = (k: 0 | 1) =>
    x.shape[2 + k] - ((y.shape[2 + k] - 1) * a.stride[k] - 2 * a.padding[k] + a.dilation[k] * (wShape[2 + k] - 1) + 1);
  return [pad(0), pad(1)];
}

function minmaxRule(x: Tensor, y: Tensor, g: Tensor, axes: number[]): (Tensor | null)[] {
  // the cotangent is shared equally among the positions that attain the extremum
  const yk = expandReduced(y, x.shape, axes);
  const mask = T.equal(x, yk);
  const count = expandReduced(T.sum(mask, axes), x.shape, axes);
  return [mul(expandReduced(g, x.shape, axes), div(mask, count))];
}

function swapLast(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return T.transpose(t, perm);
}

/**
 * The values each rule reads: which inputs (by position, or 'all') and whether the output.
 * The tape holds only these; for the rest it keeps the shape (every rule may read shapes).
 * An op missing here gets everything held (the safe default).
 */
type Saves = { inputs: 'all' | number[]; output: boolean };
const IN = (...inputs: number[]): Saves => ({ inputs, output: false });
const OUT: Saves = { inputs: [], output: true };
const NONE: Saves = { inputs: [], output: false };
const SAVES: Record<string, Saves> = {
  neg: NONE, sign: NONE, floor: NONE, step: NONE,
  abs: IN(0), log: IN(0), square: IN(0), sin: IN(0), cos: IN(0), relu: IN(0), silu: IN(0), gelu: IN(0), erf: IN(0),
  exp: OUT, sqrt: OUT, rsqrt: OUT, reciprocal: OUT, tanh: OUT, sigmoid: OUT,
  add: NONE, sub: NONE, mul: IN(0, 1), div: { inputs: [1], output: true }, pow: { inputs: [0, 1], output: true },
  maximum: IN(0, 1), minimum: IN(0, 1),
  greater: NONE, greaterEqual: NONE, less: NONE, lessEqual: NONE, equal: NONE, notEqual: NONE,
  where: IN(0),
  sum: NONE, max: { inputs: [0], output: true }, min: { inputs: [0], output: true }, argmax: NONE, argmin: NONE,
  matmul: IN(0, 1), transpose: NONE, reshape: NONE, clone: NONE, broadcastTo: NONE, slice: NONE, pad: NONE, concat: NONE,
  gather: IN(1), scatterAdd: IN(1),
  conv2d: IN(0, 1), convTranspose2d: IN(0, 1), conv2dFilterGrad: IN(0, 1), maxPool2dGather: IN(0), maxPool2dScatter: IN(0),
};

export function savedValues(op: string): Saves {
  return SAVES[op] ?? { inputs: 'all', output: true };
}

/** Names of the primitives that have a rule (every primitive of @tapegrad/tensor). */
export const differentiablePrimitives = (): string[] => Object.keys(RULES);

export function vjpRule(node: Node, g: Tensor): (Tensor | null)[] {
  const rule = RULES[node.op];
  if (!rule) {
    throw new Error(`backward: no VJP rule for primitive '${node.op}'; expected one of ${Object.keys(RULES).join(', ')}`);
  }
  return rule(node.inputs, node.output, g, node.attrs);
}
