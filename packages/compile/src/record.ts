// The recorder: the execution tracer (tensor's trace.ts hook) that records one run of a
// step as a list of backend calls over numbered values.
//
// A value is one backend storage: an argument leaf's (a tensor passed in, or the scalar a
// number argument became), a constant (a host upload made during the trace, or a tensor
// the step closed over), or the result of a recorded backend call. Views (reshape, clone)
// share their input's storage, so they are the same value and cost nothing on replay.

import {
  backendOf, currentPublicOp, fmtShape, holdStorage, isPlainObject, opError, storageOf,
  type Backend, type ExecutionTracer, type Storage, type Tensor,
} from '@tapegrad/tensor';

/** The backend methods a primitive's compute may call; each call is one plan step. */
export const RECORDED_METHODS = new Set([
  'unary', 'binary', 'where', 'reduce', 'argReduce', 'matmul', 'transpose', 'broadcastTo', 'slice', 'pad',
  'concat', 'gather', 'scatterAdd', 'conv2d', 'convTranspose2d', 'conv2dFilterGrad', 'maxPool2dGather',
  'maxPool2dScatter', 'groupNormStats', 'groupNormForward', 'groupNormChannelSums', 'groupNormInputGrad', 'groupNormParamGrad',
]);

/** One argument of a recorded call: a value, a list of values (concat), or a literal. */
export type ArgTemplate = { v: number } | { vs: number[] } | { lit: unknown };

export interface RecordedCall {
  /** The primitive (internal op name, e.g. 'add'). */
  op: string;
  /** The public op the user called (e.g. 'softmax' for its inner 'max'). */
  publicOp: string;
  method: string;
  args: ArgTemplate[];
  out: number;
}

export type ValueInfo =
  | { kind: 'arg'; leaf: number }
  | { kind: 'scalar'; leaf: number }
  | { kind: 'const'; storage: Storage; backend: Backend; release: () => void; from: string; captured: boolean }
  | { kind: 'call'; call: number };

export class Recorder implements ExecutionTracer {
  readonly values: ValueInfo[] = [];
  readonly calls: RecordedCall[] = [];
  private readonly ids = new Map<Storage, number>();
  private readonly proxy: Backend;
  private op = '';
  private publicOp = '';

  constructor(readonly backend: Backend, private readonly leafPath: (leaf: number) => string) {
    const record = (method: string, args: unknown[], out: Storage) => this.record(method, args, out);
    const uploaded = (s: Storage, values: Float32Array | Float64Array, n: number) => this.uploaded(backend, s, values, n);
    this.proxy = new Proxy(backend, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        if (RECORDED_METHODS.has(prop)) {
          return (...args: unknown[]) => {
            const out = v.apply(target, args);
            record(prop, args, out);
            return out;
          };
        }
        if (prop === 'upload') {
          return (values: Float32Array | Float64Array, n: number) => {
            const out = v.call(target, values, n);
            uploaded(out, values, n);
            return out;
          };
        }
        return v.bind(target);
      },
    });
  }

  /** Register an argument leaf's storage (or the scalar a number leaf became). */
  argument(leaf: number, t: Tensor, scalar: boolean): number {
    const s = storageOf(t, 'compileStep');
    const prev = this.ids.get(s);
    if (prev !== undefined) return prev; // the same buffer passed twice: one value
    return this.add(s, scalar ? { kind: 'scalar', leaf } : { kind: 'arg', leaf });
  }

  idOf(t: Tensor): number | undefined {
    return this.ids.get(storageOf(t, 'compileStep'));
  }

  private add(s: Storage, info: ValueInfo): number {
    const id = this.values.length;
    this.values.push(info);
    this.ids.set(s, id);
    return id;
  }

  /** A tensor from outside the trace (closed over by the step): held as a constant. */
  private captured(t: Tensor, op: string): number {
    const h = holdStorage(t, op);
    return this.add(h.storage, { kind: 'const', storage: h.storage, backend: backendOf(t, op), release: h.release, from: `a tensor of shape ${fmtShape(t.shape)} the step closed over`, captured: true });
  }

  /** An output the step returned from outside the trace: held as a constant. */
  constantOutput(t: Tensor): number {
    return this.captured(t, 'compileStep');
  }

  primitive(op: string, backend: Backend, inputs: readonly Tensor[], compute: (b: Backend) => Storage): Storage {
    if (backend !== this.backend) {
      throw opError(op, `an input lives on backend '${backend.name}' but the step is traced on '${this.backend.name}'; expected every tensor of a compiled step on one backend`);
    }
    for (const t of inputs) if (!this.ids.has(storageOf(t, op))) this.captured(t, op);
    const [po, pp] = [this.op, this.publicOp];
    this.op = op;
    this.publicOp = currentPublicOp() ?? op;
    try {
      const out = compute(this.proxy);
      if (!this.ids.has(out)) {
        throw opError(op, 'the primitive returned a storage that no recorded backend call produced; compileStep cannot replay it');
      }
      return out;
    } finally {
      this.op = po;
      this.publicOp = pp;
    }
  }

  uploaded(backend: Backend, storage: Storage, values: Float32Array | Float64Array, size: number): void {
    // the plan keeps its own copy: the traced tensor may be disposed (and its buffer freed)
    // before the trace ends
    const copy = backend.upload(values, size);
    const from = currentPublicOp() ?? (this.op || 'tensor');
    this.add(storage, { kind: 'const', storage: copy, backend, release: () => backend.free(copy), from, captured: false });
  }

  read(op: string, t: Tensor): void {
    const id = this.ids.get(storageOf(t, op));
    if (id === undefined) return;
    const info = this.values[id];
    if (info.kind === 'const') return;
    const what = info.kind === 'call'
      ? `the result of '${this.calls[info.call].publicOp}'`
      : `argument ${this.leafPath(info.leaf)}`;
    throw opError(op, `tensor #${t.id} of shape ${fmtShape(t.shape)} (${what}) is a traced value inside compileStep; a replay runs no host code, so its values cannot be read while tracing; expected the step to return it and the caller to read it after the call`);
  }

  private encode(a: unknown): ArgTemplate {
    const id = this.ids.get(a);
    if (id !== undefined) return { v: id };
    if (Array.isArray(a) && a.length > 0 && a.every((x) => this.ids.has(x))) return { vs: a.map((x) => this.ids.get(x)!) };
    if (a !== null && typeof a === 'object' && !Array.isArray(a) && !isPlainObject(a)) {
      throw opError(this.publicOp, `the primitive '${this.op}' passed the backend a storage the trace does not know; compileStep cannot replay it`);
    }
    return { lit: a };
  }

  private record(method: string, args: unknown[], out: Storage): void {
    const tmpl = args.map((a) => this.encode(a));
    this.calls.push({ op: this.op, publicOp: this.publicOp, method, args: tmpl, out: this.values.length });
    this.add(out, { kind: 'call', call: this.calls.length - 1 });
  }

  /** Release the constants (when the trace failed, or when the plan is dropped). */
  releaseConstants(): void {
    for (const v of this.values) if (v.kind === 'const') v.release();
  }
}
