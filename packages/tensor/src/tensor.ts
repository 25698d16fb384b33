// The Tensor type and the engine around it: which backend runs, who owns which buffer
// (reference counts shared by views, tidy scopes, keep), what is alive (memory()), and the
// single observation hook through which the autograd package records primitive calls.

import type { Backend, BackendName, Storage } from './backend.ts';
import { createBackend, createBackendSync, type BackendOptions } from './backends/registry.ts';
import { fmtShape, opError, sizeOf, type Shape } from './shape.ts';

/** A buffer shared by a tensor and its views (reshape, keep-dims, clones). */
class DataRef {
  refs = 1;
  constructor(
    readonly backend: Backend,
    readonly storage: Storage,
    readonly size: number,
  ) {
    state.liveBytes += size * backend.bytesPerElement;
    state.liveBuffers++;
  }
  release(): void {
    if (--this.refs === 0) {
      state.liveBytes -= this.size * this.backend.bytesPerElement;
      state.liveBuffers--;
      this.backend.free(this.storage);
    }
  }
}

export type NestedArray = number | NestedArray[];

let nextId = 0;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype = 'float32' as const;
  /** @internal */ ref: DataRef | null;
  /** @internal set by keep(): tidy scopes leave the tensor alone. */ kept = false;

  /** @internal use the creation ops (tensor, zeros, ...) instead. */
  constructor(ref: DataRef, shape: readonly number[]) {
    this.ref = ref;
    this.shape = Object.freeze(shape.slice());
    this.size = sizeOf(shape);
    state.liveTensors++;
    const scope = state.scopes[state.scopes.length - 1];
    if (scope) scope.add(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.ref === null;
  }

  /** Name of the backend that holds this tensor's data. */
  get backend(): BackendName {
    return this.live('backend').backend.name;
  }

  /** @internal the backend storage, checking the tensor is alive. */
  storage(op: string): Storage {
    return this.live(op).storage;
  }

  /** @internal */
  live(op: string): DataRef {
    if (this.ref === null) {
      throw opError(op, `tensor #${this.id} of shape ${fmtShape(this.shape)} was already disposed; expected a live tensor`);
    }
    return this.ref;
  }

  /** The values, row-major: Float32Array (Float64Array on the reference backend). */
  async data(): Promise<Float32Array | Float64Array> {
    const ref = this.live('data');
    return ref.backend.download(ref.storage, this.size);
  }

  /** Synchronous read-back; throws on backends that would have to block a GPU (webgpu). */
  dataSync(): Float32Array | Float64Array {
    const ref = this.live('dataSync');
    if (!ref.backend.downloadSync) {
      throw opError('dataSync', `backend '${ref.backend.name}' cannot read back synchronously; expected 'await t.data()'`);
    }
    return ref.backend.downloadSync(ref.storage, this.size);
  }

  /** The values as nested arrays of numbers with this tensor's shape (a number for rank 0). */
  async array(): Promise<NestedArray> {
    return toNested(await this.data(), this.shape);
  }

  /** Drop this tensor's reference to its buffer; safe to call twice. */
  dispose(): void {
    if (this.ref === null) return;
    this.ref.release();
    this.ref = null;
    state.liveTensors--;
    for (const scope of state.scopes) scope.delete(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, backend=${this.ref ? this.ref.backend.name : 'disposed'})`;
  }
}

export function toNested(values: ArrayLike<number>, shape: Shape): NestedArray {
  if (shape.length === 0) return values[0];
  const build = (offset: number, dim: number): NestedArray[] => {
    const n = shape[dim];
    const out: NestedArray[] = new Array(n);
    if (dim === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = values[offset + i];
      return out;
    }
    const inner = sizeOf(shape.slice(dim + 1));
    for (let i = 0; i < n; i++) out[i] = build(offset + i * inner, dim + 1);
    return out;
  };
  return build(0, 0);
}

export const isTensor = (x: unknown): x is Tensor => x instanceof Tensor;

const integerValued = new WeakSet<Tensor>();

/**
 * True for tensors that hold indices or counts (argmax, argmin, randomInt, and views of
 * them): float32 storage, integer meaning. The autograd refuses to differentiate them.
 */
export const isIntegerValued = (t: Tensor): boolean => integerValued.has(t);

/** @internal */
export function markIntegerValued(t: Tensor): Tensor {
  integerValued.add(t);
  return t;
}

// ---------------------------------------------------------------------------------------
// Engine state

/** What the observation hook sees of one primitive call. */
export interface PrimitiveCall {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  attrs: Record<string, unknown>;
}
export type PrimitiveObserver = (call: PrimitiveCall) => void;

const state = {
  backends: new Map<BackendName, Backend>(),
  current: null as Backend | null,
  scopes: [] as Set<Tensor>[],
  observers: [] as PrimitiveObserver[],
  liveTensors: 0,
  liveBuffers: 0,
  liveBytes: 0,
};

const BACKEND_NAMES: BackendName[] = ['webasm', 'webgpu', 'cpu', 'reference'];

function checkName(op: string, name: string): BackendName {
  if (!(BACKEND_NAMES as string[]).includes(name)) {
    throw opError(op, `unknown backend '${name}'; expected one of ${BACKEND_NAMES.join(', ')} (or 'auto')`);
  }
  return name as BackendName;
}

function envBackend(): string {
  return (typeof process !== 'undefined' && process.env.TAPEGRAD_BACKEND) || 'auto';
}

/**
 * Initialise (if needed) and switch to a backend. 'auto' takes webgpu only when a hardware
 * adapter answers, otherwise webasm. Throws a clear error if the backend cannot start.
 */
export async function setBackend(name: BackendName | 'auto', options: BackendOptions = {}): Promise<BackendName> {
  const resolved = name === 'auto' ? await resolveAuto() : checkName('setBackend', name);
  let b = state.backends.get(resolved);
  if (!b) {
    b = await createBackend(resolved, options);
    state.backends.set(resolved, b);
  }
  state.current = b;
  return resolved;
}

async function resolveAuto(): Promise<BackendName> {
  try {
    const b = state.backends.get('webgpu') ?? (await createBackend('webgpu', { requireHardware: true }));
    state.backends.set('webgpu', b);
    return 'webgpu';
  } catch {
    return 'webasm';
  }
}

/** Initialise the backend chosen by TAPEGRAD_BACKEND (default 'auto') and return its name. */
export async function ready(): Promise<BackendName> {
  if (state.current) return state.current.name;
  return setBackend(envBackend() as BackendName | 'auto');
}

function backendSync(name: BackendName, op: string): Backend {
  let b = state.backends.get(name);
  if (!b) {
    b = createBackendSync(name, op);
    state.backends.set(name, b);
  }
  return b;
}

/** The backend new tensors are created on. */
export function currentBackend(): Backend {
  if (state.current) return state.current;
  const env = envBackend();
  if (env === 'auto') {
    state.current = backendSync('webasm', 'backend');
  } else {
    state.current = backendSync(checkName('TAPEGRAD_BACKEND', env), 'TAPEGRAD_BACKEND');
  }
  return state.current;
}

/** Name of the backend in use. */
export function getBackend(): BackendName {
  return currentBackend().name;
}

/** The backend object for `name` (initialised synchronously if possible). */
export function findBackend(name: BackendName): Backend {
  return backendSync(checkName('findBackend', name), 'findBackend');
}

/**
 * Run `fn` with `name` as the current backend, then switch back. The backend must be able
 * to start synchronously (webasm, cpu, reference) or have been started with setBackend.
 */
export function useBackend<T>(name: BackendName, fn: () => T): T {
  const prev = state.current;
  state.current = backendSync(checkName('useBackend', name), 'useBackend');
  try {
    return fn();
  } finally {
    state.current = prev;
  }
}

/**
 * Live tensor objects, the buffers they hold (views share one) and those buffers' bytes, and
 * `allocations`: the storages the backends count as handed out and not freed (summed over
 * the started backends that count them: the gpu.js ones). With no op in flight it equals
 * the buffers held on those backends; if it grows while `buffers` stays flat, a backend
 * storage was dropped without free().
 */
export function memory(): { tensors: number; buffers: number; bytes: number; allocations: number } {
  let allocations = 0;
  for (const b of state.backends.values()) allocations += b.allocations?.() ?? 0;
  return { tensors: state.liveTensors, buffers: state.liveBuffers, bytes: state.liveBytes, allocations };
}

/** Kernel compilations so far on a backend (default: current). */
export function kernelBuilds(name?: BackendName): number {
  return (name ? findBackend(name) : currentBackend()).kernelBuilds();
}

// ---------------------------------------------------------------------------------------
// Scopes

/**
 * Run `fn`; every tensor created inside and not returned (anywhere in a returned pytree)
 * or kept is disposed afterwards, also when `fn` throws. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
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
    if (ok) collectTensors(result!, survivors);
    for (const t of scope) if (!survivors.has(t) && !t.kept) t.dispose();
    // returned tensors this scope created now belong to the enclosing scope; a returned
    // tensor from outside (an argument, a global) stays where it was
    const parent = state.scopes[state.scopes.length - 1];
    if (parent) for (const t of survivors) if (scope.has(t) && !t.isDisposed && !t.kept) parent.add(t);
  }
  return result!;
}

function collectTensors(x: unknown, into: Set<Tensor>): void {
  if (x instanceof Tensor) into.add(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, into);
  else if (x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collectTensors(v, into);
  }
}

/** Exempt `t` from every enclosing tidy scope; the caller disposes it. */
export function keep<T extends Tensor>(t: T): T {
  t.live('keep');
  t.kept = true;
  for (const scope of state.scopes) scope.delete(t);
  return t;
}

/** Dispose every tensor in a pytree. */
export function dispose(x: unknown): void {
  const s = new Set<Tensor>();
  collectTensors(x, s);
  for (const t of s) t.dispose();
}

// ---------------------------------------------------------------------------------------
// Primitive execution and the observation hook

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
  const storage = compute(backend, inputs.map((t) => t.storage(op)));
  const out = wrapStorage(backend, storage, outShape);
  notify(op, inputs, out, attrs);
  return out;
}

/** @internal A primitive whose output shares the input's buffer (reshape). */
export function runView(op: string, input: Tensor, outShape: Shape, attrs: Record<string, unknown>): Tensor {
  const ref = input.live(op);
  ref.refs++;
  const out = new Tensor(ref, outShape);
  if (integerValued.has(input)) integerValued.add(out);
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
