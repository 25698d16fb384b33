// A plan: the recorded backend calls of one trace, cut down to what the outputs need
// (dead calls dropped), elementwise chains fused into one kernel where the backend can,
// and every plan-owned buffer freed right after its last reader. Replaying a plan calls
// the backend directly: no user code, no autograd tape, no op wrappers, no shape checks.

import {
  KernelToken, checkIndexValues, markIntegerValued, opError, storageOf, tensorFromStorage, viewOf,
  type Backend, type FusedNode, type FusedRef, type GpuPipeline, type KernelCall, type Storage, type Tensor,
} from '@tapegrad/tensor';

/** The gpu.js backend's capture/pipeline methods (duck-typed: only gpu.js backends have them). */
interface PipelineBackend {
  captureKernels<R>(fn: () => R): { result: R; calls: KernelCall[] };
  buildPipeline(calls: readonly KernelCall[], inputs: readonly KernelToken[], outputs: readonly KernelToken[]): GpuPipeline;
}

/** The experimental gpu.js pipeline lowering of a plan, or why there is none. */
export interface PipelineInfo {
  /** gpu.js's executor ('fused-sync', 'fused-threaded', 'fused-encoder', 'generic'), or 'none'. */
  kind: string;
  fallbackReason: string | null;
  kernelCalls: number;
  kernels: number;
}
import type { ArgTemplate, RecordedCall, Recorder, ValueInfo } from './record.ts';

type Shape = readonly number[];

export interface PlanStep {
  /** Backend method ('fusedElementwise' for a fused chain). */
  method: string;
  /** The primitive(s) this step runs, e.g. 'add' or 'mul+add+relu'. */
  op: string;
  /** Arguments with literals in place; `slots` and `lists` say where values go. */
  args: unknown[];
  /** Pairs [argument position, value id]. */
  slots: number[];
  /** [argument position, value ids] for list arguments (concat). */
  lists: [number, number[]][];
  out: number;
  outSize: number;
  /** Plan-owned values whose last reader is this step: freed right after it. */
  free: number[];
  /** A multi-tensor step: its argument 2 is these groups of values, its results go to `outs`. */
  groups?: number[][];
  outs?: number[];
  outSizes?: number[];
}

export type OutputSpec =
  | { kind: 'value'; id: number; shape: number[]; integer: boolean }
  | { kind: 'static'; value: unknown };

export interface PlanStats {
  /** Backend calls the trace recorded. */
  primitiveCalls: number;
  /** Calls dropped because no output depends on them. */
  deadCalls: number;
  /** Steps a replay runs (after fusion). */
  steps: number;
  /** Fused chains and the primitive calls they absorbed. */
  fusedChains: number;
  fusedOps: number;
  /** The ops of each fused chain, e.g. 'mul+add+sqrt'. */
  chains: string[];
  /** Multi-tensor kernels (one chain over several tensors, e.g. an optimizer update) and the chains they merged. */
  multiTensorKernels: number;
  multiTensorChains: number;
  /** Plan-owned buffers a replay allocates, the most alive at once and their peak bytes. */
  buffers: number;
  peakLiveBuffers: number;
  peakLiveBytes: number;
  /** Constants the plan holds (host uploads made while tracing, closed-over tensors). */
  constants: number;
  constantBytes: number;
  /** The ops (e.g. 'randomNormal') of constants drawn from random ops while tracing: each replay reuses the draw. */
  randomConstants: string[];
  /** Where constants came from that a user may have meant as per-step values; indices replays do not check. */
  warnings: string[];
  /** Why something did not fuse / did not use a faster executor. */
  fallbackReasons: string[];
}

const isElementwise = (c: { method: string }) => c.method === 'unary' || c.method === 'binary';
const lastShape = (args: ArgTemplate[]): number[] => {
  const t = args[args.length - 1];
  return 'lit' in t ? (t.lit as number[]) : [];
};
const sizeOf = (s: Shape) => s.reduce((a, b) => a * b, 1);
const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
/** Inputs per fused chain where the backend does not say (Backend.fusedMaxInputs). */
const MAX_FUSED_INPUTS = 8;

export interface PlanOptions {
  fuse: boolean;
  /** Group same-structure fused chains over different tensors into one kernel (webasm/cpu). */
  multiTensor: boolean;
}

