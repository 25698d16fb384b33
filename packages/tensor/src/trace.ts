// The execution-level hook: how @tapegrad/compile records a step once and replays it.
//
// While a tracer is installed (setExecutionTracer), every primitive computes through
// `tracer.primitive`, which gets the backend and may hand the op's compute a recording
// wrapper of it; every host upload (tensor(), zeros(), a number turned into a tensor
// inside an op) is reported to `tracer.uploaded`; every host read of a tensor (data,
// dataSync, array) first asks `tracer.read`, which throws for a traced value. Unused, the
// hook costs one null check per primitive, upload and read.
//
// The replay side needs a few storage-level helpers the public API does not offer:
// storageOf, tensorFromStorage, viewOf and holdStorage below.

import type { Backend, Storage } from './backend.ts';
import { state } from './engine.ts';
import { opError, type Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';
import { wrapStorage } from './dispatch.ts';
import { Tensor as TensorClass } from './tensor.ts';

export interface ExecutionTracer {
  /**
   * A primitive `op` (the internal primitive name, e.g. 'add') runs on `backend` with
   * `inputs`. The tracer calls `compute` with the backend object the op must use (the
   * backend itself, or a wrapper that records the backend calls) and returns its storage.
   */
  primitive(op: string, backend: Backend, inputs: readonly Tensor[], compute: (b: Backend) => Storage): Storage;
  /** `backend.upload(values)` returned `storage` (a host value became a tensor). */
  uploaded(backend: Backend, storage: Storage, values: Float32Array | Float64Array, size: number): void;
  /** A host read (`op` is 'data', 'dataSync' or 'array') of `t`: throw to refuse it. */
  read(op: string, t: Tensor): void;
}

/** Install `tracer` (null removes it); returns the one it replaced. Only one at a time. */
export function setExecutionTracer(tracer: ExecutionTracer | null): ExecutionTracer | null {
  const prev = state.tracer;
  state.tracer = tracer;
  return prev;
}

/** The installed tracer, if any. */
export function executionTracer(): ExecutionTracer | null {
  return state.tracer;
}

/** The backend object holding `t`'s data (checks that `t` is alive). */
export function backendOf(t: Tensor, op = 'backendOf'): Backend {
  return t.live(op).backend;
}

/** The backend storage of `t` (checks that `t` is alive). Borrowed: do not free it. */
export function storageOf(t: Tensor, op = 'storageOf'): Storage {
  return t.storage(op);
}

/** A new tensor owning `storage` (a fresh backend result); disposing it frees the storage. */
export function tensorFromStorage(backend: Backend, storage: Storage, shape: Shape): Tensor {
  return wrapStorage(backend, storage, shape);
}

/** A new tensor sharing `t`'s buffer with another shape of the same size (no copy). */
export function viewOf(t: Tensor, shape: Shape, op = 'viewOf'): Tensor {
  const ref = t.live(op);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== t.size) throw opError(op, `a view of shape [${shape.join(', ')}] cannot share a buffer of ${t.size} elements`);
  ref.refs++;
  return new TensorClass(ref, shape);
}

/**
 * Keep `t`'s buffer alive without a tensor object (no live tensor is counted; the buffer
 * stays counted until every holder let go). Returns the storage and the release function.
 */
export function holdStorage(t: Tensor, op = 'holdStorage'): { storage: Storage; release: () => void } {
  const ref = t.live(op);
  ref.refs++;
  let held = true;
  return {
    storage: ref.storage,
    release: () => {
      if (held) ref.release();
      held = false;
    },
  };
}
