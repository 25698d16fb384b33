// The engine: which backends are started, which one is current (setBackend / useBackend /
// the TAPEGRAD_BACKEND variable), and the shared state every part of the package updates:
// live tensors, buffers and bytes, the tidy scopes and the primitive observers.

import type { Backend, BackendName } from './backend.ts';
import { createBackend, createBackendSync, type BackendOptions } from './backends/registry.ts';
import { opError } from './shape.ts';
import type { Tensor } from './tensor.ts';
import type { ExecutionTracer } from './trace.ts';

/** What the observation hook sees of one primitive call. */
export interface PrimitiveCall {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  attrs: Record<string, unknown>;
}
export type PrimitiveObserver = (call: PrimitiveCall) => void;

/** @internal The engine state shared by tensor.ts, scope.ts and dispatch.ts. */
export const state = {
  backends: new Map<BackendName, Backend>(),
  current: null as Backend | null,
  scopes: [] as Set<Tensor>[],
  observers: [] as PrimitiveObserver[],
  /** The execution tracer (trace.ts), null unless @tapegrad/compile is recording a step. */
  tracer: null as ExecutionTracer | null,
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
 * `allocations`: the storages the backends count as handed out and not freed (summed over the
 * started backends that count them: the gpu.js ones).
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