export class Plan {
  readonly steps: PlanStep[] = [];
  private pipelineSteps: PlanStep[] = [];
  readonly stats: PlanStats;
  private readonly nValues: number;
  /** [value id, leaf index] of tensor arguments and of number arguments (uploaded per replay). */
  private readonly argBindings: [number, number][] = [];
  private readonly scalarBindings: [number, number][] = [];
  private readonly consts: [number, Storage][] = [];
  /**
   * gather / scatterAdd indices that are tensor arguments: checked as eager checks them
   * (integers in [0, n)) at every replay, where the backend reads synchronously.
   */
  private readonly indexChecks: { leaf: number; size: number; n: number; op: string }[] = [];
  private released = false;

  constructor(
    readonly backend: Backend,
    private readonly rec: Recorder,
    readonly outputs: OutputSpec[],
    opts: PlanOptions,
  ) {
    const values = rec.values;
    this.nValues = values.length;
    const calls = rec.calls;
    const outIds = new Set(outputs.flatMap((o) => (o.kind === 'value' ? [o.id] : [])));

    // 1. dead calls: keep a call only if an output depends on it
    const needed = new Set(outIds);
    const live: boolean[] = new Array(calls.length).fill(false);
    for (let i = calls.length - 1; i >= 0; i--) {
      if (!needed.has(calls[i].out)) continue;
      live[i] = true;
      for (const id of readIds(calls[i].args)) needed.add(id);
    }
    const kept = calls.filter((_, i) => live[i]);

    // 2. fusion of elementwise chains
    const fallbackReasons: string[] = [];
    const fusable = opts.fuse && typeof backend.fusedElementwise === 'function';
    if (opts.fuse && !fusable) fallbackReasons.push(`fusion: backend '${backend.name}' has no fused elementwise kernels; every primitive runs as its own kernel`);
    const readers = new Map<number, number>();
    for (const c of kept) for (const id of readIds(c.args)) readers.set(id, (readers.get(id) ?? 0) + 1);
    const producer = new Map<number, number>();
    kept.forEach((c, i) => producer.set(c.out, i));
    const absorbed = new Set<number>();
    const chains: string[] = [];
    let fusedOps = 0;
    const steps: PlanStep[] = [];
    const groups = new Map<number, PlanStep>();
    if (fusable) {
      for (let i = kept.length - 1; i >= 0; i--) {
        if (absorbed.has(i) || !isElementwise(kept[i])) continue;
        const g = fuseFrom(kept, i, producer, readers, outIds, absorbed, backend.fusedMaxInputs ?? MAX_FUSED_INPUTS);
        if (g) {
          groups.set(i, g.step);
          chains.push(g.step.op);
          fusedOps += g.count;
        }
      }
      chains.reverse();
    }
    kept.forEach((c, i) => {
      if (absorbed.has(i)) return;
      steps.push(groups.get(i) ?? stepOf(c));
    });
    // the pipeline lowering walks the steps before multi-tensor grouping (one kernel each)
    this.pipelineSteps = steps.slice();
    let multi = { steps, kernels: 0, members: 0 };
    if (opts.multiTensor && fusable) {
      if (typeof backend.fusedElementwiseMulti === 'function' && backend.name !== 'webgpu') multi = groupMultiTensor(steps, outIds);
      else fallbackReasons.push(`multi-tensor kernels: backend '${backend.name}' has none (results would be views of one buffer)`);
    }
    if (multi.steps !== steps) steps.splice(0, steps.length, ...multi.steps);

    // 3. bindings and liveness
    const usedIds = new Set<number>([...outIds]);
    for (const s of steps) for (const id of stepReads(s)) usedIds.add(id);
    values.forEach((v, id) => {
      if (!usedIds.has(id)) return;
      if (v.kind === 'arg') this.argBindings.push([id, v.leaf]);
      else if (v.kind === 'scalar') this.scalarBindings.push([id, v.leaf]);
      else if (v.kind === 'const') this.consts.push([id, v.storage]);
    });
    const owned = (id: number) => values[id].kind === 'call' || values[id].kind === 'scalar';
    const lastRead = new Map<number, number>();
    steps.forEach((s, i) => stepReads(s).forEach((id) => lastRead.set(id, i)));
    for (const [id, i] of lastRead) if (owned(id) && !outIds.has(id)) steps[i].free.push(id);
    this.steps.push(...steps);

    // buffers: walk the plan counting what is alive
    const sizes = new Map<number, number>();
    steps.forEach((s) => (s.outs ? s.outs.forEach((o, k) => sizes.set(o, s.outSizes![k])) : sizes.set(s.out, s.outSize)));
    let liveN = 0, liveB = 0, peakN = 0, peakB = 0;
    for (const s of steps) {
      liveN += s.outs ? s.outs.length : 1;
      liveB += (s.outs ? s.outSizes!.reduce((a, b) => a + b, 0) : s.outSize) * backend.bytesPerElement;
      peakN = Math.max(peakN, liveN);
      peakB = Math.max(peakB, liveB);
      for (const f of s.free) {
        if (!sizes.has(f)) continue;
        liveN--;
        liveB -= sizes.get(f)! * backend.bytesPerElement;
      }
    }

    const constInfos = this.consts.map(([id]) => values[id] as Extract<ValueInfo, { kind: 'const' }>);
    const randomConstants = constInfos.filter((c) => /^random/.test(c.from)).map((c) => c.from);
    const warnings = randomConstants
      .map((from) => `a constant came from '${from}' while tracing: every replay reuses the same random values; pass noise as an argument`);
    // index arguments of gather / scatterAdd: re-checked per replay; computed indices are not
    for (const c of kept) {
      if (c.method !== 'gather' && c.method !== 'scatterAdd') continue;
      const id = (c.args[2] as { v: number }).v;
      const info = values[id];
      const n = c.method === 'gather'
        ? (c.args[1] as { lit: number[] }).lit[(c.args[4] as { lit: number }).lit]
        : (c.args[5] as { lit: number }).lit;
      if (info.kind === 'arg') {
        if (backend.downloadSync) this.indexChecks.push({ leaf: info.leaf, size: (c.args[3] as { lit: number }).lit, n, op: c.publicOp });
        else warnings.push(`'${c.publicOp}' reads indices from an argument that the ${backend.name} backend cannot read synchronously: replays do not check them`);
      } else if (info.kind !== 'const') {
        warnings.push(`'${c.publicOp}' reads indices computed inside the step: they were checked while tracing, replays do not check them`);
      }
    }
    fallbackReasons.push("executor: 'replay' (the plan's backend calls one by one, with the backend's register-tiled kernels and its threads); gpu.js createPipeline runs only through compiled.pipeline(): it cannot take the Array(n) kernels and measured slower");
    this.stats = {
      primitiveCalls: calls.length,
      deadCalls: calls.length - kept.length,
      steps: steps.length,
      fusedChains: chains.length,
      fusedOps,
      chains,
      multiTensorKernels: multi.kernels,
      multiTensorChains: multi.members,
      buffers: sizes.size,
      peakLiveBuffers: peakN,
      peakLiveBytes: peakB,
      constants: this.consts.length,
      constantBytes: this.consts.reduce((a, [id]) => a + constBytes(values[id], backend), 0),
      randomConstants,
      warnings,
      fallbackReasons,
    };
  }

