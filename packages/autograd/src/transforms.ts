// Functional transforms over pytrees of tensors: grad, valueAndGrad, vjp, jvp, hvp,
// stopGradient, customVjp, noGrad. Each call opens its own Tape (see tape.ts), runs the
// function inside a tidy scope (intermediates are freed; the tape holds what it needs),
// and releases the tape before returning, so live tensors are unchanged afterwards except
// for what is returned. vjp is the one exception: its vjpFn owns the tape until disposed.

import * as T from '@tapegrad/tensor';
import {
  checkFunction, describeValue, fmtShape, fmtValue, isTensor, opError, shareBuffer, treeFlatten, treeUnflatten, type Tensor, type TreeDef,
} from '@tapegrad/tensor';
import { activeTapes, noGrad, Tape } from './tape.ts';

export { noGrad };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tree = any;

function checkedLeaves(op: string, what: string, tree: Tree, differentiated = false): { leaves: Tensor[]; def: TreeDef } {
  const [leaves, def] = treeFlatten(tree, op);
  leaves.forEach((l, i) => {
    if (!isTensor(l)) {
      const kind = typeof l === 'number' ? 'a number' : l === null ? 'null' : typeof l;
      throw opError(op, `${what} leaf ${i} is ${kind}; expected tensors to differentiate (wrap constants with tensor(), or pass them as non-differentiated arguments)`);
    }
    if (l.isDisposed) throw opError(op, `${what} leaf ${i} (shape ${fmtShape(l.shape)}) was already disposed`);
    if (differentiated && T.isIntegerValued(l)) {
      throw opError(op, `${what} leaf ${i} (shape ${fmtShape(l.shape)}) holds integer values (from argmax, argmin or randomInt); expected a floating-point tensor to differentiate`);
    }
  });
  return { leaves: leaves as Tensor[], def };
}

function checkArgnums(op: string, argnums: number | readonly number[], nargs: number): number[] {
  const list = typeof argnums === 'number' ? [argnums] : Array.from(argnums);
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= nargs) {
      throw opError(op, `argnums ${fmtValue(argnums)} is out of range for a call with ${nargs} argument(s)`);
    }
  }
  if (new Set(list).size !== list.length) throw opError(op, `argnums ${fmtValue(argnums)} contains a duplicate`);
  return list;
}

/**
 * Run `fn(args)` on a fresh tape watching the tensor leaves of `args[argnums]`. Each watched
 * leaf is replaced by a `clone` (an identity op, so enclosing tapes see it) to give every
 * argument position its own identity: f(x, x) differentiated in both arguments gets the
 * two partial derivatives, as in JAX.
 */
function traced<R>(op: string, fn: (...a: Tree[]) => R, args: Tree[], argnums: number[]) {
  // what this call creates (the clones, f's new tensors) is ours to free; what f returns
  // unchanged from outside (a parameter, a closed-over tensor) is the caller's
  const mark = T.creationMark();
  const watched = argnums.map((k) => checkedLeaves(op, `argument ${k}`, args[k], true));
  const clones = watched.map((w) => w.leaves.map((l) => T.clone(l)));
  const callArgs = args.slice();
  argnums.forEach((k, j) => (callArgs[k] = treeUnflatten(watched[j].def, clones[j])));
  const tape = new Tape();
  const handles = clones.flat().map((c) => tape.watch(c));
  const cleanup = (result: unknown) => {
    const keepers = T.collectTensors(op, result);
    for (const c of clones.flat()) if (!keepers.has(c)) c.dispose();
  };
  let out: R;
  try {
    tape.open();
    out = T.tidy(() => fn(...callArgs));
  } catch (e) {
    tape.release();
    cleanup(undefined);
    throw e;
  } finally {
    tape.close();
  }
  return { out, tape, watched, handles, cleanup, mark };
}

function checkScalar(op: string, v: unknown): Tensor {
  if (!isTensor(v)) throw opError(op, `f must return a scalar Tensor, got ${describeValue(v)}`);
  if (v.rank !== 0) {
    throw opError(op, `f must return a scalar tensor (shape []), got shape ${fmtShape(v.shape)}; use vjp for non-scalar outputs, or reduce with sum/mean first`);
  }
  return v;
}

export interface ValueAndGradOptions {
  /** f returns [value, aux]; aux is passed through undifferentiated. */
  hasAux?: boolean;
}

/**
 * `(...args) => [value, grads]` (or `[[value, aux], grads]` with hasAux): grads has the
 * pytree structure of `args[argnums]` (an array of such when argnums is an array).
 */
export function valueAndGrad(f: (...args: Tree[]) => Tree, argnums: number | readonly number[] = 0, opts: ValueAndGradOptions = {}) {
  return valueAndGradNamed('valueAndGrad', f, argnums, opts);
}

