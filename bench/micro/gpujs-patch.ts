// Patched vs pristine gpu.js code generator (patches/gpu.js+2.24.1.patch), both loaded in this
// one process (see packages/tensor/test/gpujs-patch/twins.ts), interleaved reps, medians.
//
//   npx tsx bench/micro/gpujs-patch.ts [--reps=7] [--quick]
//   npx tsx bench/micro/gpujs-patch.ts --math-accuracy[=STRIDE]   # patch 4's exp/log/tanh over
//       every STRIDE-th f32 of their ranges (default 61) against Math.exp/log/tanh (float64)
//
// Kernels: integer-clean shapes the patch targets (matmul with 4-row Array(4) blocks, a 3x3
// conv with 4 output channels per thread, both with widths that are multiples of 4) and
// tapegrad's current matmul / conv2d sources (float-local indices: the patch should not
// change them much). Reports GFLOP/s of process CPU time and of wall time, and ratios
// patched / pristine; prints the machine load (other processes share the cores, so compare
// ratios, not absolute numbers). Writes bench/results/gpujs-patch-<stamp>.{json,md}.

import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTwins, ROOT } from '../../packages/tensor/test/gpujs-patch/twins.ts';
import * as K from '../../packages/tensor/src/backends/kernels.ts';

const argv = process.argv.slice(2);
const accArg = argv.find((a) => a.startsWith('--math-accuracy'));
if (accArg) {
  mathAccuracy(Number(accArg.split('=')[1] ?? 61));
  process.exit(0);
}
const quick = argv.includes('--quick');
const reps = Number(argv.find((a) => a.startsWith('--reps='))?.split('=')[1] ?? (quick ? 3 : 7));

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; out[i] = s / 4294967296 - 0.5; }
  return out;
}

interface Case {
  name: string;
  source: string;
  argumentTypes: string[];
  output: number[];
  args: unknown[];
  flops: number;
}

const cases: Case[] = [];
const mm = quick ? [128] : [256, 512];
for (const n of mm) {
  cases.push({
    name: `matmul ${n} 4-row blocks (integer-clean)`,
    source: `function (a, b, K, N) {
  let s0 = 0.0; let s1 = 0.0; let s2 = 0.0; let s3 = 0.0;
  for (let k = 0; k < K; k++) {
    const bv = b[k * N + this.thread.x];
    s0 += a[(this.thread.y * 4) * K + k] * bv;
    s1 += a[(this.thread.y * 4 + 1) * K + k] * bv;
    s2 += a[(this.thread.y * 4 + 2) * K + k] * bv;
    s3 += a[(this.thread.y * 4 + 3) * K + k] * bv;
  }
  return [s0, s1, s2, s3];
}`,
    argumentTypes: ['Array', 'Array', 'Integer', 'Integer'],
    output: [n, n / 4],
    args: [rand(n * n, 1), rand(n * n, 2), n, n],
    flops: 2 * n * n * n,
  });
  const spec = K.matmulKernel();
  cases.push({
    name: `matmul ${n} tapegrad kernel (current)`,
    source: spec.source, argumentTypes: spec.argumentTypes,
    output: [n, n, 1], args: [rand(n * n, 3), rand(n * n, 4), n, n, n * n, n * n], flops: 2 * n * n * n,
  });
}
for (const [HW, C] of (quick ? [[28, 8]] : [[28, 32], [14, 64]]) as [number, number][]) {
  const Hp = HW + 2;
  const Wp = HW + 2;
  cases.push({
    name: `conv3x3 ${HW}x${HW} C${C}->${C} 4 out-channels/thread (integer-clean)`,
    source: `function (x, w, Cin, Hp, Wp) {
  let s0 = 0.0; let s1 = 0.0; let s2 = 0.0; let s3 = 0.0;
  for (let c = 0; c < Cin; c++) {
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        const xv = x[(c * Hp + this.thread.y + ky) * Wp + this.thread.x + kx];
        s0 += xv * w[((this.thread.z * 4) * Cin + c) * 9 + ky * 3 + kx];
        s1 += xv * w[((this.thread.z * 4 + 1) * Cin + c) * 9 + ky * 3 + kx];
        s2 += xv * w[((this.thread.z * 4 + 2) * Cin + c) * 9 + ky * 3 + kx];
        s3 += xv * w[((this.thread.z * 4 + 3) * Cin + c) * 9 + ky * 3 + kx];
      }
    }
  }
  return [s0, s1, s2, s3];
}`,
    argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer'],
    output: [HW, HW, C / 4],
    args: [rand(C * Hp * Wp, 5), rand(C * C * 9, 6), C, Hp, Wp],
    flops: 2 * HW * HW * 9 * C * C,
  });
  const spec = K.conv2dKernel(3, 3);
  cases.push({
    name: `conv3x3 ${HW}x${HW} C${C}->${C} tapegrad kernel (current)`,
    source: spec.source, argumentTypes: spec.argumentTypes,
    output: [HW, HW, C], args: [rand(C * Hp * Wp, 7), rand(C * C * 9, 8), C, C, C, C, Hp, Wp, 1, 1, 1, 1],
    flops: 2 * HW * HW * 9 * C * C,
  });
}