  /** Run the plan on new argument leaves (already checked against the signature). */
  replay(leaves: readonly unknown[]): unknown[] {
    if (this.released) throw opError('compileStep', 'the plan was released (the compiled step was disposed); expected a live compiled step');
    const b = this.backend;
    const v: Storage[] = new Array(this.nValues);
    for (const [id, leaf] of this.argBindings) v[id] = storageOf(leaves[leaf] as Tensor, 'compileStep');
    for (const [id, s] of this.consts) v[id] = s;
    for (const c of this.indexChecks) {
      const t = leaves[c.leaf] as Tensor;
      checkIndexValues(c.op, b.downloadSync!(storageOf(t, 'compileStep'), c.size), c.n);
    }
    const ownedLive = new Set<number>();
    try {
      for (const [id, leaf] of this.scalarBindings) {
        v[id] = b.upload(Float64Array.of(leaves[leaf] as number), 1);
        ownedLive.add(id);
      }
      for (const st of this.steps) {
        const a = st.args.slice();
        const sl = st.slots;
        for (let k = 0; k < sl.length; k += 2) a[sl[k]] = v[sl[k + 1]];
        for (const [pos, ids] of st.lists) a[pos] = ids.map((id) => v[id]);
        if (st.outs) {
          a[2] = st.groups!.map((ids) => ids.map((id) => v[id]));
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          const rs = (b as any)[st.method](...a) as Storage[];
          st.outs.forEach((o, k) => {
            v[o] = rs[k];
            ownedLive.add(o);
          });
        } else {
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          v[st.out] = (b as any)[st.method](...a);
          ownedLive.add(st.out);
        }
        for (const f of st.free) {
          b.free(v[f]);
          v[f] = undefined;
          ownedLive.delete(f);
        }
      }
    } catch (e) {
      for (const id of ownedLive) b.free(v[id]);
      throw e;
    }
    const made = new Map<number, Tensor>();
    return this.outputs.map((o) => {
      if (o.kind === 'static') return o.value;
      const prev = made.get(o.id);
      let t: Tensor;
      if (prev) t = viewOf(prev, o.shape);
      else {
        const info = this.rec.values[o.id];
        if (info.kind === 'arg') t = viewOf(leaves[info.leaf] as Tensor, o.shape);
        else if (info.kind === 'const') t = constCopy(info, o.shape);
        else t = tensorFromStorage(b, v[o.id], o.shape);
        made.set(o.id, t);
      }
      return o.integer ? markIntegerValued(t) : t;
    });
  }