function checkTransform(op: string, f: unknown, argnums: unknown, opts: unknown): void {
  checkFunction(op, 'f', f);
  const ok = (a: unknown) => typeof a === 'number' && Number.isInteger(a) && a >= 0;
  if (!(ok(argnums) || (Array.isArray(argnums) && argnums.length > 0 && argnums.every(ok)))) {
    throw opError(op, `argnums must be a non-negative integer or a non-empty array of them, got ${describeValue(argnums)}`);
  }
  if (opts === null || typeof opts !== 'object') throw opError(op, `options must be an object, got ${describeValue(opts)}`);
  const hasAux = (opts as ValueAndGradOptions).hasAux;
  if (hasAux !== undefined && typeof hasAux !== 'boolean') throw opError(op, `options.hasAux must be a boolean, got ${describeValue(hasAux)}`);
}

function valueAndGradNamed(op: string, f: (...args: Tree[]) => Tree, argnums: number | readonly number[], opts: ValueAndGradOptions) {
  checkTransform(op, f, argnums, opts);
  return (...args: Tree[]): [Tree, Tree] => {
    const nums = checkArgnums(op, argnums, args.length);
    const { out, tape, watched, handles, cleanup, mark } = traced(op, f, args, nums);
    try {
      let value: Tensor;
      if (opts.hasAux) {
        if (!Array.isArray(out) || out.length !== 2) throw opError(op, 'with hasAux, f must return [value, aux]');
        value = checkScalar(op, out[0]);
      } else value = checkScalar(op, out);
      const ct = T.onesLike(value);
      let gs: Tensor[];
      try {
        gs = tape.backward([value.id], [ct], handles);
      } finally {
        ct.dispose();
      }
      let i = 0;
      const perArg = watched.map((w) => treeUnflatten(w.def, gs.slice(i, (i += w.leaves.length))));
      cleanup(out);
      return [out, typeof argnums === 'number' ? perArg[0] : perArg];
    } catch (e) {
      cleanup(undefined);
      T.disposeCreatedSince(out, mark);
      throw e;
    } finally {
      tape.release();
    }
  };
}

/** The gradient of a scalar-valued f with respect to args[argnums] (same pytree structure). */
export function grad(f: (...args: Tree[]) => Tree, argnums: number | readonly number[] = 0, opts: ValueAndGradOptions = {}) {
  const vg = valueAndGradNamed('grad', f, argnums, opts);
  return (...args: Tree[]): Tree => {
    const mark = T.creationMark();
    const [out, g] = vg(...args);
    // the value (and aux) are freed only where this call created them: a parameter or
    // closed-over tensor that f returned stays the caller's
    T.disposeCreatedSince(out, mark);
    return g;
  };
}

/** A VJP function: call it with output cotangents (any number of times), then dispose it. */
export interface VjpFn {
  (cotangents: Tree): Tree[];
  dispose(): void;
  [Symbol.dispose](): void;
}

/**
 * `[out, vjpFn]`: out = f(...primals) (any pytree of tensors) and vjpFn(ct) returns the
 * cotangent of every primal (each with its pytree structure). vjpFn holds the tape:
 * call vjpFn.dispose() when done.
 */
export function vjp(f: (...args: Tree[]) => Tree, ...primals: Tree[]): [Tree, VjpFn] {
  const op = 'vjp';
  checkFunction(op, 'f', f);
  const argnums = primals.map((_, i) => i);
  const { out, tape, watched, handles, cleanup, mark } = traced(op, f, primals, argnums);
  let outLeaves: Tensor[];
  let outDef: TreeDef;
  try {
    ({ leaves: outLeaves, def: outDef } = checkedLeaves(op, 'output', out));
  } catch (e) {
    tape.release();
    cleanup(undefined);
    T.disposeCreatedSince(out, mark);
    throw e;
  }
  cleanup(out);
  const outShapes = outLeaves.map((t) => t.shape);
  const outIds = outLeaves.map((t) => t.id);
  let disposed = false;
  const fn = ((cotangents: Tree): Tree[] => {
    if (disposed) throw opError(op, 'this vjpFn was disposed');
    const { leaves: cts, def } = checkedLeaves(op, 'cotangent', cotangents);
    if (cts.length !== outLeaves.length || JSON.stringify(def) !== JSON.stringify(outDef)) {
      throw opError(op, `cotangent structure does not match the output of f (${outLeaves.length} tensor leaves expected)`);
    }
    cts.forEach((c, i) => {
      if (c.shape.join() !== outShapes[i].join()) {
        throw opError(op, `cotangent ${i} has shape ${fmtShape(c.shape)}; expected the output's shape ${fmtShape(outShapes[i])}`);
      }
    });
    const gs = tape.backward(outIds, cts, handles);
    let i = 0;
    return watched.map((w) => treeUnflatten(w.def, gs.slice(i, (i += w.leaves.length))));
  }) as VjpFn;
  fn.dispose = () => {
    if (disposed) return;
    disposed = true;
    tape.release();
  };
  fn[Symbol.dispose] = fn.dispose;
  return [out, fn];
}

