// Startup check for tapegrad's patch of gpu.js 2.24.1's WebAssembly code generator
// (patches/gpu.js+2.24.1.patch, applied by `npm run setup`): i32 loop counters, contiguous
// lane reads as one v128.load, thread ids in locals, in-module exp/log/tanh (patches 1-4,
// function-node.js), a synchronous threaded run path (patch 5, kernel.js + worker-pool.js) and
// Array(5..16) kernel results (patch 8, function-node.js + kernel.js: the wide register tiles of
// the conv kernels; without it the backend keeps the Array(4) tiles).
// The patch changes speed only; the unpatched generator computes the same bits, so a missing
// patch is a warning (once per process), never an error; without patch 5 threads are
// unavailable (setThreads warns and keeps one thread).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface GpujsPatchStatus {
  applied: boolean;
  /** The patch's entry points missing from the gpu.js that Node loaded. */
  missing: string[];
  /** Where that gpu.js was loaded from. */
  path: string;
  /** Patch 5 (the synchronous threaded path) is present: setThreads can take effect. */
  threads: boolean;
  /** Patch 8 (Array(5..16) results) is present: the conv kernels may use wide register tiles. */
  wideReturns: boolean;
}

/**
 * Whether a loaded gpu.js module (its index exports) has patch 8, i.e. builds webasm kernels
 * that return Array(5..16) (benchmarks and tests pass other copies than the installed one).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function wideReturnsOf(lib: any): boolean {
  return typeof lib?.WebAssemblyFunctionNode?.prototype?.wideVecWidth === 'function';
}

const MARKERS = ['isIntCounter', 'collectIntCounters', 'vContiguousRead', 'emitInlineMathF32x4', 'cacheScalarArguments', 'collectIntLocals', 'wideVecWidth'];
/** Patch 5's entry points on WebAssemblyKernel.prototype (kernel.js). */
const THREAD_MARKERS = ['_syncThreaded', '_syncPlan', '_dispatchSync'];

let status: GpujsPatchStatus | null = null;
let warned = false;

/** Inspects the code generator Node actually loads for `require('gpu.js')`. */
export function gpujsPatchStatus(): GpujsPatchStatus {
  if (status) return status;
  let path = '(unresolved)';
  let missing = MARKERS.slice();
  try {
    path = require.resolve('gpu.js/src/backend/web-assembly/function-node.js');
    // the same module instance gpu.js's index uses (require caches by resolved path)
    const { WebAssemblyFunctionNode } = require(path);
    const proto = WebAssemblyFunctionNode?.prototype ?? {};
    missing = MARKERS.filter((m) => typeof proto[m] !== 'function');
    const { WebAssemblyKernel } = require(path.replace(/function-node\.js$/, 'kernel.js'));
    const kproto = WebAssemblyKernel?.prototype ?? {};
    missing.push(...THREAD_MARKERS.filter((m) => typeof kproto[m] !== 'function').map((m) => `WebAssemblyKernel.${m}`));
    if (typeof WebAssemblyKernel?.syncThreads !== 'object') missing.push('WebAssemblyKernel.syncThreads');
  } catch {
    // gpu.js not loadable at all: the backend reports that itself
  }
  status = { applied: missing.length === 0, missing, path, threads: !missing.some((m) => m.startsWith('WebAssemblyKernel')), wideReturns: !missing.includes('wideVecWidth') };
  return status;
}

/** Called once by the webasm backend: warns (once per process) if the patch is missing. */
export function checkGpujsPatch(): GpujsPatchStatus {
  const s = gpujsPatchStatus();
  if (!s.applied && !warned) {
    warned = true;
    console.warn(
      `tapegrad: gpu.js's WebAssembly code generator is not patched (${s.path} lacks ${s.missing.join(', ')}); ` +
      'kernels give the same results but run slower (integer-clean matmul/conv kernels ~3-4x, exp/SiLU several times' +
      `${s.wideReturns ? '' : ', convolutions a further ~1.3-2x: no wide register tiles'}` +
      `${s.threads ? '' : '; threads (TAPEGRAD_THREADS) unavailable'}). ` +
      'Run `npm run setup` (patch-package applies patches/gpu.js+2.24.1.patch).',
    );
  }
  return s;
}

// ------------------------------------------------------------------------------------------
// Threads (patch 5): large webasm kernels split over both cores, synchronously.
//
// Patch 5 gives gpu.js's WebAssemblyKernel a synchronous threaded path: one process-wide pool
// of worker_threads computes chunks of a kernel's cells in the module's shared memory while the
// calling thread computes its own and blocks on Atomics.wait, so an op still returns a
// Float32Array at once. Chunks are claimed dynamically (a busy neighbour core slows nothing
// down but the chunks it would have taken) and reproduce the single-thread scalar/SIMD split
// cell for cell, so results are bit-identical to one thread. A size signature goes threaded
// once its single-thread run is measured to take >= minMs.

export interface ThreadSettings {
  /** Threads per kernel run, the calling thread included; 1 = off. */
  threads: number;
  /** A kernel size signature runs threaded once its single-thread run took >= this (ms); 0 = always. */
  minMs: number;
  /** Longest wait for a worker's chunk before the op fails with an error (ms). */
  timeoutMs: number;
}

export interface ThreadStatus extends ThreadSettings {
  /** Whether patch 5 is in the gpu.js Node loaded and this runtime allows it (worker_threads, Atomics.wait). */
  available: boolean;
  /** Why not, when unavailable. */
  reason: string | null;
}