  private pipe: { p: GpuPipeline; inputs: ([number, 'arg' | 'scalar' | 'const'])[]; outs: (KernelToken | null)[]; calls: number } | null = null;
  private pipeError: string | null = null;

  /** What the pipeline lowering did (after the first `replayPipeline`). */
  pipelineInfo(): PipelineInfo | null {
    if (this.pipeError) return { kind: 'none', fallbackReason: this.pipeError, kernelCalls: 0, kernels: 0 };
    if (!this.pipe) return null;
    const e = this.pipe.p.executor();
    return { kind: e.kind, fallbackReason: e.fallbackReason, kernelCalls: this.pipe.calls, kernels: this.pipe.p.kernels };
  }

  /**
   * Lower the plan to one gpu.js pipeline: replay it once on the backend in capture mode
   * (tokens instead of storages), so every kernel call the backend methods make is recorded,
   * then hand gpu.js the recorded calls. Throws (and remembers why) where it cannot.
   */
  private lower(): NonNullable<Plan['pipe']> {
    if (this.pipe) return this.pipe;
    if (this.pipeError) throw opError('compileStep', `no pipeline for this plan: ${this.pipeError}`);
    try {
      const b = this.backend as unknown as Partial<PipelineBackend>;
      if (typeof b.captureKernels !== 'function' || typeof b.buildPipeline !== 'function') {
        throw new Error(`backend '${this.backend.name}' has no gpu.js pipelines`);
      }
      const pb = b as PipelineBackend;
      const v: unknown[] = new Array(this.nValues);
      const inputs: ([number, 'arg' | 'scalar' | 'const'])[] = [];
      const tokens: KernelToken[] = [];
      for (const [id, leaf] of this.argBindings) {
        const t = new KernelToken(-1 - tokens.length, 0, tokens.length);
        tokens.push(t);
        inputs.push([leaf, 'arg']);
        v[id] = t;
      }
      for (const [id, leaf] of this.scalarBindings) {
        const t = new KernelToken(-1 - tokens.length, 1, tokens.length);
        tokens.push(t);
        inputs.push([leaf, 'scalar']);
        v[id] = t;
      }
      // constants are pipeline arguments too (host arrays; on webgpu read back per call)
      for (const [id] of this.consts) {
        const t = new KernelToken(-1 - tokens.length, 0, tokens.length);
        tokens.push(t);
        inputs.push([id, 'const']);
        v[id] = t;
      }
      const { calls } = pb.captureKernels(() => {
        for (const st of this.pipelineSteps) {
          const a = st.args.slice();
          for (let k = 0; k < st.slots.length; k += 2) a[st.slots[k]] = v[st.slots[k + 1]];
          for (const [pos, ids] of st.lists) a[pos] = ids.map((id) => v[id]);
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          const out = (this.backend as any)[st.method](...a);
          if (!(out instanceof KernelToken)) throw new Error(`step '${st.op}' returned a host value, not a kernel result (host work inside the backend method)`);
          v[st.out] = out;
        }
      });
      const outs = this.outputs.map((o) => (o.kind === 'value' && v[o.id] instanceof KernelToken && (v[o.id] as KernelToken).input < 0 ? (v[o.id] as KernelToken) : null));
      const p = pb.buildPipeline(calls, tokens, outs.filter((t): t is KernelToken => t !== null));
      this.pipe = { p, inputs, outs, calls: calls.length };
      return this.pipe;
    } catch (e) {
      this.pipeError = (e as Error).message;
      throw opError('compileStep', `no pipeline for this plan: ${this.pipeError}`);
    }
  }

