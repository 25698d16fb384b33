// Startup check for tapegrad's patch of gpu.js 2.24.1's WebAssembly code generator
// (patches/gpu.js+2.24.1.patch, applied by `npm run setup`): i32 loop counters, contiguous
// lane reads as one v128.load, thread ids in locals. The patch changes speed only; the
// unpatched generator computes the same bits, so a missing patch is a warning (once per
// process), never an error.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface GpujsPatchStatus {
  applied: boolean;
  /** The patch's entry points missing from the gpu.js that Node loaded. */
  missing: string[];
  /** Where that gpu.js was loaded from. */
  path: string;
}

const MARKERS = ['isIntCounter', 'collectIntCounters', 'vContiguousRead', 'emitInlineMathF32x4', 'cacheScalarArguments', 'collectIntLocals'];

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
  } catch {
    // gpu.js not loadable at all: the backend reports that itself
  }
  status = { applied: missing.length === 0, missing, path };
  return status;
}

/** Called once by the webasm backend: warns (once per process) if the patch is missing. */
export function checkGpujsPatch(): GpujsPatchStatus {
  const s = gpujsPatchStatus();
  if (!s.applied && !warned) {
    warned = true;
    console.warn(
      `tapegrad: gpu.js's WebAssembly code generator is not patched (${s.path} lacks ${s.missing.join(', ')}); ` +
      'kernels give the same results but run slower (integer-clean matmul/conv kernels ~3-4x, exp/SiLU several times). ' +
      'Run `npm run setup` (patch-package applies patches/gpu.js+2.24.1.patch).',
    );
  }
  return s;
}
