// Fused GroupNorm (PyTorch's torch.nn.functional.group_norm: population variance, eps inside
// the square root) as three primitives, so that a training step runs a handful of passes over
// the activations instead of the ~22 of the composite (mean, sub, square, mean, add, rsqrt,
// mul, affine mul / add, and their VJPs):
// - groupNorm(x, groups, {gamma, beta, eps}): the forward (statistics + normalize + affine);
// - groupNormGrad(x, g, groups, {gamma, eps}): its VJP in x for the cotangent g;
// - groupNormParamGrad(x, g, groups, {eps}): [dgamma; dbeta] = per channel [sum g h; sum g].
// Each recomputes the per-group statistics from x (two-pass, cheap next to the passes it
// saves). Their VJP rules (autograd rules.ts) are written with these same primitives, so
// derivatives of every order exist.

import type { Backend, GroupNormAttrs, Storage } from '../backend.ts';
import { checkNumber, fmtValue } from '../errors.ts';
import { fmtShape, opError, sizeOf } from '../shape.ts';
import { runPrimitive } from '../dispatch.ts';
import { isTensor, type Tensor } from '../tensor.ts';

export interface GroupNormOptions {
  /** Per-channel scale [C] (PyTorch's weight); default none (1). */
  gamma?: Tensor;
  /** Per-channel shift [C] (PyTorch's bias); default none (0). */
  beta?: Tensor;
  /** Added to the variance inside the square root; default 1e-5. */
  eps?: number;
}

interface Plan {
  attrs: GroupNormAttrs;
  statsShape: number[];
  sumsShape: number[];
}

function plan(op: string, x: Tensor, groups: unknown, eps: unknown): Plan {
  if (x.rank < 2) throw opError(op, `x must have rank >= 2 (N, C, *spatial), got shape ${fmtShape(x.shape)}`);
  const C = x.shape[1];
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) {
    throw opError(op, `groups must be a positive integer, got ${fmtValue(groups)}`);
  }
  if (C % groups !== 0) throw opError(op, `x ${fmtShape(x.shape)} has ${C} channels; expected a multiple of groups (${groups})`);
  const e = checkNumber(op, 'eps', eps ?? 1e-5, 0);
  if (sizeOf(x.shape.slice(2)) === 0 && x.shape[0] > 0) {
    throw opError(op, `x ${fmtShape(x.shape)} has no spatial positions; expected every group to hold at least one element`);
  }
  return { attrs: { groups, eps: e }, statsShape: [x.shape[0], groups, 2], sumsShape: [x.shape[0], C, 2] };
}

function channelVector(op: string, name: string, v: unknown, x: Tensor): Tensor | undefined {
  if (v === undefined) return undefined;
  if (!isTensor(v)) throw opError(op, `${name} must be a Tensor of shape [${x.shape[1]}] or undefined, got ${fmtValue(v)}`);
  if (v.rank !== 1 || v.shape[0] !== x.shape[1]) {
    throw opError(op, `${name} has shape ${fmtShape(v.shape)}; expected [${x.shape[1]}] (one value per channel of x ${fmtShape(x.shape)})`);
  }
  return v;
}

/** GroupNorm of x [N, C, *spatial] over groups of C/groups channels, then gamma[c] * h + beta[c]. */
export function groupNorm(x: Tensor, groups: number, opts: GroupNormOptions = {}): Tensor {
  const op = 'groupNorm';
  const { attrs, statsShape } = plan(op, x, groups, opts?.eps);
  const gamma = channelVector(op, 'gamma', opts.gamma, x);
  const beta = channelVector(op, 'beta', opts.beta, x);
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  return runPrimitive(op, inputs, x.shape, { ...attrs, gamma: gamma !== undefined, beta: beta !== undefined }, (b, [xs, ...rest]) => {
    const gs: Storage | null = gamma ? rest[0] : null;
    const bs: Storage | null = beta ? rest[gamma ? 1 : 0] : null;
    const st = b.groupNormStats(xs, x.shape, attrs, statsShape);
    try {
      return b.groupNormForward(xs, x.shape, st, gs, bs, attrs, x.shape);
    } finally {
      b.free(st);
    }
  });
}

function checkCotangent(op: string, x: Tensor, g: unknown): Tensor {
  if (!isTensor(g)) throw opError(op, `g must be a Tensor of x's shape ${fmtShape(x.shape)}, got ${fmtValue(g)}`);
  if (g.rank !== x.rank || !g.shape.every((d, i) => d === x.shape[i])) {
    throw opError(op, `g has shape ${fmtShape(g.shape)}; expected x's shape ${fmtShape(x.shape)}`);
  }
  return g;
}

