// Copied unchanged from shared/anchors-perf/ (tfjs-backend-wasm threads under Node).
// Makes @tensorflow/tfjs-backend-wasm's threaded-SIMD build run under Node.
// tfjs 4.22 hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false when IS_NODE
// (tfjs issue #3830) and starts its pthread workers from a blob: URL, which
// Node's worker_threads refuses (ERR_WORKER_PATH). This shim:
//   1. writes the Emscripten pthread worker script to a temp file, with its
//      importScripts() pointed at wasm-out/tfjs-backend-wasm-threaded-simd.js
//      (the non-bundled glue, which defines a global factory);
//   2. makes URL.createObjectURL return that file's path for JS blobs;
//   3. forces the flag on;
//   4. doubles os.cpus().length: the C++ side caps the pool at
//      emscripten_num_logical_cores()/2 ("x86 has 2 threads per core"), and this
//      VM has 2 vCPUs with 1 thread per core, so without it the pool is 1 thread.
// Call enable(tf, nThreads) before tf.setBackend('wasm').
const fs = require('fs');
const os = require('os');
const path = require('path');

function enable(tf, nThreads) {
  const wasmPkg = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const glue = path.join(wasmPkg, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(path.join(wasmPkg, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'));
  // The template literal turned the source's "\\n" escapes into raw newlines
  // (the bundle undoes this the same way before making its blob).
  const src = wasmWorkerContents.replace(/\n/g, '\\n');
  // Both branches (string URL, or Blob that the worker turns into a blob: URL)
  // are pointed at the glue file on disk.
  const load = `importScripts(${JSON.stringify(glue)})`;
  const patched = src.replace('importScripts(e.data.urlOrBlob)', load)
                     .replace('importScripts(objectUrl)', load);
  if (patched.split(load).length !== 3) throw new Error('worker patch points not found');
  const workerFile = path.join(os.tmpdir(), `tfjs-wasm-pthread-worker-${process.pid}.js`);
  fs.writeFileSync(workerFile, patched);
  process.on('exit', () => { try { fs.unlinkSync(workerFile); } catch {} });
  const orig = URL.createObjectURL;
  URL.createObjectURL = (blob) =>
    (blob && /javascript/.test(blob.type)) ? workerFile : orig.call(URL, blob);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const realCpus = os.cpus;
  os.cpus = () => { const c = realCpus.call(os); return c.concat(c); };
  require('@tensorflow/tfjs-backend-wasm').setThreadsCount(nThreads);
}
module.exports = { enable };
