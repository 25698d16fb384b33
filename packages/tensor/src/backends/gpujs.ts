// The gpu.js backends: webasm (default on CPU-only machines), webgpu (Dawn: a real GPU or
// Mesa lavapipe) and cpu (gpu.js's JavaScript mode). One class; the mode decides storage:
//
// - webasm / cpu: a tensor is a plain Float32Array; every kernel call copies its inputs
//   into the kernel's memory and its result out (there is no device memory to keep).
// - webgpu: a tensor is a GpuSlot holding a GPU-resident WebGPUBufferResult from a
//   `pipeline: true, immutable: true` kernel. gpu.js builds webgpu kernels asynchronously
//   and returns Promises, while our ops are synchronous, so every kernel call, free and
//   read-back is a job on one promise chain: program order is preserved, a buffer is
//   deleted only after every earlier job that reads it, and an error stays with the tensor
//   it produced (and every tensor computed from it) until someone reads it.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import type {
  ArgReduceOp, Backend, BinaryOp, Conv2dAttrs, ConvTranspose2dAttrs, GroupNormAttrs, Pool2dAttrs, ReduceOp, Storage, UnaryOp,
} from '../backend.ts';
import { broadcastStrides, coalesce, opError, shapesEqual, sizeOf, stridesOf, type Shape } from '../shape.ts';
import * as K from './kernels.ts';
import * as NK from './norm-kernels.ts';
import { applyThreadEnv, checkGpujsPatch, wideReturnsOf } from './gpujs-patch.ts';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const gpujs: any = require('gpu.js');

export type GpuJsMode = 'webasm' | 'webgpu' | 'cpu';

/** webgpu storage: the buffer handle once its job ran, or the error that job raised. */
class GpuSlot {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  handle: any = null;
  error: unknown = null;
  constructor(readonly size: number) {}
}

type Arg = Storage | number;

const EMPTY = new Float32Array(0);
/**
 * Stand-in for a size-0 array argument (gpu.js's webasm kernels cannot take a zero-length
 * array). Only kernels whose loops never read it get one: matmul with K = 0, scatterAdd
 * of an empty g, conv with no input channels, all of which produce zeros.
 */
const PLACEHOLDER = new Float32Array(1);
const isEmptyArg = (a: Arg): boolean => (a instanceof Float32Array && a.length === 0) || (a instanceof GpuSlot && a.size === 0);

/** A 1D Float32Array over a kernel result (1D, or 2D/3D rows of one buffer as webasm returns). */
function flatten(r: unknown, size: number): Float32Array {
  if (r instanceof Float32Array) return r.length === size ? r : r.slice(0, size);
  const rows: Float32Array[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array) rows.push(v);
    else for (const x of v as unknown[]) walk(x);
  };
  walk(r);
  const first = rows[0];
  const last = rows[rows.length - 1];
  const contiguous =
    rows.every((row) => row.buffer === first.buffer) &&
    last.byteOffset + last.byteLength - first.byteOffset === size * 4;
  if (contiguous) return new Float32Array(first.buffer, first.byteOffset, size);
  const out = new Float32Array(size);
  let o = 0;
  for (const row of rows) {
    out.set(row, o);
    o += row.length;
  }
  return out;
}

/**
 * `count` blocks of `from` values, each zero-extended to `to` values (the register-blocked
 * kernels read whole blocks of rows/channels); `x` itself when nothing needs padding.
 */
function padBlocks(x: Float32Array, count: number, from: number, to: number): Float32Array {
  if (from === to) return x;
  const out = new Float32Array(count * to);
  for (let i = 0; i < count; i++) out.set(x.subarray(i * from, (i + 1) * from), i * to);
  return out;
}

/** A storage stand-in while kernel calls are captured (input >= 0: the pipeline argument it is). */
export class KernelToken {
  constructor(
    readonly id: number,
    readonly size: number,
    readonly input = -1,
  ) {}
}

/** One captured kernel call: its spec, output dims (gpu.js order) and arguments. */
export interface KernelCall {
  spec: K.KernelSpec;
  dims: number[];
  args: Arg[];
  out: KernelToken;
}

export interface GpuPipeline {
  /** Kernel objects the pipeline was built with. */
  kernels: number;
  run(args: Storage[]): Promise<Storage[]>;
  /** gpu.js's executor for the plan ('fused-sync', 'fused-threaded', 'generic', ...) and why it fell back. */
  executor(): { kind: string; fallbackReason: string | null };
  destroy(): void;
}

export interface WebGPUInfo {
  description: string;
  isFallback: boolean;
}

/**
 * Install navigator.gpu from the `webgpu` package (Dawn) and check that an adapter answers.
 * With requireHardware, a software adapter (lavapipe/llvmpipe/SwiftShader) is refused.
 */