/**
 * The VJP of groupNorm(x, groups, {gamma, eps}) in x for the output cotangent g:
 * rstd * (d - mean(d) - h * mean(d * h)) per group, d = g * gamma[c].
 */
export function groupNormGrad(x: Tensor, g: Tensor, groups: number, opts: Omit<GroupNormOptions, 'beta'> = {}): Tensor {
  const op = 'groupNormGrad';
  const { attrs, statsShape, sumsShape } = plan(op, x, groups, opts?.eps);
  checkCotangent(op, x, g);
  const gamma = channelVector(op, 'gamma', opts.gamma, x);
  const inputs = [x, g, ...(gamma ? [gamma] : [])];
  return runPrimitive(op, inputs, x.shape, { ...attrs, gamma: gamma !== undefined }, (b, [xs, gs, gm]) => {
    const st = b.groupNormStats(xs, x.shape, attrs, statsShape);
    const sums = b.groupNormChannelSums(xs, x.shape, gs, st, attrs, sumsShape);
    try {
      return b.groupNormInputGrad(xs, x.shape, gs, st, sums, gamma ? gm : null, attrs, x.shape);
    } finally {
      b.free(st);
      b.free(sums);
    }
  });
}

/** [dgamma; dbeta] of groupNorm for the output cotangent g: shape [2, C], per channel [sum g h; sum g]. */
export function groupNormParamGrad(x: Tensor, g: Tensor, groups: number, opts: Pick<GroupNormOptions, 'eps'> = {}): Tensor {
  const op = 'groupNormParamGrad';
  const { attrs, statsShape, sumsShape } = plan(op, x, groups, opts?.eps);
  checkCotangent(op, x, g);
  const out = [2, x.shape[1]];
  return runPrimitive(op, [x, g], out, { ...attrs }, (b, [xs, gs]) => {
    const st = b.groupNormStats(xs, x.shape, attrs, statsShape);
    const sums = b.groupNormChannelSums(xs, x.shape, gs, st, attrs, sumsShape);
    try {
      return b.groupNormParamGrad(sums, sumsShape, out);
    } finally {
      b.free(st);
      b.free(sums);
    }
  });
}

/**
 * The whole VJP of groupNorm for the cotangent g: dx (the primitive groupNormGrad) and, with
 * `params`, [dgamma; dbeta] (the primitive groupNormParamGrad), as two observed primitives of
 * their usual semantics; the second reuses the statistics and per-channel sums the first
 * computed instead of recomputing them (3 kernel passes over x and g fewer).
 */
export function groupNormBackward(
  x: Tensor, g: Tensor, groups: number, opts: Omit<GroupNormOptions, 'beta'> = {}, params = true,
): { dx: Tensor; dparams?: Tensor } {
  if (!params) return { dx: groupNormGrad(x, g, groups, opts) };
  const op = 'groupNormGrad';
  const { attrs, statsShape, sumsShape } = plan(op, x, groups, opts?.eps);
  checkCotangent(op, x, g);
  const gamma = channelVector(op, 'gamma', opts.gamma, x);
  let kept: { b: Backend; st: Storage; sums: Storage } | null = null;
  try {
    const dx = runPrimitive(op, [x, g, ...(gamma ? [gamma] : [])], x.shape, { ...attrs, gamma: gamma !== undefined }, (b, [xs, gs, gm]) => {
      const st = b.groupNormStats(xs, x.shape, attrs, statsShape);
      const sums = b.groupNormChannelSums(xs, x.shape, gs, st, attrs, sumsShape);
      kept = { b, st, sums };
      return b.groupNormInputGrad(xs, x.shape, gs, st, sums, gamma ? gm : null, attrs, x.shape);
    });
    const out = [2, x.shape[1]];
    const k = kept as { b: Backend; st: Storage; sums: Storage } | null;
    const dparams = runPrimitive('groupNormParamGrad', [x, g], out, { ...attrs }, (b) => b.groupNormParamGrad(k!.sums, sumsShape, out));
    return { dx, dparams };
  } finally {
    const k = kept as { b: Backend; st: Storage; sums: Storage } | null;
    if (k) {
      k.b.free(k.st);
      k.b.free(k.sums);
    }
  }
}