// patch 4: Math.exp inside the module instead of one JS call per lane
for (const op of ['exp', 'silu', 'tanh'] as const) {
  const n = quick ? 1 << 16 : 1 << 20;
  const spec = K.unaryKernel(op);
  cases.push({
    name: `${op} ${n} elements (tapegrad unary kernel; in-module vs JS import)`,
    source: spec.source, argumentTypes: spec.argumentTypes, output: [n], args: [rand(n, 9).map((v) => v * 20)], flops: n,
  });
}

for (const fn of ['log', 'tanh'] as const) {
  const n = quick ? 1 << 12 : 1 << 16;
  cases.push({
    name: `32 ${fn}s per element, ${n} elements (${fn} in-module vs JS import; ns per output / 32 = per ${fn})`,
    source: `function (a) { const x = a[this.thread.x]; let s = 0.0; for (let i = 0; i < 32; i++) { s += Math.${fn}(x * (0.5 + i * 0.01)); } return s; }`,
    argumentTypes: ['Array'], output: [n], args: [rand(n, 11).map((v) => (fn === 'log' ? 10 * (v + 0.5) + 1e-3 : v * 8))], flops: n * 32,
  });
}
{
  // the cost of one exp, copies amortized: 32 exps per element on 64k elements
  const n = quick ? 1 << 12 : 1 << 16;
  cases.push({
    name: `32 exps per element, ${n} elements (exp in-module vs JS import; ns per output / 32 = per exp)`,
    source: 'function (a) { const x = a[this.thread.x]; let s = 0.0; for (let i = 0; i < 32; i++) { s += Math.exp(x * (0.5 + i * 0.01)); } return s; }',
    argumentTypes: ['Array'], output: [n], args: [rand(n, 10).map((v) => v * 40)], flops: n * 32,
  });
}

