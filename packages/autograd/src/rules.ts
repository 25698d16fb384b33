// The rule table: for each primitive of @tapegrad/tensor, side by side, the values the tape
// must save for it and its vector-Jacobian product, `defineRule(op, { saves, vjp })`.
//
// `saves` says which inputs (by position) and whether the output the vjp reads; the tape
// holds only those and keeps the others as shapes (a vjp may always read shapes; reading a
// value it did not declare is an error naming the op). `vjp` is written with tensor ops (so
// the backward pass is itself differentiable): it gets the saved inputs x, output y, the
// attributes and the output cotangent g, and returns one cotangent per input, or null where
// the input gets no gradient. It may return cotangents of the broadcast output shape: the
// tape sums them back to each input's shape. This module imports nothing from the tape.
//
// Zero gradients, by design and documented in the README: comparisons, sign, floor, step,
// argmax/argmin (piecewise constant), the condition of `where`, indices of gather/scatter,
// and the x argument of maxPool2dGather/Scatter (which only selects positions).

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';

/** A VJP: cotangents of the inputs from the (saved) inputs, output, attributes and cotangent g. */
export type Vjp = (x: Tensor[], y: Tensor, g: Tensor, attrs: Record<string, any>) => (Tensor | null)[]; // eslint-disable-line @typescript-eslint/no-explicit-any
/** The values a vjp reads: which inputs (by position) and whether the output. */
export type Saves = { inputs: number[]; output: boolean };
export interface Rule {
  saves: Saves;
  vjp: Vjp;
}

const RULES = new Map<string, Rule>();

/** Register the rule of primitive `op` (once per op). */
export function defineRule(op: string, rule: Rule): void {
  if (RULES.has(op)) throw new Error(`defineRule: primitive '${op}' already has a rule; expected one rule per primitive`);
  RULES.set(op, rule);
}

/** The rule of `op`; an error naming the known primitives if there is none. */
export function ruleFor(op: string): Rule {
  const rule = RULES.get(op);
  if (!rule) {
    throw new Error(`backward: no VJP rule for primitive '${op}'; expected one of ${[...RULES.keys()].join(', ')}`);
  }
  return rule;
}

/** What the tape holds for a call of `op`: its rule's saves, or everything (no rule: backward will say so). */
export function savesFor(op: string): Saves | 'all' {
  return RULES.get(op)?.saves ?? 'all';
}

/** Names of the primitives that have a rule (every primitive of @tapegrad/tensor). */
export const differentiablePrimitives = (): string[] => [...RULES.keys()];

const IN = (...inputs: number[]): Saves => ({ inputs, output: false });
const OUT: Saves = { inputs: [], output: true };
const NONE: Saves = { inputs: [], output: false };

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

