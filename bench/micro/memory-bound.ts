// Memory-bound ops on webasm at UNet sizes (issue 11 §2): the flat kernels (one output per
// thread, indices decomposed with float `%` and `/`) vs the thread-id kernels (kernels.ts,
// "memory-bound kernels": i32 indices built from this.thread.x/y/z, contiguous reads as one
// v128.load, per-channel operands lane-uniform, reductions over the last axis read row-wise).
// One process, one webasm backend whose `tidKernels` switch is flipped between the two
// contenders, interleaved reps after warm-up, medians of process CPU time per call ('op ms')
// and of process CPU time inside the wasm kernels ('kernel ms': without gpu.js's per-call copies).
// Run: npx tsx bench/micro/memory-bound.ts [--reps=9] [--batch=64] [--quick]
// Writes bench/results/memory-bound-<UTC>.{json,md} (not with --quick).
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '../../packages/tensor/src/index.ts';
import * as nn from '../../packages/nn/src/index.ts';
import { vjp } from '../../packages/autograd/src/index.ts';
import type { GpuJsBackend } from '../../packages/tensor/src/backends/gpujs.ts';
import { createRequire } from 'node:module';

// Time inside the wasm modules: every webasm kernel run goes through dispatchSpans (the same
// module instance gpu.js uses), so wrapping it separates the kernels from gpu.js's per-call
// copies (arguments into the module's memory, the result out into a fresh array) and JS.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { WebAssemblyKernel } = createRequire(import.meta.url)('gpu.js/src/backend/web-assembly/kernel.js') as any;
const dispatch = WebAssemblyKernel.dispatchSpans;
let inWasm = 0;
WebAssemblyKernel.dispatchSpans = (...a: unknown[]) => {
  const t0 = process.cpuUsage();
  try {
    return dispatch(...a);
  } finally {
    const d = process.cpuUsage(t0);
    inWasm += (d.user + d.system) / 1000;
  }
};

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const quick = process.argv.includes('--quick');
const reps = arg('reps', quick ? 3 : 9);
const N = arg('batch', quick ? 8 : 64);
await T.setBackend('webasm');
const be = T.findBackend('webasm') as unknown as GpuJsBackend;
const keys = T.splitKey(T.randomKey(7), 16);
let ki = 0;
const rn = (shape: number[]) => T.randomNormal(keys[ki++ % keys.length], shape);
type Case = { name: string; run: () => T.Tensor | T.Tensor[] };
const cases: Case[] = [];
const x28 = rn([N, 32, 28, 28]);
const y28 = rn([N, 32, 28, 28]);
const c32 = rn([1, 32, 1, 1]);
const nc32 = rn([N, 32, 1, 1]);
const x14 = rn([N, 64, 14, 14]);
const x7 = rn([N, 64, 7, 7]);
const nc64 = rn([N, 64, 1, 1]);
const att = rn([N, 49, 49]);
cases.push({ name: `add [${N},32,28,28] + [1,32,1,1]`, run: () => T.add(x28, c32) });
cases.push({ name: `mul [${N},32,28,28] * [${N},32,1,1]`, run: () => T.mul(x28, nc32) });
cases.push({ name: `add [${N},64,7,7] + [${N},64,1,1]`, run: () => T.add(x7, nc64) });
cases.push({ name: `mul [${N},32,28,28] same shape`, run: () => T.mul(x28, y28) });
cases.push({ name: `silu [${N},32,28,28]`, run: () => T.silu(x28) });
cases.push({ name: `sum [${N},32,28,28] axes [0,2,3] (bias grad)`, run: () => T.sum(x28, [0, 2, 3]) });
cases.push({ name: `softmax [${N},49,49] last axis`, run: () => T.softmax(att, -1) });
cases.push({ name: `sum [${N},32,14,2,14,2] axes [3,5] (nearest-upsample gradient)`, run: () => T.sum(T.reshape(x28, [N, 32, 14, 2, 14, 2]), [3, 5]) });
cases.push({ name: `concat [${N},64,14,14] x2 axis 1`, run: () => T.concat([x14, x14], 1) });
cases.push({ name: `transpose [${N},32,28,28] -> NHWC`, run: () => T.transpose(x28, [0, 2, 3, 1]) });
for (const [x, C] of [[x28, 32], [x14, 64]] as const) {
  const p = nn.groupNorm.init(T.randomKey(1), { groups: 8, channels: C });
  const tag = `[${x.shape.join(',')}]`;
  cases.push({ name: `groupNorm(8) fwd ${tag}`, run: () => nn.groupNorm.apply(p, x, { groups: 8 }) });
  cases.push({
    name: `groupNorm(8) fwd+bwd ${tag}`,
    run: () => {
      const [y, back] = vjp((xx: T.Tensor) => nn.groupNorm.apply(p, xx, { groups: 8 }), x);
      const g = back(y);
      back.dispose();
      return [y as T.Tensor, ...(g as T.Tensor[])];
    },
  });
}
const contenders: [string, boolean][] = [['flat', false], ['tid', true]];
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const once = (c: Case, on: boolean): [number, number, ArrayLike<number>] => {
  be.tidKernels = on;
  inWasm = 0;
  const t0 = process.cpuUsage();
  const r = c.run();
  const d = process.cpuUsage(t0);
  const k = inWasm;
  const first = Array.isArray(r) ? r[0] : r;
  const v = first.dataSync();
  T.dispose(r);
  return [(d.user + d.system) / 1000, k, v];
};
const rows: Record<string, unknown>[] = [];
const load0 = loadavg();
for (const c of cases) {
  const t: Record<string, number[]> = { flat: [], tid: [] };
  const kt: Record<string, number[]> = { flat: [], tid: [] };
  const [, , v0] = once(c, false);
  const [, , v1] = once(c, true);
  let err = 0;
  let mx = 0;
  for (let i = 0; i < v0.length; i++) { err = Math.max(err, Math.abs(v0[i] - v1[i])); mx = Math.max(mx, Math.abs(v0[i])); }
  if (!(err <= 1e-4 * Math.max(1, mx))) throw new Error(`${c.name}: flat and tid kernels differ (max abs ${err})`);
  for (let w = 0; w < 2; w++) for (const [, on] of contenders) once(c, on);
  for (let r = 0; r < reps; r++) {
    for (const [k, on] of contenders) {
      const [ms, kms] = once(c, on);
      t[k].push(ms);
      kt[k].push(kms);
    }
  }
  const row = {
    case: c.name,
    'flat op ms': +med(t.flat).toFixed(2),
    'tid op ms': +med(t.tid).toFixed(2),
    'op flat / tid': +(med(t.flat) / med(t.tid)).toFixed(2),
    'flat kernel ms': +med(kt.flat).toFixed(2),
    'tid kernel ms': +med(kt.tid).toFixed(2),
    'kernel flat / tid': +(med(kt.flat) / med(kt.tid)).toFixed(2),
    'max abs diff': +err.toExponential(1),
    load1: +loadavg()[0].toFixed(2),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
be.tidKernels = true;
const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const cols = Object.keys(rows[0]);
const md = [
  `# memory-bound webasm kernels: flat vs thread-id, ${new Date().toISOString()}`,
  '',
  `batch ${N}, ${reps} interleaved reps after 2 warm-ups, 'op ms': median process CPU time per call (includes gpu.js's copy of every argument into the module's memory and of the result out into a fresh array); 'kernel ms': median process CPU time inside the wasm kernels only; 'flat / tid' > 1 means the thread-id kernels are faster. loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared).`,
  '',
  `| ${cols.join(' | ')} |`,
  `|${cols.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`),
  '',
  'Command: `npx tsx bench/micro/memory-bound.ts ' + process.argv.slice(2).join(' ') + '`',
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/memory-bound-${stamp}.json`, JSON.stringify({ batch: N, reps, load0, load1, rows }, null, 1));
  writeFileSync(`bench/results/memory-bound-${stamp}.md`, md);
}
console.log(md);
T.dispose([x28, y28, c32, nc32, x14, x7, nc64, att]);
