// Backend construction. webasm, cpu and reference start synchronously; webgpu needs an
// adapter first (async), so it is only reachable through setBackend / ready.

import type { Backend, BackendName } from '../backend.ts';
import { opError } from '../shape.ts';
import { GpuJsBackend, initWebGPU } from './gpujs.ts';
import { ReferenceBackend } from './reference.ts';

export interface BackendOptions {
  /** webgpu only: refuse software adapters (lavapipe); used by 'auto'. */
  requireHardware?: boolean;
}

export function createBackendSync(name: BackendName, op: string): Backend {
  switch (name) {
    case 'webasm':
    case 'cpu':
      return new GpuJsBackend(name);
    case 'reference':
      return new ReferenceBackend();
    case 'webgpu':
      throw opError(op, "backend 'webgpu' needs asynchronous start-up; expected `await setBackend('webgpu')` (or `await ready()`) before the first op");
  }
}

export async function createBackend(name: BackendName, options: BackendOptions = {}): Promise<Backend> {
  if (name !== 'webgpu') return createBackendSync(name, 'setBackend');
  const info = await initWebGPU(options.requireHardware ?? false);
  return new GpuJsBackend('webgpu', info.description);
}
