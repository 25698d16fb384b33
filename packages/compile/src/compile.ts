// compileStep: trace a pure step function once per argument-shape signature, replay the
// recorded plan on later calls. See ../README.md.

import * as T from '@tapegrad/tensor';
import {
  backendOf, collectTensors, currentBackend, describeValue, fmtShape, isIntegerValued, isTensor, opError,
  setExecutionTracer, treeFlatten, treeFlattenWithPath, treeUnflatten, executionTracer,
  type Backend, type Tensor, type TreeDef,
} from '@tapegrad/tensor';
import { Plan, type OutputSpec, type PipelineInfo, type PlanStats } from './plan.ts';
import { Recorder } from './record.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any;

export interface CompileOptions {
  /** Plans kept (one per argument-shape signature), least recently used dropped. Default 8. */
  maxPlans?: number;
  /** Fuse elementwise chains into one kernel (gpu.js backends). Default true. */
  fuse?: boolean;
  /**
   * Run same-structure fused chains over different tensors (an optimizer update's
   * per-parameter chains) as one multi-tensor kernel (webasm, cpu). Default true.
   */
  multiTensor?: boolean;
}

export interface CompileReport {
  /** How plans run: 'replay' (backend calls one by one, fused chains as one kernel each). */
  executor: 'replay';
  backend: string | null;
  /** Traces so far (first calls of a signature, and re-traces after an eviction). */
  traces: number;
  /** Calls answered by replaying a cached plan. */
  replays: number;
  plans: (PlanStats & { signature: string; pipeline: PipelineInfo | null })[];
}

export interface CompiledStep<F extends Fn> {
  (...args: Parameters<F>): ReturnType<F>;
  /**
   * Experimental: the same call, with a cached plan run as one gpu.js pipeline
   * (`createPipeline`: fused-sync on webasm). Asynchronous. The first call of a signature
   * traces as usual; a plan that cannot be lowered replays as usual (the reason is in
   * `report().plans[i].pipeline`).
   */
  pipeline(...args: Parameters<F>): Promise<ReturnType<F>>;
  /** What the cached plans do: calls, fused chains, buffers, constants, fallback reasons. */
  report(): CompileReport;
  /** Drop every cached plan (and the constants they hold); the step can still be called. */
  clear(): void;
  /** Same as clear(); the compiled step stays usable (it re-traces). */
  dispose(): void;
  [Symbol.dispose](): void;
}

interface Leaves {
  leaves: unknown[];
  def: TreeDef;
  key: string;
  backend: Backend;
}

/** The signature of a call: tree structure, each leaf's kind and shape, buffer aliasing. */
function signature(op: string, args: unknown[]): Leaves {
  const [leaves, def] = treeFlatten(args, op);
  const parts: string[] = [];
  const seen = new Map<unknown, number>();
  let backend: Backend | null = null;
  leaves.forEach((l, i) => {
    if (isTensor(l)) {
      const b = backendOf(l, op);
      if (backend && b !== backend) {
        throw opError(op, `argument leaf ${i} lives on backend '${b.name}' but earlier leaves on '${backend.name}'; expected every tensor argument on one backend`);
      }
      backend = b;
      const s = T.storageOf(l, op);
      const alias = seen.get(s);
      if (alias === undefined) seen.set(s, i);
      parts.push(`t[${l.shape.join(",")}]${alias === undefined ? '' : `=${alias}`}${isIntegerValued(l) ? 'i' : ''}`);
    } else if (typeof l === 'number') parts.push('n');
    else if (l === null || l === undefined || typeof l === 'string' || typeof l === 'boolean') parts.push(`s${JSON.stringify(l) ?? 'u'}`);
    else {
      const path = treeFlattenWithPath(args)[i]?.[0] ?? String(i);
      throw opError(op, `argument leaf '${path}' is ${describeValue(l)}; expected tensors, numbers (per-call values, uploaded each call) or strings/booleans/null (static); pass random values as tensor arguments drawn outside the step`);
    }
  });
  const b: Backend = backend ?? currentBackend();
  return { leaves, def, key: `${b.name}|${JSON.stringify(def)}|${parts.join(',')}`, backend: b };
}

/**
 * Compile a pure step function: `fn(...args)` over pytrees of tensors and numbers, returning
 * a pytree of tensors. The first call with a given signature (tree structure, tensor
 * shapes) runs `fn` once while recording every backend call (the trace) and returns its
 * results; later calls with that signature replay the recording directly on the backend
 * (no user code, no autograd tape, no op wrappers) and return new tensors. Number leaves
 * are per-call values: inside `fn` they are rank-0 tensors, uploaded on every call.
 *
 * With `exampleArgs`, the first plan is traced at once (its results are disposed).
 */
