// The Tensor and its data reference: a tensor object holds a counted reference to a buffer
// (views made by reshape share one); what is alive is counted in the engine's state.
// The engine (backends) is in engine.ts, scopes (tidy/keep/dispose) in scope.ts, primitive
// dispatch and the observation hook in dispatch.ts.

import type { Backend, BackendName, Storage } from './backend.ts';
import { state } from './engine.ts';
import { fmtShape, opError, sizeOf, type Shape } from './shape.ts';

/** @internal A buffer shared by a tensor and its views (reshape, keep-dims, clones). */
export class DataRef {
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

/** @internal The id the next tensor will get (ids increase with creation order). */
export const nextTensorId = (): number => nextId;

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
  data(): Promise<Float32Array | Float64Array> {
    // a traced value refuses at once (synchronously), so the trace stops at the read
    if (state.tracer) state.tracer.read('data', this);
    return this.download('data');
  }

  private async download(op: string): Promise<Float32Array | Float64Array> {
    const ref = this.live(op);
    return ref.backend.download(ref.storage, this.size);
  }

  /** Synchronous read-back; throws on backends that would have to block a GPU (webgpu). */
  dataSync(): Float32Array | Float64Array {
    if (state.tracer) state.tracer.read('dataSync', this);
    const ref = this.live('dataSync');
    if (!ref.backend.downloadSync) {
      throw opError('dataSync', `backend '${ref.backend.name}' cannot read back synchronously; expected 'await t.data()'`);
    }
    return ref.backend.downloadSync(ref.storage, this.size);
  }

  /** The values as nested arrays of numbers with this tensor's shape (a number for rank 0). */
  array(): Promise<NestedArray> {
    if (state.tracer) state.tracer.read('array', this);
    return this.download('array').then((v) => toNested(v, this.shape));
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