/**
 * Forward-mode product `[f(...primals), J tangents]`, computed as the VJP of the (linear)
 * VJP function: u -> J^T u has transpose u' -> J u'.
 */
export function jvp(f: (...args: Tree[]) => Tree, primals: Tree[], tangents: Tree[]): [Tree, Tree] {
  const op = 'jvp';
  checkFunction(op, 'f', f);
  if (!Array.isArray(primals) || !Array.isArray(tangents) || primals.length !== tangents.length) {
    throw opError(op, 'primals and tangents must be arrays of the same length');
  }
  primals.forEach((p, i) => {
    const a = checkedLeaves(op, `primal ${i}`, p).leaves;
    const b = checkedLeaves(op, `tangent ${i}`, tangents[i]).leaves;
    if (a.length !== b.length || a.some((t, k) => t.shape.join() !== b[k].shape.join())) {
      throw opError(op, `tangent ${i} must have the structure and shapes of primal ${i}`);
    }
  });
  const mark = T.creationMark();
  const [out, vjpFn] = vjp(f, ...primals);
  try {
    const { leaves: outLeaves, def } = checkedLeaves(op, 'output', out);
    const u0 = outLeaves.map((t) => T.zerosLike(t));
    try {
      const [cts, vjp2] = vjp((...us: Tensor[]) => vjpFn(treeUnflatten(def, us)), ...u0);
      try {
        const jv = vjp2(tangents);
        return [out, treeUnflatten(def, jv)];
      } finally {
        vjp2.dispose();
        T.dispose(cts);
      }
    } finally {
      u0.forEach((t) => t.dispose());
    }
  } catch (e) {
    T.disposeCreatedSince(out, mark);
    throw e;
  } finally {
    vjpFn.dispose();
  }
}

/** Hessian-vector product H(x) v of a scalar f (reverse-over-reverse). x, v: same pytree. */
export function hvp(f: (x: Tree) => Tensor, x: Tree, v: Tree): Tree {
  checkFunction('hvp', 'f', f);
  const vLeaves = checkedLeaves('hvp', 'v', v).leaves;
  const inner = (xx: Tree) => {
    const g = checkedLeaves('hvp', 'gradient', grad(f)(xx)).leaves;
    return g.map((gi, i) => T.sum(T.mul(gi, vLeaves[i]))).reduce((a, b) => T.add(a, b));
  };
  return grad(inner)(x);
}

/** The same values, seen by every tape as a constant. */
export function stopGradient<Tr extends Tree>(x: Tr): Tr {
  const [leaves, def] = treeFlatten(x);
  return treeUnflatten(def, leaves.map((l) => (isTensor(l) ? shareBuffer(l) : l)));
}

/**
 * A function with a user-defined VJP, as jax.custom_vjp, over pytrees: `fwd(...args)`
 * returns `[out, residuals]` (out a tensor or any pytree of tensors, residuals any pytree),
 * `bwd(residuals, g)` receives the output cotangent `g` (the structure of out) and returns
 * one cotangent per argument: a tree with that argument's structure and shapes, or null
 * (zero). The backward function's own ops are differentiable, but residuals are treated as
 * constants by enclosing transforms: a second derivative does not flow through them.
 * Misuse (fwd not returning a pair, a cotangent of the wrong type, structure or shape) is
 * an error that says which argument and what was expected.
 */