// --- unary
defineRule('neg', { saves: NONE, vjp: (_x, _y, g) => [neg(g)] });
defineRule('abs', { saves: IN(0), vjp: ([x], _y, g) => [mul(g, T.sign(x))] });
defineRule('sign', { saves: NONE, vjp: () => [null] });
defineRule('floor', { saves: NONE, vjp: () => [null] });
defineRule('step', { saves: NONE, vjp: () => [null] });
defineRule('exp', { saves: OUT, vjp: (_x, y, g) => [mul(g, y)] });
defineRule('log', { saves: IN(0), vjp: ([x], _y, g) => [div(g, x)] });
defineRule('sqrt', { saves: OUT, vjp: (_x, y, g) => [div(mul(g, 0.5), y)] });
defineRule('rsqrt', { saves: OUT, vjp: (_x, y, g) => [mul(mul(g, -0.5), T.pow(y, 3))] });
defineRule('square', { saves: IN(0), vjp: ([x], _y, g) => [mul(g, mul(x, 2))] });
defineRule('reciprocal', { saves: OUT, vjp: (_x, y, g) => [neg(mul(g, T.square(y)))] });
defineRule('sin', { saves: IN(0), vjp: ([x], _y, g) => [mul(g, T.cos(x))] });
defineRule('cos', { saves: IN(0), vjp: ([x], _y, g) => [neg(mul(g, T.sin(x)))] });
defineRule('tanh', { saves: OUT, vjp: (_x, y, g) => [mul(g, sub(1, T.square(y)))] });
defineRule('sigmoid', { saves: OUT, vjp: (_x, y, g) => [mul(g, mul(y, sub(1, y)))] });
defineRule('relu', { saves: IN(0), vjp: ([x], _y, g) => [mul(g, T.step(x))] });
defineRule('silu', { saves: IN(0), vjp: ([x], _y, g) => {
  const s = T.sigmoid(x);
  return [mul(g, mul(s, T.add(1, mul(x, sub(1, s)))))];
} });
// d/dx x Phi(x) = Phi(x) + x phi(x)
defineRule('gelu', { saves: IN(0), vjp: ([x], _y, g) => {
  const cdf = mul(T.add(1, T.erf(mul(x, Math.SQRT1_2))), 0.5);
  const pdf = mul(T.exp(mul(T.square(x), -0.5)), INV_SQRT_2PI);
  return [mul(g, T.add(cdf, mul(x, pdf)))];
} });
defineRule('erf', { saves: IN(0), vjp: ([x], _y, g) => [mul(g, mul(T.exp(neg(T.square(x))), SQRT_2_OVER_PI * Math.SQRT2))] });

// --- binary (the tape sums broadcast cotangents back to each input's shape)
defineRule('add', { saves: NONE, vjp: (_x, _y, g) => [g, g] });
defineRule('sub', { saves: NONE, vjp: (_x, _y, g) => [g, neg(g)] });
defineRule('mul', { saves: IN(0, 1), vjp: ([a, b], _y, g) => [mul(g, b), mul(g, a)] });
defineRule('div', { saves: { inputs: [1], output: true }, vjp: ([, b], y, g) => [div(g, b), neg(div(mul(g, y), b))] });
// d/da a^b = b a^(b-1); d/db a^b = a^b log a, taken as 0 where a <= 0 (as JAX does at 0)
defineRule('pow', { saves: { inputs: [0, 1], output: true }, vjp: ([a, b], y, g) => [
  mul(g, mul(b, T.pow(a, sub(b, 1)))),
  mul(g, T.where(T.greater(a, 0), mul(y, T.log(T.where(T.greater(a, 0), a, 1))), 0)),
] });
defineRule('maximum', { saves: IN(0, 1), vjp: ([a, b], _y, g) => [mul(g, tieMask(a, b)), mul(g, tieMask(b, a))] });
defineRule('minimum', { saves: IN(0, 1), vjp: ([a, b], _y, g) => [mul(g, tieMask(b, a)), mul(g, tieMask(a, b))] });
defineRule('greater', { saves: NONE, vjp: () => [null, null] });
defineRule('greaterEqual', { saves: NONE, vjp: () => [null, null] });
defineRule('less', { saves: NONE, vjp: () => [null, null] });
defineRule('lessEqual', { saves: NONE, vjp: () => [null, null] });
defineRule('equal', { saves: NONE, vjp: () => [null, null] });
defineRule('notEqual', { saves: NONE, vjp: () => [null, null] });
defineRule('where', { saves: IN(0), vjp: ([c], _y, g) => [null, T.where(c, g, 0), T.where(c, 0, g)] });

// --- reductions
defineRule('sum', { saves: NONE, vjp: ([x], _y, g, a) => [expandReduced(g, x.shape, a.axes)] });
defineRule('max', { saves: { inputs: [0], output: true }, vjp: ([x], y, g, a) => minmaxRule(x, y, g, a.axes) });
defineRule('min', { saves: { inputs: [0], output: true }, vjp: ([x], y, g, a) => minmaxRule(x, y, g, a.axes) });
defineRule('argmax', { saves: NONE, vjp: () => [null] });
defineRule('argmin', { saves: NONE, vjp: () => [null] });

