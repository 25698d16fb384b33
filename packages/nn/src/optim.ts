// Optimizers as pure functions over pytrees, optax-style:
//   const opt = adam({ learningRate: 1e-3 });
//   let state = opt.init(params);
//   ({ params, state } = opt.update(grads, state, params));   // pure: new tensors, nothing disposed
//   ({ params, state } = opt.step(grads, state, params));     // the same, then disposes the old
//                                                             // params, the old state and grads
// The math is elementwise tensor ops (runs on any backend); hyper-parameters, the step count
// and the bias corrections are host numbers (float64), so no value is read back.
// state.step counts the updates done so far; the learning rate of an update is
// learningRate(state.step) when learningRate is a schedule.
// update = scalars(state.step) + apply: `opt.scalars(step)` gives the per-update host numbers
// ({ lr, bc1, bc2 }) and `opt.apply(grads, { mu, nu }, params, scalars)` does the math with them
// as numbers or rank-0 tensors, so a compiled step (@tapegrad/compile) passes them as arguments:
//   const s = opt.scalars(state.step);                      // host, outside the step
//   step(params, state.mu, state.nu, ..., s.lr, s.bc1, s.bc2) // inside: opt.apply(g, { mu, nu }, p, { lr, bc1, bc2 })

import * as T from '@tapegrad/tensor';
import { treeUnflatten, type Tensor, checkNumber, opError } from '@tapegrad/tensor';
import { checkSameTree, flattenTensors, type FlatTree } from './trees.ts';
import { disposeReplaced, type Tree } from './util.ts';

/** Learning rate as a function of the update count (0 for the first update). */
export type Schedule = (step: number) => number;
export type LearningRate = number | Schedule;

export interface Optimizer<S> {
  readonly name: string;
  /** Fresh state for `params` (zeros of their shapes where needed; step 0). */
  init<P extends Tree>(params: P): S;
  /** Pure: new params and state; grads, state and params are left alone. */
  update<P extends Tree>(grads: P, state: S, params: P): { params: P; state: S };
  /** update, then dispose the old params, the old state and the grads (what a training loop wants). */
  step<P extends Tree>(grads: P, state: S, params: P): { params: P; state: S };
  /** The learning rate the update number `step` (0-based) uses. */
  learningRate(step: number): number;
  /**
   * The per-update host scalars of update number `step` (0-based; the state's `step`): the
   * learning rate and, for Adam, the bias corrections 1 - b1^t and 1 - b2^t (t = step + 1),
   * computed in float64 on the host. What `apply` takes (as numbers, or as rank-0 tensors
   * inside a compiled step, where a number argument is a rank-0 tensor).
   */
  scalars(step: number): OptScalars;
  /**
   * The update math alone: new params and the new moment buffers, with the per-update scalars
   * given (numbers or rank-0 tensors). `state.step` is neither read nor required; the returned
   * state has no `step` (update = scalars(state.step) + apply, and sets step + 1). Pure.
   */
  apply<P extends Tree>(grads: P, state: Omit<S, 'step'>, params: P, scalars: OptScalarArgs): { params: P; state: Omit<S, 'step'> };
}

/** The per-update host scalars of an optimizer (bc1/bc2 only for Adam / AdamW). */
export interface OptScalars {
  lr: number;
  bc1?: number;
  bc2?: number;
}

/** The same scalars as numbers or rank-0 tensors (inside a compiled step). */
export interface OptScalarArgs {
  lr: number | Tensor;
  bc1?: number | Tensor;
  bc2?: number | Tensor;
}

/** Which parameters get weight decay: (name like 'layers.0.weight', tensor) => boolean. */
export type DecayMask = (path: string, param: Tensor) => boolean;

function lrFn(op: string, lr: LearningRate): Schedule {
  if (typeof lr === 'function') {
    return (step) => {
      const v = lr(step);
      if (typeof v !== 'number' || !Number.isFinite(v)) throw opError(op, `the learning-rate schedule returned ${v} at step ${step}; expected a finite number`);
      return v;
    };
  }
  checkNumber(op, 'learningRate', lr, 0);
  return () => lr;
}

function checkStep(op: string, state: { step?: unknown }): number {
  const s = state?.step;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
    throw opError(op, `state.step must be a non-negative integer (state from ${op.split('.')[0]}.init), got ${JSON.stringify(s)}`);
  }
  return s;
}

/** Flatten params and check grads (and state trees) against them, listing every mismatch. */
function flatAll(op: string, params: Tree, others: [string, Tree][]): { p: FlatTree; rest: FlatTree[] } {
  const p = flattenTensors(op, 'params', params);
  const rest = others.map(([name, tree]) => {
    const f = flattenTensors(op, name, tree);
    checkSameTree(op, 'params', p, name, f);
    return f;
  });
  return { p, rest };
}

function zerosTree(op: string, params: Tree): Tree {
  const { leaves, def } = flattenTensors(op, 'params', params);
  return treeUnflatten(def, leaves.map((t) => T.useBackend(t.backend, () => T.zeros(t.shape))));
}