export function customVjp<A extends Tree[], O extends Tree = Tensor>(
  f: (...args: A) => O,
  fwd: (...args: A) => [O, Tree],
  bwd: (residuals: Tree, g: O) => (Tree | null)[],
): (...args: A) => O {
  const op = 'customVjp';
  checkFunction(op, 'f', f);
  checkFunction(op, 'fwd', fwd);
  checkFunction(op, 'bwd', bwd);
  return (...args: A): O => {
    // every tensor leaf of every argument is an input of the recorded node
    const argTrees = args.map((a) => treeFlatten(a, op));
    const inputs: Tensor[] = [];
    const where: { arg: number; leaf: number }[] = [];
    argTrees.forEach(([leaves], arg) => leaves.forEach((l, leaf) => {
      if (isTensor(l)) {
        inputs.push(l);
        where.push({ arg, leaf });
      }
    }));
    const tapes = activeTapes().filter((tp) => inputs.some((t) => tp.isTracked(t)));
    if (tapes.length === 0) return f(...args);
    const mark = T.creationMark();
    const pair = noGrad(() => fwd(...args));
    if (!Array.isArray(pair) || pair.length !== 2) {
      T.disposeCreatedSince(pair, mark);
      throw opError(op, `fwd must return a pair [out, residuals], got ${describeValue(pair)}`);
    }
    const [out, res] = pair as [O, Tree];
    const [outLeaves, outDef] = treeFlatten(out);
    const bad = outLeaves.findIndex((l) => !isTensor(l));
    if (bad >= 0 || outLeaves.length === 0) {
      T.disposeCreatedSince(pair, mark);
      throw opError(op, bad >= 0
        ? `fwd's out leaf ${bad} is ${describeValue(outLeaves[bad])}; expected out to be a Tensor or a pytree of tensors`
        : `fwd's out ${describeValue(out)} holds no tensor; expected a Tensor or a pytree of tensors`);
    }
    const outs = outLeaves as Tensor[];
    // one recorded node has one output: a pytree output is packed into one flat tensor,
    // and the leaves the caller sees are slices of it (recorded ops, so their cotangents
    // flow back into the packed tensor's cotangent, which is unpacked for bwd)
    const single = isTensor(out);
    const packed = single ? (out as Tensor) : noGrad(() => T.tidy(() => T.concat(outs.map((t) => T.reshape(t, [t.size])), 0)));
    const unpack = (flat: Tensor): Tensor[] => {
      let off = 0;
      return outs.map((t) => {
        const piece = T.tidy(() => T.reshape(T.slice(flat, [off], [t.size]), t.shape));
        off += t.size;
        return piece;
      });
    };
    const [resLeaves, resDef] = treeFlatten(res);
    const checkCotangents = (cts: unknown): (Tensor | null)[] => {
      if (!Array.isArray(cts) || cts.length !== args.length) {
        throw opError(op, `bwd must return an array of one cotangent (or null) per argument (${args.length}), got ${describeValue(cts)}`);
      }
      const perArg = cts.map((ct, arg) => {
        const [leaves, def] = argTrees[arg];
        if (ct === null || ct === undefined || !leaves.some(isTensor)) return null;
        const [cl, cdef] = treeFlatten(ct);
        if (!T.sameStructure(def, cdef)) {
          throw opError(op, `bwd's cotangent for argument ${arg} is ${describeValue(ct)}; expected the structure of argument ${arg} (${describeValue(args[arg])}) or null`);
        }
        return cl;
      });
      return where.map(({ arg, leaf }) => {
        const c = perArg[arg]?.[leaf];
        if (c === null || c === undefined) return null;
        const x = argTrees[arg][0][leaf] as Tensor;
        const name = `argument ${arg}${isTensor(args[arg]) ? '' : ` leaf ${leaf}`}`;
        if (!isTensor(c)) throw opError(op, `bwd's cotangent for ${name} is ${describeValue(c)}; expected a Tensor of shape ${fmtShape(x.shape)} or null`);
        if (c.isDisposed) throw opError(op, `bwd's cotangent for ${name} (shape ${fmtShape(c.shape)}) was already disposed`);
        if (c.shape.join() !== x.shape.join()) {
          throw opError(op, `bwd's cotangent for ${name} has shape ${fmtShape(c.shape)}; expected the shape of the argument, ${fmtShape(x.shape)}`);
        }
        return c;
      });
    };
    for (const tape of tapes) {
      const held = treeUnflatten(resDef, resLeaves.map((l) => (isTensor(l) ? tape.keepAlive(l) : l)));
      tape.push({
        op: 'customVjp',
        inputIds: inputs.map((t) => t.id),
        outputId: packed.id,
        inputs: inputs.map((t) => tape.keepAlive(t)),
        output: tape.keepAlive(packed),
        attrs: {},
        custom: (g) => checkCotangents(bwd(held, (single ? g : treeUnflatten(outDef, unpack(g))) as O)),
      });
    }
    let result: O;
    if (single) result = out;
    else {
      result = treeUnflatten<O>(outDef, unpack(packed));
      packed.dispose(); // the tapes hold their own references
    }
    // free what fwd created and the caller does not get (residuals; for a pytree out, the
    // packed leaves); never the inputs, nor a tensor fwd did not create
    const mine = new Set<Tensor>([...(single ? [out as Tensor] : []), ...inputs]);
    const made = [...resLeaves, ...(single ? [] : outs)];
    for (const l of made) if (isTensor(l) && !mine.has(l) && T.createdSince(l, mark)) l.dispose();
    return result;
  };
}