// --- linear algebra and movement
defineRule('matmul', { saves: IN(0, 1), vjp: ([a, b], _y, g) => [T.matmul(g, swapLast(b)), T.matmul(swapLast(a), g)] });
defineRule('transpose', { saves: NONE, vjp: (_x, _y, g, a) => {
  const inv = new Array<number>(a.perm.length);
  a.perm.forEach((p: number, i: number) => (inv[p] = i));
  return [T.transpose(g, inv)];
} });
defineRule('reshape', { saves: NONE, vjp: ([x], _y, g) => [T.reshape(g, x.shape)] });
defineRule('clone', { saves: NONE, vjp: (_x, _y, g) => [g] });
defineRule('broadcastTo', { saves: NONE, vjp: (_x, _y, g) => [g] });
defineRule('slice', { saves: NONE, vjp: ([x], _y, g, a) => [unslice(g, x.shape, a.begin, a.size, a.step)] });
defineRule('pad', { saves: NONE, vjp: ([x], _y, g, a) => [T.slice(g, a.pads.map((p: [number, number]) => p[0]), x.shape)] });
defineRule('concat', { saves: NONE, vjp: (xs, _y, g, a) => {
  let offset = 0;
  return xs.map((x) => {
    const begin = x.shape.map((_, i) => (i === a.axis ? offset : 0));
    offset += x.shape[a.axis];
    return T.slice(g, begin, x.shape);
  });
} });
defineRule('gather', { saves: IN(1), vjp: ([x, idx], _y, g, a) => [T.scatterAdd(g, idx, a.axis, x.shape[a.axis]), null] });
// scatterAdd takes indices of any shape (gather's rule passes gather's own): gather with
// them flattened, so the cotangent keeps g's shape
defineRule('scatterAdd', { saves: IN(1), vjp: ([, idx], _y, g, a) => [T.gather(g, idx.rank === 1 ? idx : T.reshape(idx, [idx.size]), a.axis), null] });

// --- convolution and pooling
defineRule('conv2d', { saves: IN(0, 1), vjp: ([x, w], _y, g, a) => {
  const opts = convOpts(a);
  return [T.convTranspose2d(g, w, { ...opts, outputPadding: outputPaddingFor(x, g, w.shape, a) }), T.conv2dFilterGrad(x, g, w.shape, opts)];
} });
// <convTranspose2d(x, w), g> = <x, conv2d(g, w)>. When outputPadding >= stride (allowed
// while it is below the dilation) conv2d(g, w) has more rows/columns than x: the last
// ones belong to output positions no input reaches. Crop them for dx, and pad x with
// zeros to match for dw.
defineRule('convTranspose2d', { saves: IN(0, 1), vjp: ([x, w], _y, g, a) => {
  const opts = convOpts(a);
  const [N, C, H, W] = x.shape;
  const dx = T.conv2d(g, w, opts);
  const [eh, ew] = [dx.shape[2] - H, dx.shape[3] - W];
  if (eh === 0 && ew === 0) return [dx, T.conv2dFilterGrad(g, x, w.shape, opts)];
  const xp = T.pad(x, [[0, 0], [0, 0], [0, eh], [0, ew]]);
  return [T.slice(dx, [0, 0, 0, 0], [N, C, H, W]), T.conv2dFilterGrad(g, xp, w.shape, opts)];
} });
// <G, F(x, dy)> = <conv2d(x, G), dy> = <x, convTranspose2d(dy, G)>
defineRule('conv2dFilterGrad', { saves: IN(0, 1), vjp: ([x, dy], _y, g, a) => {
  const opts = convOpts(a);
  return [T.convTranspose2d(dy, g, { ...opts, outputPadding: outputPaddingFor(x, dy, g.shape, a) }), T.conv2d(x, g, opts)];
} });
defineRule('maxPool2dGather', { saves: IN(0), vjp: ([x], _y, g, a) => [null, T.maxPool2dScatter(x, g, a.kernel, { stride: a.stride, padding: a.padding })] });
defineRule('maxPool2dScatter', { saves: IN(0), vjp: ([x], _y, g, a) => [null, T.maxPool2dGather(x, g, a.kernel, { stride: a.stride, padding: a.padding })] });