/** A scalar argument of apply: a finite number or a rank-0 tensor. */
function checkScalarArg(op: string, name: string, v: unknown): number | Tensor {
  if (T.isTensor(v)) {
    if (v.rank !== 0) throw opError(op, `scalars.${name} must be a number or a rank-0 tensor, got a tensor of shape [${v.shape.join(', ')}]`);
    return v;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw opError(op, `scalars.${name} must be a finite number or a rank-0 tensor, got ${JSON.stringify(v)}`);
  return v;
}

function makeOptimizer<S extends { step: number }>(
  name: string,
  lr: Schedule,
  init: (params: Tree) => S,
  scalars: (step: number) => OptScalars,
  apply: (grads: Tree, state: Omit<S, 'step'>, params: Tree, scalars: OptScalarArgs) => { params: Tree; state: Omit<S, 'step'> },
): Optimizer<S> {
  const update = (grads: Tree, state: S, params: Tree): { params: Tree; state: S } => {
    const step = checkStep(`${name}.update`, state);
    const out = apply(grads, state, params, scalars(step));
    return { params: out.params, state: { step: step + 1, ...out.state } as S };
  };
  const opt: Optimizer<S> = {
    name,
    init: (params) => init(params),
    update: (grads, state, params) => update(grads, state, params),
    scalars: (step) => {
      if (!Number.isInteger(step) || step < 0) throw opError(`${name}.scalars`, `step must be a non-negative integer (the state's step), got ${JSON.stringify(step)}`);
      return scalars(step);
    },
    apply: (grads, state, params, sc) => apply(grads, state, params, sc),
    step(grads, state, params) {
      const out = update(grads, state, params);
      const next = [out.params, out.state];
      disposeReplaced([params, state], next);
      disposeReplaced(grads, next);
      return out;
    },
    learningRate: lr,
  };
  return opt;
}

// ---------------------------------------------------------------------------------------
// SGD

export interface SgdConfig {
  learningRate: LearningRate;
  /** Heavy-ball momentum mu in [0, 1). Default 0 (no buffers). */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0). Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's SGD weight_decay). Default 0. */
  weightDecay?: number;
  weightDecayMask?: DecayMask;
}

export interface SgdState {
  step: number;
  /** Momentum buffers, the structure of params (absent when momentum is 0). */
  momentum?: Tree;
}

/**
 * PyTorch's SGD (dampening 0): g = grad + wd p; b = mu b + g (b starts at 0, so b_1 = g);
 * d = g + mu b (nesterov) or b (heavy ball) or g (no momentum); p' = p - lr d.
 */