export async function initWebGPU(requireHardware = false): Promise<WebGPUInfo> {
  const op = "setBackend('webgpu')";
  if (!process.env.XDG_RUNTIME_DIR) {
    process.env.XDG_RUNTIME_DIR = `/tmp/xdg-${process.getuid?.() ?? 0}`;
    try {
      mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
    } catch {
      /* only quiets a loader warning */
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const g = globalThis as any;
  if (!g.navigator?.gpu) {
    let mod;
    try {
      mod = await import('webgpu');
    } catch (e) {
      throw opError(op, `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}`);
    }
    Object.assign(globalThis, mod.globals);
    const gpu = mod.create([]);
    if (typeof g.navigator === 'undefined') g.navigator = { gpu };
    else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  const adapter = await g.navigator.gpu.requestAdapter();
  if (!adapter) {
    throw opError(op, 'no WebGPU adapter answered (Dawn found no Vulkan driver); expected a GPU driver, or Mesa lavapipe on CPU-only machines (apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1)');
  }
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  const isFallback = Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader/i.test(description);
  if (requireHardware && isFallback) {
    throw opError(op, `only a software adapter answered (${description}); auto-selection prefers webasm there`);
  }
  if (!(await gpujs.GPU.isWebGPUAvailable())) {
    throw opError(op, `gpu.js reports WebGPU unavailable although the adapter '${description}' answered`);
  }
  return { description, isFallback };
}

export class GpuJsBackend implements Backend {
  readonly bytesPerElement = 4;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly gpu: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly kernels = new Map<string, any>();
  private builds = 0;
  /** Storages handed out (kernel outputs, uploads) minus storages freed: see allocations(). */
  private live = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Set while captureKernels runs: kernel calls are recorded, not run. */
  private capturing: KernelCall[] | null = null;
  private readonly fusedSpecs = new WeakMap<readonly K.FusedNode[], Map<string, K.KernelSpec>>();
  private readonly fusedMultiSpecs = new WeakMap<readonly K.FusedNode[], Map<string, K.KernelSpec>>();
  private readonly gpuMode: boolean;
  /**
   * webasm: run matmul, conv2d (groups 1) and conv2dFilterGrad (groups 1) with the
   * register-blocked Array(4) kernels (kernels.ts). On by default; TAPEGRAD_BLOCKED_KERNELS=0
   * (or setting this to false) selects the one-output-per-thread kernels, which the cpu and
   * webgpu modes always use.
   */
  blocked: boolean;
  /**
   * webasm: run elementwise, strided, concat and reduce ops of coalesced rank <= 3 with the
   * thread-id kernels of kernels.ts ("memory-bound kernels"), whose indices are i32 and whose
   * contiguous reads are single v128 loads under the patched generator. On by default;
   * TAPEGRAD_MEMORY_KERNELS=0 (or setting this to false) selects the flat kernels, which
   * the cpu and webgpu modes always use.
   */
  tidKernels: boolean;
  /**
   * webasm, blocked: the conv2d register tile, [output rows, output channels] per thread, or
   * 'auto'. [2, 2] is an Array(4) kernel that any gpu.js builds; more than 4 outputs need gpu.js
   * patch 8 (Array(5..16) results). 'auto' (the default): 4 x 4 for >= 4 output channels, 2 x 2
   * below that or without patch 8 (bench/micro/conv-tiles.ts: 4 x 4 and 2 x 8 both 1.2-1.5x the
   * 2 x 2 tile at the UNet's shapes, 4 x 4 the steadier; 4 x 2 and 2 x 4 about 1.0-1.1x).
   */
  convTile: K.ConvTile | 'auto' = 'auto';
  /**
   * webasm, blocked: output channels per thread of the lanes-over-kx weight-gradient kernel
   * (conv2dFilterGradLaneKernel: KH * this outputs per thread, more than 4 need patch 8), 0 for
   * the 4-channel gather kernel (conv2dFilterGradBlockedKernel), or 'auto' (the default): 4 with
   * patch 8 for 2 <= KW <= 4, column dilation 1 and KH <= 4, else 0.
   */
  filterGradLanes: number | 'auto' = 'auto';
  /**
   * webasm, blocked: rows of `a` per matmul thread (4; 5..16 need gpu.js patch 8), or 'auto'
   * (the default): 8 with patch 8 for >= 8 rows, else 4 (bench/micro/conv-tiles.ts: 8 rows
   * 1.1-1.4x 4 rows on matmuls of K >= 128; 16 rows no better than 8).
   */
  matmulRows: number | 'auto' = 'auto';
  /** The gpu.js this backend builds with has patch 8 (Array(5..16) kernel results). */
  readonly wideReturns: boolean;

  constructor(
    readonly name: GpuJsMode,
    private readonly info = '',
    /** The gpu.js module to build kernels with (benchmarks load a second, patched copy). */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly lib: any = gpujs,
  ) {
    if (name === 'webasm' && lib === gpujs) {
      checkGpujsPatch();
      applyThreadEnv(); // TAPEGRAD_THREADS (gpujs-patch.ts: setThreads)
    }
    this.gpu = new lib.GPU({ mode: name });
    this.gpuMode = name === 'webgpu';
    this.wideReturns = name === 'webasm' && wideReturnsOf(lib);
    this.blocked = name === 'webasm' && process.env.TAPEGRAD_BLOCKED_KERNELS !== '0';
    this.tidKernels = name === 'webasm' && process.env.TAPEGRAD_MEMORY_KERNELS !== '0';
    if (!this.gpuMode) this.downloadSync = (s: Storage) => (s as Float32Array).slice();
  }

  describe(): string {
    const k = this.kernels.values().next().value;
    const cls = k?.kernel?.constructor?.name ?? '(no kernel built yet)';
    return `${this.name}: gpu.js ${this.lib.GPU.version ?? '2.24.1'} mode '${this.gpu.mode}', kernel class ${cls}${this.info ? `, adapter ${this.info}` : ''}`;
  }

  /** The gpu.js kernel class and fallback reason of every kernel built so far. */
  kernelClasses(): { key: string; mode: string; fallbackReason: string | null }[] {
    return [...this.kernels].map(([key, k]) => ({
      key,
      mode: k.kernel?.constructor?.mode ?? k.kernel?.constructor?.name ?? 'unbuilt',
      fallbackReason: k.kernel?.fallbackReason ?? null,
    }));
  }

  kernelBuilds(): number {
    return this.builds;
  }

  allocations(): number {
    return this.live;
  }

  // ------------------------------------------------------------------ kernel execution

  private kernelFor(spec: K.KernelSpec, outRank: number) {
    const key = `${spec.key}|out${outRank}`;
    let k = this.kernels.get(key);
    if (k) return k;
    const source = new Function(`return ${spec.source}`)();
    k = this.gpu.createKernel(source, {
      output: outRank === 1 ? [1] : outRank === 2 ? [1, 1] : [1, 1, 1],
      dynamicOutput: true,
      dynamicArguments: true,
      argumentTypes: spec.argumentTypes,
      loopMaxIterations: K.MAX_ELEMENTS,
      pipeline: this.gpuMode,
      immutable: this.gpuMode,
      precision: 'single',
      ...(spec.returnType ? { returnType: spec.returnType } : {}),
    });
    const kern = k.kernel;
    if ((spec.returnType || this.name === 'webasm') && kern && typeof kern._shapeOutput === 'function') {
      // gpu.js shapes an Array(n) result into one subarray view per output cell (~100 ns
      // each: 40 ms for a batch-64 conv); we de-interleave the flat buffer ourselves. On
      // webasm a 2-D/3-D result (one buffer) would also get one view per row (2048 for a
      // [64,32,28,28] thread-id kernel) that flatten() only walks: keep the flat buffer.
      const orig = kern._shapeOutput.bind(kern);
      const flat = this.name === 'webasm';
      kern._shapeOutput = (data: Float32Array, output: number[], n: number) => (flat || n > 1 ? data : orig(data, output, n));
    }
    if (this.name === 'webasm' && kern && typeof kern._instantiate === 'function') {
      // One module per size signature: count compilations, keep more of them alive than
      // gpu.js's default 8 so a training loop's few dozen shapes never thrash.
      kern.moduleCacheLimit = 64;
      const orig = kern._instantiate.bind(kern);
      kern._instantiate = (entryKey: string, args: unknown) => {
        if (!kern._moduleCache.has(entryKey)) this.builds++;
        return orig(entryKey, args);
      };
    } else {
      this.builds++;
    }
    this.kernels.set(key, k);
    return k;
  }

  private checkSize(what: string, size: number): void {
    if (size > K.MAX_ELEMENTS) {
      throw opError(what, `a tensor of ${size} elements exceeds ${K.MAX_ELEMENTS} (2^24), the largest size whose flat indices gpu.js computes exactly in float32 on backend '${this.name}'; expected smaller tensors (or the reference backend)`);
    }
  }

  /** Run a kernel with output dims (gpu.js order: x fastest) and return its storage. */
  private exec(spec: K.KernelSpec, dims: number[], args: Arg[]): Storage {
    const size = sizeOf(dims);
    const what = spec.key.split(':')[0];
    this.checkSize(what, size);
    if (this.capturing) {
      if (size === 0) throw opError(what, 'a size-0 result cannot be part of a gpu.js pipeline');
      const out = new KernelToken(this.capturing.length, size);
      this.capturing.push({ spec, dims: dims.slice(), args: args.slice(), out });
      return out;
    }
    this.live++; // every storage exec returns is one allocation, freed by free()
    if (size === 0) return this.gpuMode ? new GpuSlot(0) : EMPTY;
    const k = this.kernelFor(spec, dims.length);
    if (args.some(isEmptyArg)) args = args.map((a) => (isEmptyArg(a) ? PLACEHOLDER : a));
    if (!this.gpuMode) {
      k.setOutput(dims);
      let r;
      try {
        r = k(...args);
      } catch (e) {
        this.live--;
        throw opError(what, `gpu.js ${this.name} kernel '${spec.key}' failed: ${(e as Error).message.split('\n')[0]}`);
      }
      return flatten(r, size);
    }
    const out = new GpuSlot(size);
    this.tail = this.tail.then(async () => {
      // an input that failed fails this call with the same error (the first failure, named once)
      const failed = args.find((a): a is GpuSlot => a instanceof GpuSlot && a.error !== undefined && a.error !== null);
      if (failed) {
        out.error = failed.error;
        return;
      }
      try {
        const real = args.map((a) => (a instanceof GpuSlot ? a.handle : a));
        k.setOutput(dims);
        out.handle = await k(...real);
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        out.error = msg.startsWith(`${what}:`) ? e : opError(what, `gpu.js webgpu kernel '${spec.key}' failed: ${msg.split('\n')[0]}`);
      }
    });
    return out;
  }

  /**
   * Run an Array(n) kernel (webasm) and return its raw result: [..dims reversed.., n] in one
   * Float32Array of sizeOf(dims) * n values (webasm lays the rows out in one buffer).
   */
  private execBlocked(spec: K.KernelSpec, dims: number[], args: Arg[], n = 4): Float32Array {
    const size = sizeOf(dims);
    const what = spec.key.replace(/Blocked.*/, '');
    this.checkSize(what, size * n);
    const k = this.kernelFor(spec, dims.length);
    if (args.some(isEmptyArg)) args = args.map((a) => (isEmptyArg(a) ? PLACEHOLDER : a));
    k.setOutput(dims);
    let r;
    try {
      r = k(...args);
    } catch (e) {
      throw opError(what, `gpu.js ${this.name} kernel '${spec.key}' failed: ${(e as Error).message.split('\n')[0]}`);
    }
    // the caller turns this raw result into exactly one output storage (deinterleaveN), freed by free()
    this.live++;
    if (r instanceof Float32Array && r.length === size * n) return r; // flat (see kernelFor)
    let first: unknown = r;
    while (Array.isArray(first)) first = first[0];
    const f = first as Float32Array;
    if (f.buffer.byteLength - f.byteOffset >= size * n * 4) return new Float32Array(f.buffer, f.byteOffset, size * n);
    return flatten(r, size * n); // rows in separate buffers: copy them together
  }

  private copy(x: Storage, size: number): Storage {
    return this.exec(K.copyKernel(), [size], [x]);
  }

  upload(values: Float32Array | Float64Array, size: number): Storage {
    this.checkSize('tensor', size);
    const f32 = values instanceof Float32Array && values.length === size ? values.slice() : Float32Array.from(values.subarray(0, size));
    if (!this.gpuMode) {
      this.live++;
      return f32;
    }
    return this.exec(K.copyKernel(), [size], [f32]);
  }

  async download(s: Storage, size: number): Promise<Float32Array> {
    if (!this.gpuMode) return (s as Float32Array).slice();
    const slot = s as GpuSlot;
    const p = this.tail.then(async () => {
      if (slot.error) throw slot.error;
      if (size === 0) return new Float32Array(0);
      return flatten(await slot.handle.toArray(), size).slice();
    });
    this.tail = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /** Synchronous read-back exists where there is no GPU to wait for (not on webgpu). */
  readonly downloadSync?: (s: Storage) => Float32Array;

  free(s: Storage): void {
    if (s instanceof KernelToken) return; // a captured value (captureKernels): nothing was allocated
    this.live--;
    if (!(s instanceof GpuSlot)) return;
    this.tail = this.tail.then(() => {
      if (s.handle) s.handle.delete();
      s.handle = null;
    });
  }

  /** Resolves when every job issued so far has run (webgpu); immediate elsewhere. */
  async flush(): Promise<void> {
    await this.tail;
  }

  async destroy(): Promise<void> {
    await this.tail;
    for (const k of this.kernels.values()) k.destroy?.();
    this.kernels.clear();
    await this.gpu.destroy();
  }

  // ------------------------------------------------------------------ gpu.js pipelines
  //
  // For @tapegrad/compile's experimental pipeline executor: run backend methods with
  // KernelTokens standing for storages, recording the kernel calls they make instead of
  // running them (the one-output-per-thread kernels: an Array(4) result needs host
  // de-interleaving, which a gpu.js plan cannot do), then build one gpu.js pipeline that
  // makes those calls, with one kernel object of fixed output size per call signature.

  /** Run `fn` recording, not running, every kernel call its backend methods make. */
  captureKernels<R>(fn: () => R): { result: R; calls: KernelCall[] } {
    if (this.capturing) throw opError('captureKernels', 'a capture is already running');
    const blocked = this.blocked;
    this.blocked = false;
    const calls: KernelCall[] = [];
    this.capturing = calls;
    try {
      return { result: fn(), calls };
    } finally {
      this.capturing = null;
      this.blocked = blocked;
    }
  }

  /**
   * One gpu.js pipeline making the captured `calls`: `inputs` are the tokens bound to the
   * pipeline's arguments (host arrays at call time), `outputs` the tokens it returns.
   */
  buildPipeline(calls: readonly KernelCall[], inputs: readonly KernelToken[], outputs: readonly KernelToken[]): GpuPipeline {
    const kernels = new Map<string, unknown>();
    const seat = (a: Arg) => (a instanceof KernelToken ? (a.input >= 0 ? 'i' : 's') : typeof a === 'number' ? 'n' : 'c');
    const kernelOf = (c: KernelCall) => {
      // one kernel object per output shape (and argument kinds per seat) inside a plan
      const key = `${c.spec.key}|${c.dims.join('x')}|${c.args.map(seat).join('')}`;
      let k = kernels.get(key);
      if (!k) {
        const source = new Function(`return ${c.spec.source}`)();
        k = this.gpu.createKernel(source, {
          output: c.dims,
          argumentTypes: c.spec.argumentTypes,
          loopMaxIterations: K.MAX_ELEMENTS,
          precision: 'single',
        });
        this.builds++;
        kernels.set(key, k);
      }
      return k as (...a: unknown[]) => unknown;
    };
    const body = (ins: ArrayLike<unknown>) => {
      const h = new Map<KernelToken, unknown>();
      inputs.forEach((t, i) => h.set(t, ins[i]));
      const val = (a: Arg) => {
        if (!(a instanceof KernelToken)) return a;
        if (!h.has(a)) throw opError('buildPipeline', `captured value ${a.id} is read before it is computed`);
        return h.get(a);
      };
      for (const c of calls) h.set(c.out, kernelOf(c)(...c.args.map(val)));
      return outputs.map(val);
    };
    // gpu.js counts pipeline arguments by fn.length: a function with one named parameter each
    const params = inputs.map((_, i) => `a${i}`).join(', ');
    const orchestrate = new Function('body', `return function (${params}) { return body(arguments); }`)(body);
    const pipe = this.gpu.createPipeline(orchestrate);
    return {
      get kernels() {
        return kernels.size;
      },
      run: async (args: Storage[]) => {
        // gpu.js fuses a plan only over host-array arguments (a device handle degrades it to
        // its generic executor): on webgpu the arguments are read back and the results
        // uploaded again (a host round trip per call)
        const host = this.gpuMode
          ? await Promise.all(args.map((a) => (a instanceof GpuSlot ? this.download(a, a.size) : (a as Float32Array))))
          : (args as Float32Array[]);
        const res = (await pipe(...host)) as unknown[];
        // copies: a fused executor's results may live in memory the next call reuses
        const out = res.map((r, i) => flatten(r, outputs[i].size).slice());
        if (this.gpuMode) return out.map((r) => this.upload(r, r.length));
        this.live += out.length; // each result is a storage this backend hands out
        return out;
      },
      executor: () => ({ kind: pipe.pipeline.executorKind as string, fallbackReason: (pipe.pipeline.fallbackReason as string | null) ?? null }),
      destroy: () => {
        pipe.pipeline.destroy?.();
        for (const k of kernels.values()) (k as { destroy?: () => void }).destroy?.();
      },
    };
  }

  // ------------------------------------------------------------------ ops

  unary(op: UnaryOp, x: Storage, size: number, _outShape: Shape): Storage {
    return this.exec(K.unaryKernel(op, this.tidKernels), [size], [x]);
  }

  /**
   * Whether a coalesced view runs as a thread-id kernel: rank <= 3 and rows at least 4 wide.
   * webasm runs a row whose width is not a multiple of 4 from JS as one SIMD span plus a
   * scalar tail (two calls into the module per row, ~10 ns each); in-kernel time against the
   * flat kernel, [401408 / w, w] + [rows, 1]: w = 3 1.26x slower, w = 5 1.3x faster, w = 9 1.8x,
   * w = 30 3.4x, w = 49 4.8x (scratch measurement; bench/micro/memory-bound.ts has the 7x7 case).
   */
  private tid(shape: number[]): boolean {
    return this.tidKernels && shape.length <= 3 && (shape.length === 1 || shape[shape.length - 1] >= 4);
  }

  /**
   * Inputs per fused chain: webgpu binds each input and the output as a storage buffer, and
   * gpu.js asks Dawn for the default limits (8 per compute stage); webasm/cpu: 8 arguments.
   */
  get fusedMaxInputs(): number {
    return this.gpuMode ? 7 : 8;
  }

  fusedElementwise(nodes: readonly K.FusedNode[], inputs: Storage[], inShapes: Shape[], outShape: Shape): Storage {
    if (inputs.length > this.fusedMaxInputs) {
      throw opError('fusedElementwise', `a chain of ${nodes.length} ops reads ${inputs.length} inputs; the ${this.name} backend takes at most ${this.fusedMaxInputs} (fusedMaxInputs)`);
    }
    const c = coalesce(outShape, inShapes.map((s) => broadcastStrides(s, outShape)));
    // the spec (generated source) is cached per chain object, rank and kernel form: a plan replays one chain many times
    let byKey = this.fusedSpecs.get(nodes);
    if (!byKey) this.fusedSpecs.set(nodes, (byKey = new Map()));
    const rank = c.shape.length;
    if (this.tid(c.shape)) {
      // webasm: i32 thread-id indices, contiguous inputs as v128 loads (as the eager binary kernels)
      const pats = c.strides.map((st) => K.innerPattern(st[rank - 1]));
      const key = `tid${rank}:${pats.join('')}`;
      let spec = byKey.get(key);
      if (!spec) byKey.set(key, (spec = K.fusedElementwiseTidKernel(nodes, pats, rank, true)));
      return this.exec(spec, K.tidDims(c.shape), [...inputs, ...c.strides.flat()]);
    }
    // the same sigmoid/silu form as the eager unary kernels (lean on webasm with tidKernels)
    const key = `${rank}:${this.tidKernels}`;
    let spec = byKey.get(key);
    if (!spec) byKey.set(key, (spec = K.fusedElementwiseKernel(nodes, inputs.length, rank, this.tidKernels)));
    return this.exec(spec, [sizeOf(outShape)], [...inputs, ...c.shape.slice(1), ...c.strides.flat()]);
  }

  /**
   * webasm / cpu: one chain over several groups of inputs in one kernel
   * (fusedElementwiseMultiKernel); the results are views of the one output buffer, each
   * freed on its own. `inputs[g][k]` is full-size (sizes[g] elements) or, where scalar[k], one element.
   */
  fusedElementwiseMulti(nodes: readonly K.FusedNode[], scalar: readonly boolean[], inputs: Storage[][], sizes: number[]): Storage[] {
    if (this.gpuMode || this.capturing) throw opError('fusedElementwiseMulti', 'its results are views of one buffer, which neither webgpu storages nor a gpu.js pipeline can express');
    let byKey = this.fusedMultiSpecs.get(nodes);
    if (!byKey) this.fusedMultiSpecs.set(nodes, (byKey = new Map()));
    const key = `${inputs.length}:${scalar.join()}:${this.tidKernels}`;
    let spec = byKey.get(key);
    if (!spec) byKey.set(key, (spec = K.fusedElementwiseMultiKernel(nodes, scalar, inputs.length, this.tidKernels)));
    const offsets: number[] = [];
    let total = 0;
    for (const n of sizes) {
      offsets.push(total);
      total += n;
    }
    const out = this.exec(spec, [total], [...inputs.flat(), ...offsets.slice(1)]) as Float32Array;
    this.live += sizes.length - 1; // one storage per group (views of one buffer)
    return sizes.map((n, g) => out.subarray(offsets[g], offsets[g] + n));
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const c = coalesce(outShape, [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
    if (this.tid(c.shape)) {
      const [sa, sb] = c.strides;
      const r = c.shape.length;
      return this.exec(K.binaryTidKernel(op, r, K.innerPattern(sa[r - 1]), K.innerPattern(sb[r - 1])), K.tidDims(c.shape), [a, b, ...sa, ...sb]);
    }
    return this.exec(K.binaryKernel(op, c.shape.length), [sizeOf(outShape)], [a, b, ...c.shape.slice(1), ...c.strides[0], ...c.strides[1]]);
  }

  where(cnd: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const st = [cShape, aShape, bShape].map((s) => broadcastStrides(s, outShape));
    const c = coalesce(outShape, st);
    if (this.tid(c.shape)) {
      const r = c.shape.length;
      const [pc, pa, pb] = c.strides.map((s) => K.innerPattern(s[r - 1]));
      return this.exec(K.whereTidKernel(r, pc, pa, pb), K.tidDims(c.shape), [cnd, a, b, ...c.strides.flat()]);
    }
    return this.exec(K.whereKernel(c.shape.length), [sizeOf(outShape)], [cnd, a, b, ...c.shape.slice(1), ...c.strides.flat()]);
  }

  private strided(x: Storage, outShape: Shape, strides: number[], offset: number): Storage {
    const c = coalesce(outShape, [strides]);
    if (this.tid(c.shape)) {
      const s = c.strides[0];
      return this.exec(K.stridedTidKernel(s.length, K.innerPattern(s[s.length - 1])), K.tidDims(c.shape), [x, offset, ...s]);
    }
    return this.exec(K.stridedKernel(c.shape.length), [sizeOf(outShape)], [x, offset, ...c.shape.slice(1), ...c.strides[0]]);
  }

  transpose(x: Storage, shape: Shape, perm: number[], outShape: Shape): Storage {
    const st = stridesOf(shape);
    return this.strided(x, outShape, perm.map((p) => st[p]), 0);
  }

  broadcastTo(x: Storage, shape: Shape, outShape: Shape): Storage {
    return this.strided(x, outShape, broadcastStrides(shape, outShape), 0);
  }

  slice(x: Storage, shape: Shape, begin: number[], _size: number[], step: number[], outShape: Shape): Storage {
    const st = stridesOf(shape);
    const offset = begin.reduce((s, b, k) => s + b * st[k], 0);
    return this.strided(x, outShape, st.map((s, k) => s * step[k]), offset);
  }

  pad(x: Storage, shape: Shape, pads: [number, number][], value: number, outShape: Shape): Storage {
    const r = shape.length;
    if (r === 0) return this.copy(x, 1); // a scalar has nothing to pad (padKernel needs rank >= 1)
    if (r >= 2 && pads.slice(0, r - 2).every((p) => p[0] === 0 && p[1] === 0) && this.tid([1, outShape[r - 1]])) {
      const [H, W] = shape.slice(r - 2);
      return this.exec(K.pad2TidKernel(), [outShape[r - 1], outShape[r - 2], sizeOf(shape.slice(0, r - 2))], [x, value, H, W, pads[r - 2][0], pads[r - 1][0]]);
    }
    return this.exec(K.padKernel(r), [sizeOf(outShape)], [x, value, ...outShape.slice(1), ...shape, ...pads.map((p) => p[0]), ...stridesOf(shape)]);
  }

  concat(xs: Storage[], shapes: Shape[], axis: number, _outShape: Shape): Storage {
    const inner = sizeOf(shapes[0].slice(axis + 1));
    const outer = sizeOf(shapes[0].slice(0, axis));
    let acc = xs[0];
    let accRows = shapes[0][axis];
    if (xs.length === 1) return this.copy(acc, sizeOf(shapes[0]));
    for (let k = 1; k < xs.length; k++) {
      const rows = shapes[k][axis];
      const [La, Lb] = [accRows * inner, rows * inner];
      const next = this.tid([outer, La + Lb])
        ? this.exec(K.concat2TidKernel(), [La + Lb, outer], [acc, xs[k], La, Lb])
        : this.exec(K.concat2Kernel(), [outer * (La + Lb)], [acc, xs[k], La, Lb]);
      if (k > 1) this.free(acc);
      acc = next;
      accRows += rows;
    }
    return acc;
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: number[], outShape: Shape): Storage {
    const outSize = sizeOf(outShape);
    if (axes.some((a) => shape[a] === 0)) {
      return this.upload(new Float32Array(outSize), outSize); // sum over nothing (max/min are refused by the op)
    }
    // Merge runs of kept / reduced dims (size-1 dims are irrelevant), then reduce the
    // innermost reduced run as an [outer, R, inner] view until none is left.
    const groups: { n: number; red: boolean }[] = [];
    shape.forEach((n, i) => {
      if (n === 1) return;
      const red = axes.includes(i);
      const last = groups[groups.length - 1];
      if (last && last.red === red) last.n *= n;
      else groups.push({ n, red });
    });
    let cur = x;
    let owned = false;
    for (;;) {
      const g = groups.map((q) => q.red).lastIndexOf(true);
      if (g < 0) break;
      const outer = sizeOf(groups.slice(0, g).map((q) => q.n));
      const inner = sizeOf(groups.slice(g + 1).map((q) => q.n));
      const next = this.reduceStep(op, cur, outer, groups[g].n, inner);
      if (owned) this.free(cur);
      cur = next;
      owned = true;
      groups.splice(g, 1);
      if (g > 0 && g < groups.length && !groups[g - 1].red && !groups[g].red) {
        groups[g - 1].n *= groups[g].n;
        groups.splice(g, 1);
      }
    }
    return owned ? cur : this.copy(x, outSize);
  }

  /** Reduce the middle axis of an [outer, R, inner] view. */
  private reduceStep(op: ReduceOp, x: Storage, outer: number, R: number, inner: number): Storage {
    if (this.tidKernels && inner === 1 && R >= 8) {
      const R4 = Math.floor(R / 4);
      const partial = this.exec(K.reduceRowsKernel(op, R4 > 256), [4, outer], [x, R, R4]);
      const out = this.exec(K.reduceRowsFinalKernel(op), [outer], [partial]);
      this.free(partial);
      return out;
    }
    if (this.tidKernels && inner === 1) return this.exec(K.reduceShortKernel(op), [outer], [x, R]);
    if (inner > 1 && this.tid([outer, inner])) return this.exec(K.reduceMiddleKernel(op, R > 256), [inner, outer], [x, R, inner]);
    return this.exec(K.reduceKernel(op), [outer * inner], [x, R, inner]);
  }

  argReduce(op: ArgReduceOp, x: Storage, shape: Shape, axis: number, _outShape: Shape): Storage {
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    return this.exec(K.argReduceKernel(op), [outer * inner], [x, shape[axis], inner]);
  }

  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const r = outShape.length;
    const batch = outShape.slice(0, r - 2);
    const [M, N] = [outShape[r - 2], outShape[r - 1]];
    const K_ = aShape[aShape.length - 1];
    const B = sizeOf(batch);
    const temps: Storage[] = [];
    // Each operand either holds one matrix (batch stride 0) or the full batch.
    const prep = (s: Storage, shape: Shape, rows: number, cols: number): [Storage, number] => {
      const own = shape.slice(0, shape.length - 2);
      if (sizeOf(own) === 1) return [s, 0];
      const padded = [...new Array(batch.length - own.length).fill(1), ...own];
      if (shapesEqual(padded, batch)) return [s, rows * cols];
      const full = this.broadcastTo(s, shape, [...batch, rows, cols]);
      temps.push(full);
      return [full, rows * cols];
    };
    const [pa, sa] = prep(a, aShape, M, K_);
    const [pb, sb] = prep(b, bShape, K_, N);
    let out: Storage;
    if (this.blocked && M * N * B > 0 && K_ > 0) {
      const W4 = K.pad4(N);
      const R = this.matmulRowsFor(M);
      const Mb = Math.ceil(M / R);
      // the kernel reads R rows of `a` per thread: pad each matrix to R * Mb rows
      const ra = padBlocks(pa as Float32Array, sa ? B : 1, M * K_, Mb * R * K_);
      const buf = this.execBlocked(K.matmulBlockedKernel(R), [W4, Mb, B], [ra, pb, K_, N, sa ? Mb * R * K_ : 0, sb], R);
      const res = new Float32Array(B * M * N);
      const dest = (z: number, y: number, q: number) => (y * R + q < M ? (z * M + y * R + q) * N : -1);
      K.deinterleaveN(buf, res, R, B, W4, N, Mb, dest);
      out = res;
    } else {
      out = this.exec(K.matmulKernel(), [N, M, B], [pa, pb, K_, N, sa, sb]);
    }
    temps.forEach((t) => this.free(t));
    return out;
  }

  gather(x: Storage, shape: Shape, indices: Storage, nIndices: number, axis: number, _outShape: Shape): Storage {
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    return this.exec(K.gatherKernel(), [outer * nIndices * inner], [x, indices, nIndices, shape[axis], inner]);
  }

  scatterAdd(g: Storage, gShape: Shape, indices: Storage, nIndices: number, axis: number, dimSize: number, _outShape: Shape): Storage {
    const outer = sizeOf(gShape.slice(0, axis));
    const inner = sizeOf(gShape.slice(axis + 1));
    return this.exec(K.scatterAddKernel(), [outer * dimSize * inner], [g, indices, nIndices, dimSize, inner]);
  }

  private padSpatial(x: Storage, xShape: Shape, ph: number, pw: number): { xp: Storage; owned: boolean } {
    if (ph === 0 && pw === 0) return { xp: x, owned: false };
    const [N, C, H, W] = xShape;
    return { xp: this.pad(x, xShape, [[0, 0], [0, 0], [ph, ph], [pw, pw]], 0, [N, C, H + 2 * ph, W + 2 * pw]), owned: true };
  }

  conv2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, a: Conv2dAttrs, outShape: Shape): Storage {
    const [N, C, H, W] = xShape;
    const [O, Cg, KH, KW] = wShape;
    const Hp = H + 2 * a.padding[0];
    const Wp = W + 2 * a.padding[1];
    const [, , Ho, Wo] = outShape;
    const { xp, owned } = this.padSpatial(x, xShape, a.padding[0], a.padding[1]);
    let out: Storage;
    if (this.blocked && a.groups === 1 && N * O * Ho * Wo > 0 && C > 0) {
      const [sh, sw] = a.stride;
      const [dh, dw] = a.dilation;
      const W4 = K.pad4(Wo);
      const tile = this.convTileFor(O);
      const [TR, TC] = tile;
      const n = TR * TC;
      const Hb = Math.ceil(Ho / TR);
      const Ob = Math.ceil(O / TC);
      // TC output channels per thread: weights padded to a multiple of TC channels
      const wp = padBlocks(w as Float32Array, 1, O * C * KH * KW, Ob * TC * C * KH * KW);
      const buf = this.execBlocked(K.conv2dBlockedKernel(KH, KW, sh, sw, dh, dw, tile), [W4, Hb, N * Ob], [xp, wp, Ob, C, Hp, Wp], n);
      const res = new Float32Array(N * O * Ho * Wo);
      // lane q = TR * (channel offset) + (row offset)
      K.deinterleaveN(buf, res, n, N * Ob, W4, Wo, Hb, (z, y, q) => {
        const nn = Math.floor(z / Ob);
        const o = (z - nn * Ob) * TC + Math.floor(q / TR);
        const yy = y * TR + (q % TR);
        return o < O && yy < Ho ? ((nn * O + o) * Ho + yy) * Wo : -1;
      });
      out = res;
    } else {
      out = this.exec(K.conv2dKernel(KH, KW), [Wo, Ho, N * O], [xp, w, Cg, O / a.groups, O, C, Hp, Wp, a.stride[0], a.stride[1], a.dilation[0], a.dilation[1]]);
    }
    if (owned) this.free(xp);
    return out;
  }

  /** Rows of `a` per thread of the blocked matmul for M rows (see matmulRows). */
  private matmulRowsFor(M: number): number {
    if (this.matmulRows !== 'auto') return this.matmulRows;
    return this.wideReturns && M >= 8 ? 8 : 4;
  }

  /** The conv2d register tile for O output channels (see convTile). */
  private convTileFor(O: number): K.ConvTile {
    if (this.convTile !== 'auto') return this.convTile;
    if (!this.wideReturns) return [2, 2];
    return O >= 4 ? [4, 4] : [2, 2];
  }

  /** Output channels per thread of the lanes-over-kx dw kernel, 0 when it does not apply (see filterGradLanes). */
  private filterGradLanesFor(KH: number, KW: number, dw: number): number {
    if (dw !== 1 || KW > 4) return 0;
    const TC = this.filterGradLanes === 'auto' ? (this.wideReturns && KW >= 2 && KH <= 4 ? 4 : 0) : this.filterGradLanes;
    const n = KH * TC;
    return TC > 0 && n >= 4 && n <= 16 && (n === 4 || this.wideReturns) ? TC : 0;
  }

  convTranspose2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, a: ConvTranspose2dAttrs, outShape: Shape): Storage {
    // A transposed conv is the stride-1 conv of the input with zeros inserted between its
    // pixels and d(K-1)-p border rows, with the flipped, in/out-swapped weights.
    const [N, Cin, H, W] = xShape;
    const [, Og, KH, KW] = wShape;
    const Cg = Cin / a.groups;
    const [, , Ho, Wo] = outShape;
    const Hd = Ho + a.dilation[0] * (KH - 1);
    const Wd = Wo + a.dilation[1] * (KW - 1);
    const xd = this.exec(K.dilatePadKernel(), [Wd, Hd, N * Cin], [x, H, W, a.stride[0], a.stride[1], a.dilation[0] * (KH - 1) - a.padding[0], a.dilation[1] * (KW - 1) - a.padding[1]]);
    const O = Og * a.groups;
    const wt = this.exec(K.convTransposeWeightKernel(), [O * Cg * KH * KW], [w, Cg, Og, KH, KW]);
    const out = this.conv2d(xd, [N, Cin, Hd, Wd], wt, [O, Cg, KH, KW], { stride: [1, 1], padding: [0, 0], dilation: a.dilation, groups: a.groups }, outShape);
    this.free(xd);
    this.free(wt);
    return out;
  }

  conv2dFilterGrad(x: Storage, xShape: Shape, dy: Storage, dyShape: Shape, wShape: Shape, a: Conv2dAttrs, _outShape: Shape): Storage {
    const [N, C, H, W] = xShape;
    const [, O, Ho, Wo] = dyShape;
    const [, Cg, KH, KW] = wShape;
    const { xp, owned } = this.padSpatial(x, xShape, a.padding[0], a.padding[1]);
    const Hp = H + 2 * a.padding[0];
    const Wp = W + 2 * a.padding[1];
    let out: Storage;
    const TC = this.filterGradLanesFor(KH, KW, a.dilation[1]);
    if (this.blocked && TC > 0 && a.groups === 1 && O * Cg * KH * KW > 0 && N * Ho * Wo > 0) {
      const Ob = Math.ceil(O / TC);
      // TC output channels per thread: dy with a multiple of TC channels
      const dyp = padBlocks(dy as Float32Array, N, O * Ho * Wo, Ob * TC * Ho * Wo);
      const n = KH * TC;
      const buf = this.execBlocked(K.conv2dFilterGradLaneKernel(KH, KW, a.stride[0], a.stride[1], a.dilation[0], TC), [4, C, Ob], [xp, dyp, N, Ho, Wo, Ob * TC, C, Hp, Wp], n);
      const res = new Float32Array(O * C * KH * KW);
      // buffer [Ob, C, 4 (kx), n], lane q = KH * j + ky
      K.deinterleaveN(buf, res, n, Ob, 4, KW, C, (z, c, q) => {
        const o = z * TC + Math.floor(q / KH);
        return o < O ? ((o * C + c) * KH + (q % KH)) * KW : -1;
      });
      out = res;
    } else if (this.blocked && a.groups === 1 && O * Cg * KH * KW > 0 && N * Ho * Wo > 0) {
      const L = Cg * KH * KW;
      const W4 = K.pad4(L);
      const Ob = Math.ceil(O / 4);
      // four output channels per thread: dy with a multiple of 4 channels
      const dyp = padBlocks(dy as Float32Array, N, O * Ho * Wo, Ob * 4 * Ho * Wo);
      const buf = this.execBlocked(K.conv2dFilterGradBlockedKernel(KH, KW, a.stride[0], a.stride[1], a.dilation[0], a.dilation[1]), [W4, Ob], [xp, dyp, N, Ho, Wo, Ob * 4, C, Hp, Wp]);
      const res = new Float32Array(O * L);
      K.deinterleaveN(buf, res, 4, 1, W4, L, Ob, (_b, y, q) => (y * 4 + q < O ? (y * 4 + q) * L : -1));
      out = res;
    } else {
      out = this.exec(K.conv2dFilterGradKernel(), [O * Cg * KH * KW], [xp, dy, N, Ho, Wo, Cg, O / a.groups, O, C, Hp, Wp, a.stride[0], a.stride[1], a.dilation[0], a.dilation[1], KH, KW]);
    }
    if (owned) this.free(xp);
    return out;
  }

  maxPool2dGather(x: Storage, v: Storage, xShape: Shape, a: Pool2dAttrs, outShape: Shape): Storage {
    const [N, C, H, W] = xShape;
    const [, , Ho, Wo] = outShape;
    return this.exec(K.maxPoolGatherKernel(a.kernel[0], a.kernel[1]), [Wo, Ho, N * C], [x, v, H, W, a.stride[0], a.stride[1], a.padding[0], a.padding[1]]);
  }

  maxPool2dScatter(x: Storage, g: Storage, xShape: Shape, gShape: Shape, a: Pool2dAttrs, _outShape: Shape): Storage {
    const [N, C, H, W] = xShape;
    const [, , Ho, Wo] = gShape;
    return this.exec(K.maxPoolScatterKernel(a.kernel[0], a.kernel[1]), [W, H, N * C], [x, g, H, W, Ho, Wo, a.stride[0], a.stride[1], a.padding[0], a.padding[1]]);
  }

  // ------------------------------------------------------------------ GroupNorm (norm-kernels.ts)

  private gnDims(xShape: Shape, attrs: GroupNormAttrs) {
    const [N, C] = xShape;
    const HW = sizeOf(xShape.slice(2));
    const G = attrs.groups;
    const Cg = C / G;
    return { N, C, HW, G, Cg, M: Cg * HW, HW4: Math.floor(HW / 4) };
  }

  groupNormStats(x: Storage, xShape: Shape, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, G, Cg, HW, HW4, M } = this.gnDims(xShape, attrs);
    const p = this.exec(NK.gnSumKernel(), [4, N * G], [x, M, HW, HW4, Cg]);
    const q = this.exec(NK.gnDevKernel(), [4, N * G, 2], [x, p, M, HW, HW4, Cg, M]);
    const out = this.exec(NK.gnStatsKernel(), [2, N * G], [p, q, N * G, M, attrs.eps]);
    this.free(p);
    this.free(q);
    return out;
  }

  groupNormForward(x: Storage, xShape: Shape, stats: Storage, gamma: Storage | null, beta: Storage | null, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, G, Cg, HW } = this.gnDims(xShape, attrs);
    const affine = [...(gamma !== null ? [gamma] : []), ...(beta !== null ? [beta] : [])];
    return this.exec(NK.gnForwardKernel(gamma !== null, beta !== null), [HW, C, N], [x, stats, ...affine, C, HW, Cg, G]);
  }

  groupNormChannelSums(x: Storage, xShape: Shape, g: Storage, stats: Storage, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, G, Cg, HW, HW4 } = this.gnDims(xShape, attrs);
    const p = this.exec(NK.gnChannelSumKernel(), [4, N * C, 2], [x, g, stats, C, HW, HW4, Cg, G]);
    const out = this.exec(NK.gnChannelSumFinalKernel(), [2, N * C], [p, N * C]);
    this.free(p);
    return out;
  }

  groupNormInputGrad(x: Storage, xShape: Shape, g: Storage, stats: Storage, sums: Storage, gamma: Storage | null, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, G, Cg, HW, M } = this.gnDims(xShape, attrs);
    const gm = gamma !== null ? [gamma] : [];
    const gs = this.exec(NK.gnGroupSumKernel(gamma !== null), [2, N * G], [sums, ...gm, C, Cg, G]);
    const out = this.exec(NK.gnInputGradKernel(gamma !== null), [HW, C, N], [x, g, stats, gs, ...gm, C, HW, Cg, G, M]);
    this.free(gs);
    return out;
  }

  groupNormParamGrad(sums: Storage, sumsShape: Shape, _outShape: Shape): Storage {
    const [N, C] = sumsShape;
    return this.exec(NK.gnParamGradKernel(), [C, 2], [sums, N, C]);
  }
}