// --- group normalization (fused; tensor ops/norm.ts). With L(w) = groupNormGrad(x, w) (no
// gamma) = rstd (w - mean(w) - h mean(w h)) per group, the VJP of a group's h = (x - mean) rstd
// for a cotangent w: L is symmetric, and grad_x <w, h> = L(w) (so the rules below reuse it).
defineRule('groupNorm', { saves: IN(0, 1), vjp: (xs, _y, g, a) => {
  const x = xs[0];
  const gamma = a.gamma ? xs[1] : undefined;
  const o = { eps: a.eps };
  // groupNormGrad, then (with affine params) groupNormParamGrad reusing its statistics and sums
  const { dx, dparams } = T.groupNormBackward(x, g, a.groups, { ...o, gamma }, Boolean(a.gamma || a.beta));
  if (!dparams) return [dx];
  const C = x.shape[1];
  const row = (k: number) => T.reshape(T.slice(dparams, [k, 0], [1, C]), [C]);
  return [dx, ...(a.gamma ? [row(0)] : []), ...(a.beta ? [row(1)] : [])];
} });
// y = L_x(v), v = g * gamma[c], for the cotangent u: grad_g = gamma L(u); grad_gamma = per-channel
// sum of g L(u); grad_x of <u, L_x(v)> = -(rstd / M) (f h + M B L(u) + A y) per group, with
// f = <u, y>, A = <u, h>, B = mean(v h) (from grad_x rstd = -rstd^2 h / M and grad_x <w, h> = L(w)).
defineRule('groupNormGrad', { saves: { inputs: [0, 1, 2], output: true }, vjp: (xs, y, u, a) => {
  const [x, g] = xs;
  const gamma = a.gamma ? xs[2] : undefined;
  const [N, C] = x.shape;
  const G: number = a.groups;
  const M = x.size / (N * G);
  const o = { eps: a.eps };
  const cshape = [1, C, ...x.shape.slice(2).map(() => 1)];
  const Lu = T.groupNormGrad(x, u, G, o);
  const v = gamma ? mul(g, T.reshape(gamma, cshape)) : g;
  const grp = (t: Tensor) => T.reshape(t, [N, G, M]);
  const h = grp(T.groupNorm(x, G, o));
  const rstd = T.rsqrt(T.add(T.variance(grp(x), 2, true), a.eps));
  const f = T.sum(mul(grp(u), grp(y)), 2, true);
  const A = T.sum(mul(grp(u), h), 2, true);
  const B = T.mean(mul(grp(v), h), 2, true);
  const inner = T.add(T.add(mul(f, h), mul(mul(B, M), grp(Lu))), mul(A, grp(y)));
  const dx = T.reshape(mul(mul(rstd, -1 / M), inner), x.shape);
  const dg = gamma ? mul(Lu, T.reshape(gamma, cshape)) : Lu;
  const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
  return [dx, dg, ...(gamma ? [T.sum(mul(g, Lu), axes)] : [])];
} });
// P = [sum g h; sum g] per channel, cotangent U [2, C]: grad_g = U[0] h + U[1] = groupNorm(x,
// gamma U[0], beta U[1]); grad_x of sum_c U[0, c] <g, h>_c = L(U[0] g) = groupNormGrad(x, g, gamma U[0]).
defineRule('groupNormParamGrad', { saves: IN(0, 1), vjp: ([x, g], _y, U, a) => {
  const C = x.shape[1];
  const o = { eps: a.eps };
  const row = (k: number) => T.reshape(T.slice(U, [k, 0], [1, C]), [C]);
  const u0 = row(0);
  return [T.groupNormGrad(x, g, a.groups, { ...o, gamma: u0 }), T.groupNorm(x, a.groups, { ...o, gamma: u0, beta: row(1) })];
} });

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
