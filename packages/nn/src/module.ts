// The two shapes a layer comes in.
//
//   Layer   `linear.init(key, cfg) -> params`, `linear.apply(params, x, opts?) -> y`: the pure
//           functional form. `opts` takes whatever apply needs beyond the tensors (stride,
//           number of groups / heads, ...); passing the config used for init always works.
//   Module  `linear.module(cfg)`: the same layer with its config bound, `init(key) -> params`
//           and `apply(params, x, ctx?) -> y`. Modules compose (sequential, mlp, your own
//           objects) and receive a Context carrying the dropout key and the training flag.
//
// Every apply runs inside `tidy`: its intermediates are freed, only the output survives. Params
// are never modified or disposed by apply.

import * as T from '@tapegrad/tensor';
import { foldIn, type RandomKey, type Tensor, checkTensor, opError } from '@tapegrad/tensor';
import { type Tree } from './util.ts';

/** What a module's apply gets besides params and input. */
export interface Context {
  /** Randomness for this call (dropout); sequential folds the layer index into it. */
  key?: RandomKey;
  /** Training mode: dropout is active only when true. Default false. */
  train?: boolean;
}

/** A layer with its configuration bound: what composition works with. */
export interface Module<P = Tree> {
  readonly name: string;
  init(key: RandomKey): P;
  apply(params: P, x: Tensor, ctx?: Context): Tensor;
}

/** A layer in functional form (see the file comment). */
export interface Layer<Cfg, P, Opts = Cfg> {
  readonly name: string;
  init(key: RandomKey, cfg: Cfg): P;
  apply(params: P, x: Tensor, opts?: Opts): Tensor;
  /** Bind a config: a Module whose apply passes `cfg` as `opts`. */
  module(cfg: Cfg): Module<P>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ParamsOf<M> = M extends Module<infer P> ? P : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SequentialParams<Ms extends readonly Module<any>[]> = { -readonly [K in keyof Ms]: ParamsOf<Ms[K]> };

/**
 * @internal tidy + a check that the input is a live tensor, run as the public op `op`: an
 * error of a tensor op inside the layer starts with the layer the user called
 * (`upsample: broadcastTo: ...`).
 */
export function applying(op: string, x: unknown, fn: (x: Tensor) => Tensor): Tensor {
  return T.withOp(op, () => {
    const t = checkTensor(op, 'input', x);
    return T.tidy(() => fn(t));
  });
}

/** @internal Check that params is an object with the given tensor fields. */
export function paramTensor(op: string, params: unknown, field: string, expected: string): Tensor {
  if (params === null || typeof params !== 'object') {
    throw opError(op, `params must be an object ${expected}, got ${params === null ? 'null' : typeof params}`);
  }
  const v = (params as Record<string, unknown>)[field];
  if (v === undefined) throw opError(op, `params.${field} is missing; expected params ${expected}`);
  return checkTensor(op, `params.${field}`, v);
}

/**
 * Layers applied in order. Params are the array of each module's params (so tensor names
 * are '0.weight', '2.bias', ... as in PyTorch's nn.Sequential; parameterless layers keep
 * their index with empty params {}). Init splits the key into one per layer; apply folds the
 * layer index into ctx.key.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sequential<const Ms extends readonly Module<any>[]>(...modules: Ms): Module<SequentialParams<Ms>> {
  modules.forEach((m, i) => {
    if (!m || typeof m.init !== 'function' || typeof m.apply !== 'function') {
      throw opError('sequential', `argument ${i} is not a module (an object with init(key) and apply(params, x, ctx)); did you mean layer.module(cfg)?`);
    }
  });
  const name = `sequential(${modules.map((m) => m.name).join(', ')})`;
  return {
    name,
    init(key) {
      if (modules.length === 0) return [] as unknown as SequentialParams<Ms>;
      const keys = T.splitKey(key, modules.length);
      return modules.map((m, i) => m.init(keys[i])) as unknown as SequentialParams<Ms>;
    },
    apply(params, x, ctx = {}) {
      if (!Array.isArray(params) || params.length !== modules.length) {
        throw opError('sequential', `params must be an array of ${modules.length} entries (one per layer), got ${Array.isArray(params) ? `an array of ${params.length}` : typeof params}`);
      }
      return applying('sequential', x, (h) => {
        const x0 = h;
        modules.forEach((m, i) => {
          h = m.apply(params[i], h, ctx.key ? { ...ctx, key: foldIn(ctx.key, i) } : ctx);
        });
        return h === x0 ? T.clone(h) : h;
      });
    },
  };
}