/**
 * Defaults. Threads are off: on the shared 2-core dev box, whose other core is always busy,
 * 2 threads measured no faster (bench/README.md "Threads"). minMs 5: there, waking the worker
 * costs small kernels a scheduler slice (a 1.5 ms matmul took 2-30 ms threaded).
 */
export const DEFAULT_THREADS = 1;
export const DEFAULT_THREAD_MIN_MS = 5;
export const DEFAULT_THREAD_TIMEOUT_MS = 30_000;

let threadWarned = false;
let envApplied = false;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function webAssemblyKernel(): any {
  try {
    return require('gpu.js').WebAssemblyKernel ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether a gpu.js WebAssemblyKernel class has patch 5 and this runtime supports it (tests pass
 * the pristine twin's class to check the unpatched answer).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function threadSupportOf(WK: any): { available: boolean; reason: string | null } {
  if (!WK) return { available: false, reason: 'gpu.js could not be loaded' };
  const proto = WK.prototype ?? {};
  const lacks = THREAD_MARKERS.filter((m) => typeof proto[m] !== 'function');
  if (typeof WK.syncThreads !== 'object' || WK.syncThreads === null) lacks.push('syncThreads');
  if (lacks.length > 0) {
    return { available: false, reason: `gpu.js lacks tapegrad patch 5 (WebAssemblyKernel.${lacks.join(', .')}); run \`npm run setup\`` };
  }
  if (!WK.isSyncThreadsSupported) {
    return { available: false, reason: 'this runtime has no worker_threads, SharedArrayBuffer or Atomics.wait on this thread' };
  }
  return { available: true, reason: null };
}

function threadAvailability(): { available: boolean; reason: string | null } {
  return threadSupportOf(webAssemblyKernel());
}

/** The thread settings in effect (threads is 1 whenever threads are unavailable). */
export function getThreads(): ThreadStatus {
  const { available, reason } = threadAvailability();
  const s = available ? webAssemblyKernel().syncThreads : null;
  return {
    available,
    reason,
    threads: s ? s.threads : 1,
    minMs: s ? s.minMs : DEFAULT_THREAD_MIN_MS,
    timeoutMs: s ? s.timeoutMs : DEFAULT_THREAD_TIMEOUT_MS,
  };
}

/**
 * Sets how many threads large webasm kernels use (process-wide; the calling thread counts, so
 * 2 means one worker). Takes effect at the next kernel call; the first call of each size
 * signature after threads are first turned on builds its module again (with shared memory;
 * later switches between 1 and N threads rebuild nothing). Where patch 5 or
 * the runtime support is missing, threads stay 1 with a warning (once per process): results
 * are the same either way. Returns the settings in effect.
 */
export function setThreads(threads: number | Partial<ThreadSettings>): ThreadStatus {
  const want: Partial<ThreadSettings> = typeof threads === 'number' ? { threads } : threads;
  const check = (name: string, v: number | undefined, min: number, int: boolean) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !(v >= min) || (int && !Number.isInteger(v)) || !Number.isFinite(v)) {
      throw new Error(`setThreads: ${name} must be ${int ? 'an integer' : 'a finite number'} >= ${min}, got ${String(v)}`);
    }
  };
  check('threads', want.threads, 1, true);
  check('minMs', want.minMs, 0, false);
  check('timeoutMs', want.timeoutMs, 1, false);
  const { available, reason } = threadAvailability();
  if (!available) {
    if ((want.threads ?? 1) > 1 && !threadWarned) {
      threadWarned = true;
      console.warn(`tapegrad: threads unavailable (${reason}); webasm kernels run on one thread (same results).`);
    }
    return getThreads();
  }
  const s = webAssemblyKernel().syncThreads;
  if (want.threads !== undefined) s.threads = want.threads;
  // once threads were asked for, modules are built for the threaded path (shared memory) even
  // while threads is 1, so switching threads off and on again never rebuilds a kernel
  if (s.threads > 1) s.sharedMemory = true;
  if (want.minMs !== undefined) s.minMs = want.minMs;
  if (want.timeoutMs !== undefined) s.timeoutMs = want.timeoutMs;
  return getThreads();
}

/** The thread settings the environment asks for (defaults where a variable is unset or empty). */
export function threadsFromEnv(env: NodeJS.ProcessEnv = process.env): ThreadSettings {
  const num = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new Error(`${name}: expected a number, got '${raw}'`);
    return v;
  };
  return {
    threads: num('TAPEGRAD_THREADS', DEFAULT_THREADS),
    minMs: num('TAPEGRAD_THREADS_MIN_MS', DEFAULT_THREAD_MIN_MS),
    timeoutMs: num('TAPEGRAD_THREADS_TIMEOUT_MS', DEFAULT_THREAD_TIMEOUT_MS),
  };
}

/**
 * Applies TAPEGRAD_THREADS (threads, e.g. 2), TAPEGRAD_THREADS_MIN_MS and
 * TAPEGRAD_THREADS_TIMEOUT_MS once per process, else the defaults. Called by the webasm backend.
 */
export function applyThreadEnv(env: NodeJS.ProcessEnv = process.env): ThreadStatus {
  if (envApplied) return getThreads();
  envApplied = true;
  return setThreads(threadsFromEnv(env));
}