export function sgd(cfg: SgdConfig): Optimizer<SgdState> {
  const op = 'sgd';
  const lr = lrFn(op, cfg?.learningRate);
  const mu = checkNumber(op, 'momentum', cfg.momentum ?? 0, 0, 1, false, true);
  const wd = checkNumber(op, 'weightDecay', cfg.weightDecay ?? 0, 0);
  if (cfg.nesterov && mu === 0) throw opError(op, 'nesterov needs momentum > 0');
  return makeOptimizer<SgdState>(
    op,
    lr,
    (params) => (mu > 0 ? { step: 0, momentum: zerosTree('sgd.init', params) } : { step: 0 }),
    (step) => ({ lr: lr(step) }),
    (grads, state, params, scalars) => {
      const uop = 'sgd.update';
      if (mu > 0 && state?.momentum === undefined) throw opError(uop, 'state.momentum is missing; expected the state from sgd.init with the same momentum');
      const rate = checkScalarArg(uop, 'lr', scalars?.lr);
      const { p, rest } = flatAll(uop, params, mu > 0 ? [['grads', grads], ['state.momentum', state.momentum]] : [['grads', grads]]);
      const [g, b] = rest;
      const decays = p.paths.map((path, i) => wd > 0 && (!cfg.weightDecayMask || cfg.weightDecayMask(path, p.leaves[i])));
      return T.tidy(() => {
        const newP: Tensor[] = [];
        const newB: Tensor[] = [];
        p.leaves.forEach((pi, i) => {
          let gi = g.leaves[i];
          if (decays[i]) gi = T.add(gi, T.mul(pi, wd));
          let d = gi;
          if (mu > 0) {
            const bi = T.add(T.mul(b.leaves[i], mu), gi);
            newB.push(bi);
            d = cfg.nesterov ? T.add(gi, T.mul(bi, mu)) : bi;
          }
          newP.push(T.sub(pi, T.mul(d, rate)));
        });
        const st: Omit<SgdState, 'step'> = {};
        if (mu > 0) st.momentum = treeUnflatten(p.def, newB);
        return { params: treeUnflatten(p.def, newP), state: st };
      });
    },
  );
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW

export interface AdamConfig {
  learningRate: LearningRate;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Added to sqrt(v_hat). Default 1e-8. */
  eps?: number;
  /**
   * adam: L2 penalty added to the gradient (PyTorch Adam's weight_decay), default 0.
   * adamw: decoupled decay p <- p - lr wd p (PyTorch AdamW), default 0.01.
   */
  weightDecay?: number;
  weightDecayMask?: DecayMask;
}

export interface AdamState {
  step: number;
  /** First moment (the structure of params). */
  mu: Tree;
  /** Second moment. */
  nu: Tree;
}

function adamLike(op: 'adam' | 'adamw', cfg: AdamConfig): Optimizer<AdamState> {
  const lr = lrFn(op, cfg?.learningRate);
  const b1 = checkNumber(op, 'beta1', cfg.beta1 ?? 0.9, 0, 1, false, true);
  const b2 = checkNumber(op, 'beta2', cfg.beta2 ?? 0.999, 0, 1, false, true);
  const eps = checkNumber(op, 'eps', cfg.eps ?? 1e-8, 0);
  const wd = checkNumber(op, 'weightDecay', cfg.weightDecay ?? (op === 'adamw' ? 0.01 : 0), 0);
  const decoupled = op === 'adamw';
  return makeOptimizer<AdamState>(
    op,
    lr,
    (params) => ({ step: 0, mu: zerosTree(`${op}.init`, params), nu: zerosTree(`${op}.init`, params) }),
    (step) => {
      const t = step + 1;
      return { lr: lr(step), bc1: 1 - b1 ** t, bc2: 1 - b2 ** t };
    },
    (grads, state, params, scalars) => {
      const uop = `${op}.update`;
      const rate = checkScalarArg(uop, 'lr', scalars?.lr);
      const bc1 = checkScalarArg(uop, 'bc1', scalars.bc1);
      const bc2 = checkScalarArg(uop, 'bc2', scalars.bc2);
      const { p, rest } = flatAll(uop, params, [['grads', grads], ['state.mu', state?.mu], ['state.nu', state?.nu]]);
      const [g, m, v] = rest;
      const decays = p.paths.map((path, i) => wd > 0 && (!cfg.weightDecayMask || cfg.weightDecayMask(path, p.leaves[i])));
      return T.tidy(() => {
        const newP: Tensor[] = [];
        const newM: Tensor[] = [];
        const newV: Tensor[] = [];
        p.leaves.forEach((pi, i) => {
          let gi = g.leaves[i];
          if (decays[i] && !decoupled) gi = T.add(gi, T.mul(pi, wd));
          const mi = T.add(T.mul(m.leaves[i], b1), T.mul(gi, 1 - b1));
          const vi = T.add(T.mul(v.leaves[i], b2), T.mul(T.square(gi), 1 - b2));
          const mhat = T.div(mi, bc1);
          const vhat = T.div(vi, bc2);
          let upd = T.div(mhat, T.add(T.sqrt(vhat), eps));
          if (decays[i] && decoupled) upd = T.add(upd, T.mul(pi, wd));
          newP.push(T.sub(pi, T.mul(upd, rate)));
          newM.push(mi);
          newV.push(vi);
        });
        return {
          params: treeUnflatten(p.def, newP),
          state: { mu: treeUnflatten(p.def, newM), nu: treeUnflatten(p.def, newV) },
        };
      });
    },
  );
}

/**
 * Adam (Kingma & Ba; PyTorch's torch.optim.Adam): g = grad + wd p (L2, default wd 0);
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m^ = m / (1-b1^t); v^ = v / (1-b2^t);
 * p' = p - lr m^ / (sqrt(v^) + eps), t = state.step + 1.
 */
export function adam(cfg: AdamConfig): Optimizer<AdamState> {
  return adamLike('adam', cfg);
}

/**
 * AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW): Adam on the raw gradient plus a
 * decoupled decay, p' = p - lr (m^ / (sqrt(v^) + eps) + wd p). Default wd 0.01.
 */
export function adamw(cfg: AdamConfig): Optimizer<AdamState> {
  return adamLike('adamw', cfg);
}

// ---------------------------------------------------------------------------------------
// Gradient clipping

/** sqrt(sum over all leaves of sum(g^2)) as a scalar tensor (no read-back). */
export function globalNorm(tree: Tree): Tensor {
  const { leaves } = flattenTensors('globalNorm', 'tree', tree);
  if (leaves.length === 0) throw opError('globalNorm', 'the tree has no tensors');
  return T.tidy(() => T.sqrt(leaves.map((t) => T.sum(T.square(t))).reduce((a, b) => T.add(a, b))));
}

/**
 * Scale every gradient by min(1, maxNorm / (norm + 1e-6)) where norm is the global L2 norm
 * (PyTorch's clip_grad_norm_). Returns new tensors: the clipped grads and the norm before
 * clipping (a scalar tensor). The input grads are left alone.
 */
export function clipByGlobalNorm<G extends Tree>(grads: G, maxNorm: number): { grads: G; norm: Tensor } {
  const op = 'clipByGlobalNorm';
  checkNumber(op, 'maxNorm', maxNorm, 0, Infinity, true);
  const { leaves, def } = flattenTensors(op, 'grads', grads);
  return T.tidy(() => {
    const norm = globalNorm(grads);
    const scale = T.minimum(T.div(maxNorm, T.add(norm, 1e-6)), 1);
    return { grads: treeUnflatten<G>(def, leaves.map((g) => T.mul(g, scale))), norm };
  });
}