  /** Run the plan as one gpu.js pipeline (experimental; see the README). */
  async replayPipeline(leaves: readonly unknown[]): Promise<unknown[]> {
    if (this.released) throw opError('compileStep', 'the plan was released (the compiled step was disposed); expected a live compiled step');
    const { p, inputs, outs } = this.lower();
    const consts = new Map(this.consts);
    const args = inputs.map(([k, kind]) => {
      if (kind === 'arg') return storageOf(leaves[k] as Tensor, 'compileStep');
      if (kind === 'const') return consts.get(k);
      return Float32Array.of(leaves[k] as number);
    });
    const results = await p.run(args);
    const b = this.backend;
    let r = 0;
    const made = new Map<number, Tensor>();
    return this.outputs.map((o, i) => {
      if (o.kind === 'static') return o.value;
      const prev = made.get(o.id);
      let t: Tensor;
      if (prev) {
        if (outs[i]) { b.free(results[r++]); } // a repeated output: one buffer, shared
        t = viewOf(prev, o.shape);
      } else {
        const info = this.rec.values[o.id];
        if (outs[i]) t = tensorFromStorage(b, results[r++], o.shape);
        else if (info.kind === 'arg') t = viewOf(leaves[info.leaf] as Tensor, o.shape);
        else if (info.kind === 'scalar') t = tensorFromStorage(b, b.upload(Float64Array.of(leaves[info.leaf] as number), 1), o.shape);
        else if (info.kind === 'const') t = constCopy(info, o.shape);
        else throw opError('compileStep', `output ${i} has no pipeline result`);
        made.set(o.id, t);
      }
      return o.integer ? markIntegerValued(t) : t;
    });
  }