const twins = loadTwins();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function make(lib: any, c: Case) {
  const gpu = new lib.GPU({ mode: 'webasm' });
  const k = gpu.createKernel(new Function(`return ${c.source}`)(), {
    output: c.output, argumentTypes: c.argumentTypes, loopMaxIterations: 1 << 24, precision: 'single',
    dynamicOutput: true, dynamicArguments: true,
  });
  return k;
}
const flat = (r: unknown): Float32Array => (r instanceof Float32Array ? r : Float32Array.from((r as unknown[]).flatMap((v) => Array.from(flat(v)))));

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const load0 = loadavg();
const rows: Record<string, unknown>[] = [];
for (const c of cases) {
  const kp = make(twins.pristine, c);
  const kq = make(twins.patched, c);
  const outP = flat(kp(...c.args));
  const outQ = flat(kq(...c.args));
  const identical = outP.length === outQ.length && new Uint32Array(outP.buffer).every((v, i) => v === new Uint32Array(outQ.buffer)[i]);
  // warm-up: V8 runs a new wasm module in its baseline tier (Liftoff) until it is hot, then
  // swaps in the optimized (TurboFan) code; time only the optimized code (>= 400 ms each)
  for (const k of [kp, kq]) { const w0 = performance.now(); let i = 0; while (i < 5 || performance.now() - w0 < 400) { k(...c.args); i++; } }
  // calls per rep: about 100 ms of work on the slower variant
  const t0 = performance.now(); kp(...c.args); const one = performance.now() - t0;
  const calls = Math.max(1, Math.round(100 / Math.max(one, 0.01)));
  const time = (k: (...a: unknown[]) => unknown) => {
    const u0 = process.cpuUsage(); const w0 = performance.now();
    for (let i = 0; i < calls; i++) k(...c.args);
    const w = (performance.now() - w0) / 1000; const u = process.cpuUsage(u0);
    return { wall: w / calls, cpu: (u.user + u.system) / 1e6 / calls };
  };
  const p: { wall: number; cpu: number }[] = [];
  const q: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < reps; r++) {
    if (r % 2 === 0) { p.push(time(kp)); q.push(time(kq)); } else { q.push(time(kq)); p.push(time(kp)); }
  }
  const g = (xs: { wall: number; cpu: number }[], key: 'wall' | 'cpu') => c.flops / median(xs.map((x) => x[key])) / 1e9;
  const nsPerElement = (xs: { wall: number; cpu: number }[]) => median(xs.map((x) => x.cpu)) / c.output.reduce((a, b) => a * b, 1) * 1e9;
  const row = {
    case: c.name, identical, calls,
    pristineNsPerOutputCpu: nsPerElement(p), patchedNsPerOutputCpu: nsPerElement(q),
    pristineGflopsCpu: g(p, 'cpu'), patchedGflopsCpu: g(q, 'cpu'),
    pristineGflopsWall: g(p, 'wall'), patchedGflopsWall: g(q, 'wall'),
    ratioCpu: g(q, 'cpu') / g(p, 'cpu'), ratioWall: g(q, 'wall') / g(p, 'wall'),
  };
  rows.push(row);
  if (c.name.includes('elements')) console.log(`${c.name}: pristine ${row.pristineNsPerOutputCpu.toFixed(2)} / patched ${row.patchedNsPerOutputCpu.toFixed(2)} ns per element (cpu time), speed-up ${row.ratioCpu.toFixed(2)}`);
  else console.log(`${c.name}: pristine ${row.pristineGflopsCpu.toFixed(2)} / patched ${row.patchedGflopsCpu.toFixed(2)} GFLOP/s (cpu time), ratio ${row.ratioCpu.toFixed(2)} (wall ${row.ratioWall.toFixed(2)}), bit-identical ${identical}`);
  kp.destroy?.(); kq.destroy?.();
}
const load1 = loadavg();
const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', 'T') + 'Z';
const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, reps, quick, loadavgBefore: load0, loadavgAfter: load1 };
const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const base = join(dir, `gpujs-patch${quick ? '-quick' : ''}-${stamp}`);
writeFileSync(`${base}.json`, JSON.stringify({ meta, rows }, null, 2) + '\n');
const md = [
  `# gpu.js code-generator patch: patched / pristine (${meta.date})`,
  '',
  `Node ${meta.node}, ${meta.cpus} x ${meta.cpuModel}; load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}; ${reps} interleaved reps, medians. GFLOP/s of process CPU time (absolute numbers depend on the load; compare the ratios).`,
  '',
  '| kernel | pristine GFLOP/s | patched GFLOP/s | pristine ns/output | patched ns/output | ratio (cpu time) | ratio (wall) | bit-identical |',
  '|---|---|---|---|---|---|---|---|',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ...rows.map((r: any) => `| ${r.case} | ${r.case.includes('elements') ? '-' : r.pristineGflopsCpu.toFixed(2)} | ${r.case.includes('elements') ? '-' : r.patchedGflopsCpu.toFixed(2)} | ${r.pristineNsPerOutputCpu.toFixed(2)} | ${r.patchedNsPerOutputCpu.toFixed(2)} | ${r.ratioCpu.toFixed(2)} | ${r.ratioWall.toFixed(2)} | ${r.identical ? 'yes' : (r.case.includes('elements') ? 'no (patch 4 changes exp; see accuracy)' : '**NO**')} |`),
  '',
  'Reproduce: `npx tsx bench/micro/gpujs-patch.ts` (add `--quick` for a smoke run).',
  '',
].join('\n');
writeFileSync(`${base}.md`, md);
if (!quick) { copyFileSync(`${base}.json`, join(dir, 'gpujs-patch-latest.json')); copyFileSync(`${base}.md`, join(dir, 'gpujs-patch-latest.md')); }
console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}; wrote ${base}.{json,md}`);

/** Patch 4's in-module exp/log/tanh against Math.* (float64) on every STRIDE-th f32 of a range. */
function mathAccuracy(stride: number): void {
  const twins = loadTwins();
  const lib = twins.patched;
  const n = 1 << 22;
  const gpu = new lib.GPU({ mode: 'webasm' });
  const bits = new Uint32Array(n);
  const xs = new Float32Array(bits.buffer);
  const f = new Float32Array(1);
  const fi = new Int32Array(f.buffer);
  const toBits = (v: number) => { f[0] = v; return fi[0] >>> 0; };
  const ulpOf = (v: number) => { // f32 ulp at |v| (subnormal spacing below 2^-126)
    const a = Math.abs(v);
    if (a < 2 ** -126) return 2 ** -149;
    return 2 ** (Math.floor(Math.log2(a)) - 23);
  };
  const plans: { fn: 'exp' | 'log' | 'tanh'; label: string; ranges: [number, number][]; special: number[] }[] = [
    { fn: 'exp', label: '[-104, 89]', ranges: [[0, toBits(89)], [0x80000000, toBits(-104)]],
      special: [0, -0, 1e-45, -1e-45, 88.72283935546875, 88.72284698486328, -103.97208404541016, -103.97209167480469, 1e30, -1e30, Infinity, -Infinity, NaN] },
    { fn: 'log', label: 'all positive finite f32 (subnormals included)', ranges: [[1, 0x7f7fffff]],
      special: [0, -0, 1e-45, 1, 0.9999999403953552, 1.0000001192092896, 3.4028234663852886e38, -1, -1e-45, Infinity, -Infinity, NaN] },
    { fn: 'tanh', label: '[-10, 10]', ranges: [[0, toBits(10)], [0x80000000, toBits(-10)]],
      special: [0, -0, 1e-45, -1e-45, 2.44140625e-4, -2.44140625e-4, 0.5, 9.01, 10, 20, -20, Infinity, -Infinity, NaN] },
  ];
  const md = [`# gpu.js patch 4: in-module exp / log / tanh, accuracy (${new Date().toISOString()})`, ''];
  for (const plan of plans) {
    const k = gpu.createKernel(new Function(`return function (a) { return Math.${plan.fn}(a[this.thread.x]); }`)(), { output: [n], precision: 'single' });
    let count = 0; let maxErr = 0; let maxErrX = 0; let sumErr = 0; let notFround = 0; let maxErrFround = 0;
    const t0 = performance.now();
    for (const [lo, hi] of plan.ranges) {
      for (let start = lo; start <= hi; start += n * stride) {
        let m = 0;
        for (let b = start; m < n && b <= hi; b += stride) bits[m++] = b;
        for (let i = m; i < n; i++) bits[i] = bits[0];
        const out = k(xs) as Float32Array;
        for (let i = 0; i < m; i++) {
          const x = xs[i];
          const exact = Math[plan.fn](x);
          const got = out[i];
          let err: number;
          if (Math.abs(exact) > 3.4028234663852886e38) err = Math.abs(got) === Infinity && Math.sign(got) === Math.sign(exact) ? 0 : Infinity;
          else err = Math.abs(got - exact) / ulpOf(exact);
          if (err > maxErr) { maxErr = err; maxErrX = x; }
          sumErr += err;
          if (got !== Math.fround(exact)) { notFround++; maxErrFround = Math.max(maxErrFround, err); }
          count++;
        }
      }
    }
    const secs = (performance.now() - t0) / 1000;
    const line = `**${plan.fn}** over ${count} f32 inputs, every ${stride === 1 ? 'f32' : stride + 'th bit pattern'} in ${plan.label}: max error ${maxErr.toFixed(4)} f32 ulp of the float64 Math.${plan.fn} (at x = ${maxErrX}), mean ${(sumErr / count).toExponential(3)} ulp; ${notFround} results differ from Math.fround(Math.${plan.fn}(x)) (the JS-import path)${notFround ? `, each within ${maxErrFround.toFixed(4)} ulp` : ''}. ${secs.toFixed(0)} s.`;
    console.log(line);
    const ks = gpu.createKernel(new Function(`return function (a) { return Math.${plan.fn}(a[this.thread.x]); }`)(), { output: [plan.special.length], precision: 'single' });
    const sx = new Float32Array(plan.special);
    const so = ks(sx) as Float32Array;
    md.push(line, '', `| x | in-module ${plan.fn} | fround(Math.${plan.fn}(x)) | equal |`, '|---|---|---|---|',
      ...Array.from(sx).map((x, i) => {
        const ref = Math.fround(Math[plan.fn](x));
        const eq = Object.is(so[i], ref) || (Number.isNaN(so[i]) && Number.isNaN(ref));
        const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
        return `| ${show(x)} | ${show(so[i])} | ${show(ref)} | ${eq ? 'yes' : '**no**'} |`;
      }), '');
    k.destroy?.(); ks.destroy?.();
  }
  md.push(`Reproduce: \`npx tsx bench/micro/gpujs-patch.ts --math-accuracy=${stride}\``, '');
  writeFileSync(join(ROOT, 'bench', 'results', `gpujs-patch-math-accuracy-stride${stride}.md`), md.join('\n'));
}
