// Primitive dispatch and the observation hook: every primitive op runs through
// runPrimitive (or runView for buffer-sharing views), which computes its storage on the
// inputs' backend, wraps it as a Tensor and reports the call to the registered observers
// (how the autograd package records its tape).

import type { Backend, Storage } from './backend.ts';
import { currentBackend, state, type PrimitiveObserver } from './engine.ts';
import { opError, sizeOf, type Shape } from './shape.ts';
import { DataRef, isIntegerValued, markIntegerValued, Tensor } from './tensor.ts';

/**
 * Register an observer of primitive calls; returns the function that removes it.
 * Observers run after the output exists, innermost registration last.
 */
export function observePrimitives(fn: PrimitiveObserver): () => void {
  state.observers.push(fn);
  return () => {
    const i = state.observers.lastIndexOf(fn);
    if (i >= 0) state.observers.splice(i, 1);
  };
}

function notify(op: string, inputs: Tensor[], output: Tensor, attrs: Record<string, unknown>): void {
  if (state.observers.length === 0) return;
  const call = { op, inputs, output, attrs };
  for (const o of state.observers.slice()) o(call);
}

function commonBackend(op: string, inputs: Tensor[]): Backend {
  if (inputs.length === 0) return currentBackend();
  const b = inputs[0].live(op).backend;
  for (const t of inputs) {
    const tb = t.live(op).backend;
    if (tb !== b) {
      throw opError(op, `inputs live on different backends ('${b.name}' and '${tb.name}'); expected one backend (move data with tensor(await t.data(), t.shape))`);
    }
  }
  return b;
}

/** @internal Wrap new storage as a tensor (no observation). */
export function wrapStorage(backend: Backend, storage: Storage, shape: Shape): Tensor {
  return new Tensor(new DataRef(backend, storage, sizeOf(shape)), shape);
}

/** @internal Run one primitive: compute its storage on the inputs' backend, observe it. */
export function runPrimitive(
  op: string,
  inputs: Tensor[],
  outShape: Shape,
  attrs: Record<string, unknown>,
  compute: (backend: Backend, storages: Storage[]) => Storage,
): Tensor {
  const backend = commonBackend(op, inputs);
  const tracer = state.tracer;
  const storage = tracer
    ? tracer.primitive(op, backend, inputs, (b) => compute(b, inputs.map((t) => t.storage(op))))
    : compute(backend, inputs.map((t) => t.storage(op)));
  const out = wrapStorage(backend, storage, outShape);
  notify(op, inputs, out, attrs);
  return out;
}

/** @internal A primitive whose output shares the input's buffer (reshape). */
export function runView(op: string, input: Tensor, outShape: Shape, attrs: Record<string, unknown>): Tensor {
  const ref = input.live(op);
  ref.refs++;
  const out = new Tensor(ref, outShape);
  if (isIntegerValued(input)) markIntegerValued(out);
  notify(op, [input], out, attrs);
  return out;
}

/**
 * @internal A new tensor object sharing `t`'s buffer, not observed as an op: how the
 * autograd tape holds on to saved values whatever the user disposes.
 */
export function shareBuffer(t: Tensor): Tensor {
  const ref = t.live('shareBuffer');
  ref.refs++;
  return new Tensor(ref, t.shape);
}

/** A new tensor sharing `t`'s buffer (no copy); differentiable as the identity. */
export function clone(t: Tensor): Tensor {
  return runView('clone', t, t.shape, {});
}