export function compileStep<F extends Fn>(fn: F, exampleArgs?: Parameters<F> | null, opts: CompileOptions = {}): CompiledStep<F> {
  const op = 'compileStep';
  T.checkFunction(op, 'fn', fn);
  if (opts === null || typeof opts !== 'object') throw opError(op, `options must be an object, got ${describeValue(opts)}`);
  const maxPlans = opts.maxPlans ?? 8;
  if (!Number.isInteger(maxPlans) || maxPlans < 1) throw opError(op, `options.maxPlans must be a positive integer, got ${describeValue(maxPlans)}`);
  const fuse = opts.fuse ?? true;
  const multiTensor = opts.multiTensor ?? true;
  const plans = new Map<string, { plan: Plan; outDef: TreeDef }>();
  let traces = 0;
  let replays = 0;

  const trace = (sig: Leaves, argTree: unknown[]): unknown => {
    if (executionTracer()) throw opError(op, 'called while another step is being traced; expected compiled steps not to nest (call the inner function directly)');
    const { leaves, def, backend } = sig;
    const paths = treeFlattenWithPath(argTree).map(([p]) => p);
    const rec = new Recorder(backend, (leaf) => `'${paths[leaf] ?? leaf}'`);
    // number leaves become rank-0 tensors (made before recording: they are arguments, not constants)
    const scalars = new Map<number, Tensor>();
    const traceLeaves = leaves.map((l, i) => {
      if (typeof l !== 'number') return l;
      const t = T.useBackend(backend.name, () => T.scalar(l));
      scalars.set(i, t);
      return t;
    });
    leaves.forEach((l, i) => {
      if (isTensor(l)) rec.argument(i, l, false);
    });
    for (const [i, t] of scalars) rec.argument(i, t, true);
    let out: unknown;
    let ok = false;
    const prev = setExecutionTracer(rec);
    try {
      out = T.tidy(() => {
        const r = fn(...(treeUnflatten(def, traceLeaves) as unknown[]));
        if (r && typeof (r as { then?: unknown }).then === 'function') {
          throw opError(op, 'the step function returned a Promise; expected a synchronous function (no await inside a compiled step: read values after the call)');
        }
        return r;
      });
      ok = true;
    } finally {
      setExecutionTracer(prev);
      if (!ok) {
        rec.releaseConstants();
        for (const t of scalars.values()) t.dispose();
      }
    }
    const [outLeaves, outDef] = treeFlatten(out, op);
    const specs: OutputSpec[] = outLeaves.map((l, i) => {
      if (isTensor(l)) {
        // a tensor from outside returned unchanged (never an input of any primitive): a constant
        const id = rec.idOf(l) ?? rec.constantOutput(l);
        return { kind: 'value', id, shape: l.shape.slice(), integer: isIntegerValued(l) };
      }
      if (l === null || l === undefined || typeof l === 'string' || typeof l === 'boolean' || typeof l === 'number') return { kind: 'static', value: l };
      throw opError(op, `output leaf ${i} is ${describeValue(l)}; expected tensors (or plain static values)`);
    });
    const keepers = collectTensors(op, out);
    for (const t of scalars.values()) if (!keepers.has(t)) t.dispose();
    // an argument returned unchanged comes back as a new tensor sharing its buffer, as a
    // replay returns it (so the caller may dispose old and new values alike)
    const argSet = new Set(leaves.filter(isTensor));
    if (outLeaves.some((l) => isTensor(l) && argSet.has(l))) {
      out = treeUnflatten(outDef, outLeaves.map((l) => (isTensor(l) && argSet.has(l) ? T.viewOf(l, l.shape, op) : l)));
    }
    const plan = new Plan(backend, rec, specs, { fuse, multiTensor });
    plans.set(sig.key, { plan, outDef });
    traces++;
    while (plans.size > maxPlans) {
      const oldest = plans.keys().next().value as string;
      plans.get(oldest)!.plan.release();
      plans.delete(oldest);
    }
    return out;
  };

  const compiled = ((...args: unknown[]) => {
    const sig = signature(op, args);
    const hit = plans.get(sig.key);
    if (!hit) return trace(sig, args);
    plans.delete(sig.key);
    plans.set(sig.key, hit); // most recently used last
    replays++;
    return treeUnflatten(hit.outDef, hit.plan.replay(sig.leaves));
  }) as unknown as CompiledStep<F>;

  compiled.pipeline = (async (...args: unknown[]) => {
    const sig = signature(op, args);
    const hit = plans.get(sig.key);
    if (!hit) return trace(sig, args);
    plans.delete(sig.key);
    plans.set(sig.key, hit);
    replays++;
    let leaves: unknown[];
    try {
      leaves = await hit.plan.replayPipeline(sig.leaves);
    } catch (e) {
      if (hit.plan.pipelineInfo()?.kind !== 'none') throw e;
      leaves = hit.plan.replay(sig.leaves); // could not be lowered: replay (the reason is in the report)
    }
    return treeUnflatten(hit.outDef, leaves);
  }) as CompiledStep<F>['pipeline'];

  compiled.report = () => ({
    executor: 'replay',
    backend: [...plans.values()][0]?.plan.backend.name ?? null,
    traces,
    replays,
    plans: [...plans].map(([signature, { plan }]) => ({ signature, ...plan.stats, pipeline: plan.pipelineInfo() })),
  });
  compiled.clear = () => {
    for (const { plan } of plans.values()) plan.release();
    plans.clear();
  };
  compiled.dispose = compiled.clear;
  compiled[Symbol.dispose] = compiled.clear;

  if (exampleArgs != null) {
    if (!Array.isArray(exampleArgs)) throw opError(op, `exampleArgs must be the array of arguments (or null), got ${describeValue(exampleArgs)}`);
    const sig = signature(op, exampleArgs);
    const out = trace(sig, exampleArgs);
    const inputs = new Set(sig.leaves.filter(isTensor));
    for (const t of collectTensors(op, out)) if (!inputs.has(t)) t.dispose();
  }
  return compiled;
}