  /** Free the constants the plan holds (and its pipeline). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.rec.releaseConstants();
    this.pipe?.p.destroy();
    this.pipe = null;
  }
}

/** A new tensor holding a copy of a constant (on the constant's own backend). */
function constCopy(info: Extract<ValueInfo, { kind: 'const' }>, shape: number[]): Tensor {
  const n = sizeOf(shape);
  return tensorFromStorage(info.backend, info.backend.broadcastTo(info.storage, [n], [n]), shape);
}

function constBytes(v: ValueInfo, b: Backend): number {
  if (v.kind !== 'const') return 0;
  const s = v.storage as { length?: number; size?: number };
  return (s.length ?? s.size ?? 0) * b.bytesPerElement;
}

function readIds(args: ArgTemplate[]): number[] {
  const out: number[] = [];
  for (const a of args) {
    if ('v' in a) out.push(a.v);
    else if ('vs' in a) out.push(...a.vs);
  }
  return out;
}

function stepReads(s: PlanStep): number[] {
  const out: number[] = [];
  if (s.groups) for (const g of s.groups) out.push(...g);
  for (let k = 1; k < s.slots.length; k += 2) out.push(s.slots[k]);
  for (const [, ids] of s.lists) out.push(...ids);
  return out;
}

function stepOf(c: RecordedCall): PlanStep {
  const args: unknown[] = [];
  const slots: number[] = [];
  const lists: [number, number[]][] = [];
  c.args.forEach((a, i) => {
    if ('v' in a) {
      args.push(undefined);
      slots.push(i, a.v);
    } else if ('vs' in a) {
      args.push(undefined);
      lists.push([i, a.vs]);
    } else args.push(a.lit);
  });
  return { method: c.method, op: c.op, args, slots, lists, out: c.out, outSize: sizeOf(lastShape(c.args)), free: [] };
}

/**
 * The chain ending at elementwise call `root`: every operand produced by another
 * elementwise call of the same output shape, not an output, and read only by calls of this
 * chain, is computed inside the same kernel (recursively). A value read by several calls of
 * the chain (silu's backward reads sigmoid(x) twice) is computed once and its node reused.
 * Returns null if nothing joined.
 */
function fuseFrom(
  calls: RecordedCall[], root: number, producer: Map<number, number>, readers: Map<number, number>,
  outIds: Set<number>, absorbed: Set<number>, maxInputs: number,
): { step: PlanStep; count: number } | null {
  // Build greedily; a producer absorbed with readers outside the chain is excluded and the
  // chain rebuilt without it (the excluded set only grows, so this ends).
  const excluded = new Set<number>();
  for (;;) {
    const r = buildChain(calls, root, producer, outIds, absorbed, excluded, maxInputs);
    if (!r) return null;
    const bad = [...r.uses].filter(([p, n]) => n !== readers.get(calls[p].out));
    if (bad.length === 0) {
      for (const p of r.uses.keys()) absorbed.add(p);
      return { step: r.step, count: r.count };
    }
    for (const [p] of bad) excluded.add(p);
  }
}

function buildChain(
  calls: RecordedCall[], root: number, producer: Map<number, number>, outIds: Set<number>,
  absorbed: Set<number>, excluded: Set<number>, maxInputs: number,
): { step: PlanStep; count: number; uses: Map<number, number> } | null {
  const outShape = lastShape(calls[root].args);
  // Input budget: every operand position not yet resolved (`pending`, plus the one being
  // resolved) takes at most one more input. Absorbing a unary producer keeps the count,
  // a binary one adds a position; so inputs.length + pending + positions <= maxInputs holds
  // throughout and the chain never reads more than maxInputs inputs.
  let pending = 0;
  const nodes: FusedNode[] = [];
  const inputs: number[] = [];
  const inShapes: number[][] = [];
  const ops: string[] = [];
  /** absorbed producer -> its node, and how many reads of its value the chain makes */
  const memo = new Map<number, FusedRef>();
  const uses = new Map<number, number>();
  const inputRef = (id: number, shape: number[]): FusedRef => {
    let k = inputs.findIndex((x, j) => x === id && sameShape(inShapes[j], shape));
    if (k < 0) {
      k = inputs.length;
      inputs.push(id);
      inShapes.push(shape);
    }
    return { input: k };
  };
  const operand = (id: number, shape: number[]): FusedRef => {
    const p = producer.get(id);
    if (p !== undefined && memo.has(p) && sameShape(shape, outShape)) {
      uses.set(p, uses.get(p)! + 1);
      return memo.get(p)!;
    }
    if (
      p !== undefined && !memo.has(p) && !absorbed.has(p) && !excluded.has(p) && isElementwise(calls[p]) && !outIds.has(id) &&
      sameShape(shape, outShape) && sameShape(lastShape(calls[p].args), outShape) &&
      inputs.length + pending + (calls[p].method === 'binary' ? 2 : 1) <= maxInputs
    ) {
      uses.set(p, 1);
      const ref = emit(p);
      memo.set(p, ref);
      return ref;
    }
    return inputRef(id, shape);
  };
  const emit = (i: number): FusedRef => {
    const c = calls[i];
    const a = c.args;
    const op = (a[0] as { lit: string }).lit;
    if (c.method === 'unary') {
      const x = operand((a[1] as { v: number }).v, outShape as number[]);
      nodes.push({ kind: 'unary', op: op as never, x });
    } else {
      pending++; // y waits while x resolves
      const x = operand((a[1] as { v: number }).v, (a[2] as { lit: number[] }).lit);
      pending--;
      const y = operand((a[3] as { v: number }).v, (a[4] as { lit: number[] }).lit);
      nodes.push({ kind: 'binary', op: op as never, x, y });
    }
    ops.push(op);
    return { node: nodes.length - 1 };
  };
  emit(root);
  if (nodes.length < 2) return null;
  return {
    uses,
    step: {
      method: 'fusedElementwise',
      op: ops.join('+'),
      args: [nodes, undefined, inShapes, outShape],
      slots: [],
      lists: [[1, inputs]],
      out: calls[root].out,
      outSize: sizeOf(outShape),
      free: [],
    },
    count: nodes.length,
  };
}


/**
 * Multi-tensor kernels: fused chains of the same structure over different tensors (the
 * per-parameter chains of an optimizer update) become one kernel each group, placed right
 * after the last step producing any of their inputs, provided every member's output is first
 * read after that point and no member reads another member's output. Each member's inputs
 * must be full-size or one element (no other broadcasting).
 */
function groupMultiTensor(steps: PlanStep[], outIds: Set<number>): { steps: PlanStep[]; kernels: number; members: number } {
  const producerPos = new Map<number, number>();
  const firstReader = new Map<number, number>();
  steps.forEach((s, i) => {
    producerPos.set(s.out, i);
    for (const id of stepReads(s)) if (!firstReader.has(id)) firstReader.set(id, i);
  });
  /** mask[k]: input k is one element ('s') or full-size ('f'); '*' for a one-element member (either reads index 0). */
  interface Open { key: string; members: number[]; ready: number; reader: number; outs: Set<number>; mask: string[] }
  const open = new Map<string, Open>();
  const closed: Open[] = [];
  steps.forEach((s, i) => {
    if (s.method !== 'fusedElementwise') return;
    const [nodes, , inShapes, outShape] = s.args as [FusedNode[], unknown, number[][], number[]];
    const n = sizeOf(outShape);
    if (!inShapes.every((sh) => sizeOf(sh) === n || sizeOf(sh) === 1)) return;
    const mask = inShapes.map((sh) => (n === 1 ? '*' : sizeOf(sh) === 1 ? 's' : 'f'));
    const key = JSON.stringify(nodes);
    const ins = s.lists[0][1];
    const ready = Math.max(-1, ...ins.map((id) => producerPos.get(id) ?? -1));
    // the first step reading this member's output (an output of the plan may be read inside
    // it too: an optimizer's new moment is returned and read by the parameter update)
    const reader = firstReader.get(s.out) ?? Infinity;
    let g = open.get(key);
    const fits = (o: Open) =>
      !ins.some((id) => o.outs.has(id)) && Math.max(o.ready, ready) < Math.min(o.reader, reader) &&
      mask.every((m, k) => m === '*' || o.mask[k] === '*' || m === o.mask[k]);
    if (g && !fits(g)) {
      closed.push(g);
      g = undefined;
    }
    if (!g) {
      g = { key, members: [], ready: -1, reader: Infinity, outs: new Set(), mask: mask.map(() => '*') };
      open.set(key, g);
    }
    mask.forEach((m, k) => {
      if (m !== '*') g!.mask[k] = m;
    });
    g.members.push(i);
    g.ready = Math.max(g.ready, ready);
    g.reader = Math.min(g.reader, reader);
    g.outs.add(s.out);
  });
  closed.push(...open.values());
  const groups = closed.filter((g) => g.members.length >= 2);
  if (groups.length === 0) return { steps, kernels: 0, members: 0 };
  const moved = new Set(groups.flatMap((g) => g.members));
  const at = new Map<number, PlanStep[]>();
  for (const g of groups) {
    const ms = g.members.map((i) => steps[i]);
    const nodes = ms[0].args[0] as FusedNode[];
    const multi: PlanStep = {
      method: 'fusedElementwiseMulti',
      op: `${ms[0].op} x${ms.length}`,
      args: [nodes, g.mask.map((m) => m === 's'), undefined, ms.map((m) => m.outSize)],
      slots: [],
      lists: [],
      out: ms[0].out,
      outSize: ms.reduce((a, m) => a + m.outSize, 0),
      free: [],
      groups: ms.map((m) => m.lists[0][1]),
      outs: ms.map((m) => m.out),
      outSizes: ms.map((m) => m.outSize),
    };
    if (!at.has(g.ready)) at.set(g.ready, []);
    at.get(g.ready)!.push(multi);
  }
  const out: PlanStep[] = [...(at.get(-1) ?? [])];
  steps.forEach((s, i) => {
    if (!moved.has(i)) out.push(s);
    out.push(...(at.get(i) ?? []));
  });
  return { steps: out, kernels: groups.length, members: moved.size };
}
