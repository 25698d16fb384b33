// Scopes: tidy (dispose what a function created and did not return), keep, dispose.

import { state } from './engine.ts';
import { checkFunction, checkTensor, collectTensors, opError } from './errors.ts';
import { nextTensorId, Tensor } from './tensor.ts';

/**
 * Run `fn`; every tensor created inside and not returned (anywhere in a returned pytree)
 * or kept is disposed afterwards, also when `fn` throws. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  checkFunction('tidy', 'fn', fn);
  const scope = new Set<Tensor>();
  state.scopes.push(scope);
  let result: T;
  let ok = false;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw opError('tidy', 'fn returned a Promise; expected a synchronous function (await outside tidy)');
    }
    ok = true;
  } finally {
    state.scopes.pop();
    const survivors = new Set<Tensor>();
    let bad: unknown;
    if (ok) {
      try {
        collectTensors('tidy', result!, survivors);
      } catch (e) {
        // a result that is not a tree (a cycle): free everything, then report it
        bad = e;
        survivors.clear();
      }
    }
    for (const t of scope) if (!survivors.has(t) && !t.kept) t.dispose();
    // returned tensors this scope created now belong to the enclosing scope; a returned
    // tensor from outside (an argument, a global) stays where it was
    const parent = state.scopes[state.scopes.length - 1];
    if (parent) for (const t of survivors) if (scope.has(t) && !t.isDisposed && !t.kept) parent.add(t);
    if (bad) throw bad; // eslint-disable-line no-unsafe-finally
  }
  return result!;
}

/** Exempt `t` from every enclosing tidy scope; the caller disposes it. */
export function keep<T extends Tensor>(t: T): T {
  checkTensor('keep', 't', t);
  t.kept = true;
  for (const scope of state.scopes) scope.delete(t);
  return t;
}

/** Dispose every tensor in a pytree. */
export function dispose(x: unknown): void {
  for (const t of collectTensors('dispose', x)) t.dispose();
}

// ---------------------------------------------------------------------------------------
// Ownership: free only what you created

/** A mark in the order of tensor creation: every tensor created afterwards is "since" it. */
export function creationMark(): number {
  return nextTensorId();
}

/** True if `t` was created after `mark` (by the code that took the mark, or code it ran). */
export function createdSince(t: Tensor, mark: number): boolean {
  return t.id >= mark;
}

/**
 * Dispose the tensors of a pytree created after `mark`, and only those: what a function
 * returned that is older (its arguments, parameters, closed-over tensors) is the caller's
 * and stays alive. How the transforms free what they created and never what they did not.
 */
export function disposeCreatedSince(tree: unknown, mark: number): void {
  for (const t of collectTensors('disposeCreatedSince', tree)) if (t.id >= mark) t.dispose();
}
