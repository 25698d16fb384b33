// Op-level benchmark: tapegrad's gpu.js backends (webasm, webgpu, cpu) against a plain-JS
// loop and TensorFlow.js (tfjs-backend-cpu, tfjs-backend-wasm/XNNPACK), all in one process.
//
//   npx tsx bench/ops.ts [--quick] [--backends=webasm,webgpu,cpu,js,tfjs-cpu,tfjs-wasm] [--reps=N]
//
// Method (after shared/anchors-perf): per case, every backend is first checked against the
// plain-JS result (a wrong backend is reported, not timed), warmed up, then timed with
// INTERLEAVED reps (rep r of every backend before rep r+1 of any) and summarised by the
// median. Each timed unit ends with `await result.data()`, so webgpu times include GPU
// completion and read-back of the result. The load other processes put on the machine
// during the timed region is recorded ("other cores", from /proc/stat). See bench/README.md.

import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import * as T from '../packages/tensor/src/index.ts';
import * as nn from '../packages/nn/src/index.ts';

// ------------------------------------------------------------------------------ options

type Name = 'webasm' | 'webgpu' | 'cpu' | 'js' | 'tfjs-cpu' | 'tfjs-wasm';
const ALL: Name[] = ['webasm', 'webgpu', 'cpu', 'js', 'tfjs-cpu', 'tfjs-wasm'];
const TAPE = new Set<Name>(['webasm', 'webgpu', 'cpu']);

const argv = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = a.match(/^--([^=]+)(?:=(.*))?$/);
    if (!m) throw new Error(`unknown argument ${a}; expected --quick, --backends=a,b or --reps=N, --ops=conv3x3,groupnorm,silu`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const QUICK = argv.quick === 'true';
const BACKENDS = (argv.backends ? argv.backends.split(',') : ALL) as Name[];
for (const b of BACKENDS) if (!ALL.includes(b)) throw new Error(`unknown backend ${b}; expected one of ${ALL.join(',')}`);
const REPS = Number(argv.reps ?? (QUICK ? 3 : 5));
const CASES = (argv.ops ? argv.ops.split(',') : null) as Op[] | null; // e.g. --ops=conv3x3,groupnorm,silu
const WARMUP = 1; // timed-unit runs after the first (compiling, checked) call
// skip a backend whose estimated time per rep (from the previous size) exceeds this
const maxRepS = (b: Name) => (b === 'cpu' || b === 'js' ? 20 : 60);
const MIN_CASE_MS = 1000; // fast backends get more reps: at least ~1 s of timed work
const ADD_BATCH_MS = 100; // dispatch-overhead batches last about this long

const SIZES = QUICK ? [128, 256] : [256, 512, 1024];
const CONV = QUICK ? [{ N: 4, C: 32 }, { N: 4, C: 64 }] : [{ N: 64, C: 32 }, { N: 64, C: 64 }];
const ADD = [1 << 10, 1 << 16, 1 << 20];

// ------------------------------------------------------------------------------ helpers

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d = 3) => Number(x.toPrecision(d + 1));

/** Cores' worth of CPU used by this process and by every other process over an interval. */
const HZ = (() => {
  try {
    return Number(execSync('getconf CLK_TCK').toString()) || 100;
  } catch {
    return 100;
  }
})();
function sysBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3] - (f[4] || 0); // minus idle and iowait
}
function selfBusy(): number {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime of all our threads (lavapipe's too)
}
function loadProbe() {
  const t = performance.now(), sys = sysBusy(), self = selfBusy();
  return () => {
    const wall = (performance.now() - t) / 1000;
    const dSelf = selfBusy() - self, dSys = sysBusy() - sys;
    const cores = (j: number) => Number(Math.max(0, j / HZ / wall).toFixed(2));
    return { wall_s: round(wall), self_cores: cores(dSelf), other_cores: cores(dSys - dSelf) };
  };
}

/** Deterministic inputs in [-0.5, 0.5). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  return out;
}

const NCHWtoNHWC = (x: Float32Array, [N, C, H, W]: number[]) => {
  const y = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) y[(n * H * W + p) * C + c] = x[(n * C + c) * H * W + p];
  return y;
};
const NHWCtoNCHW = (y: Float32Array, [N, C, H, W]: number[]) => {
  const x = new Float32Array(y.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) x[(n * C + c) * H * W + p] = y[(n * H * W + p) * C + c];
  return x;
};
/** OIHW -> HWIO (tfjs filter layout). */
const OIHWtoHWIO = (w: Float32Array, [O, I, KH, KW]: number[]) => {
  const y = new Float32Array(w.length);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let k = 0; k < KH * KW; k++) y[(k * I + i) * O + o] = w[(o * I + i) * KH * KW + k];
  return y;
};

// ------------------------------------------------------------------------------ plain-JS ops

function matmulJS(A: Float32Array, B: Float32Array, n: number): Float32Array {
  const C = new Float32Array(n * n); // i-k-j order: the inner loop streams rows of B and C
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const a = A[ci + k], bk = k * n;
      for (let j = 0; j < n; j++) C[ci + j] += a * B[bk + j];
    }
  }
  return C;
}

/** 3x3 conv, pad 1, stride 1, NCHW / OIHW: pad once, then branch-free row loops. */
function conv3x3JS(x: Float32Array, w: Float32Array, N: number, C: number, O: number, H: number, W: number): Float32Array {
  const Hp = H + 2, Wp = W + 2;
  const xp = new Float32Array(N * C * Hp * Wp);
  for (let p = 0; p < N * C; p++) for (let y = 0; y < H; y++) xp.set(x.subarray((p * H + y) * W, (p * H + y + 1) * W), (p * Hp + y + 1) * Wp + 1);
  const out = new Float32Array(N * O * H * W);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const ob = (n * O + o) * H * W;
      for (let c = 0; c < C; c++) {
        const xb = (n * C + c) * Hp * Wp;
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) {
            const wv = w[((o * C + c) * 3 + ky) * 3 + kx];
            for (let y = 0; y < H; y++) {
              const orow = ob + y * W, irow = xb + (y + ky) * Wp + kx;
              for (let j = 0; j < W; j++) out[orow + j] += wv * xp[irow + j];
            }
          }
        }
      }
    }
  }
  return out;
}

function addJS(a: Float32Array, b: Float32Array): Float32Array {
  const c = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) c[i] = a[i] + b[i];
  return c;
}

// ------------------------------------------------------------------------------ cases

type Op = 'matmul' | 'conv2d' | 'add' | 'conv3x3' | 'groupnorm' | 'silu';
const OPS: Op[] = ['matmul', 'conv2d', 'add', 'conv3x3', 'groupnorm', 'silu'];
/** ops with a plain-JS contender (the others check against tapegrad's float64 reference backend) */
const JS_OPS = new Set<Op>(['matmul', 'conv2d', 'add']);
interface Case {
  op: Op;
  label: string;
  params: Record<string, number>;
  flop?: number; // for GFLOP/s
  inputs: { data: Float32Array; shape: number[] }[]; // canonical layout (NCHW / OIHW)
}

/** What a backend needs to run a case: `call` is one op call, the rest is outside timing. */
interface Prepared {
  enter(): Promise<void>; // make the backend current (tfjs)
  call(): unknown;
  read(r: unknown): Promise<Float32Array>; // awaits completion (+ read-back) of r
  drop(r: unknown): void;
  toCanonical(v: Float32Array): Float32Array; // result layout -> NCHW (tfjs conv)
  dispose(): void;
}

async function prepare(b: Name, c: Case): Promise<Prepared> {
  const nop = () => {};
  const id = (v: Float32Array) => v;
  if (b === 'js') {
    const [a, w] = c.inputs.map((i) => i.data);
    const p = c.params;
    const call =
      c.op === 'matmul' ? () => matmulJS(a, w, p.n) : c.op === 'conv2d' ? () => conv3x3JS(a, w, p.N, p.C, p.C, p.H, p.W) : () => addJS(a, w);
    return { enter: async () => {}, call, read: async (r) => r as Float32Array, drop: nop, toCanonical: id, dispose: nop };
  }
  if (TAPE.has(b)) {
    const name = b as T.BackendName;
    const [x, y] = c.inputs.map((i) => T.useBackend(name, () => T.tensor(i.data, i.shape)));
    const call =
      c.op === 'matmul' ? () => T.matmul(x, y) : c.op === 'conv2d' ? () => T.conv2d(x, y, { padding: 1 }) : c.op === 'add' ? () => T.add(x, y) : unetOp(c, x, y);
    return {
      enter: async () => {},
      call,
      read: async (r) => (await (r as T.Tensor).data()) as Float32Array,
      drop: (r) => (r as T.Tensor).dispose(),
      toCanonical: id,
      dispose: () => T.dispose([x, y]),
    };
  }
  // tfjs: conv inputs converted to NHWC / HWIO once, here, outside the timing
  const tfName = b === 'tfjs-cpu' ? 'cpu' : 'wasm';
  const enter = async () => {
    if (tf.getBackend() !== tfName) await tf.setBackend(tfName);
  };
  await enter();
  const [xi, wi] = c.inputs;
  let call: () => tf.Tensor;
  let toCanonical = id;
  let held: tf.Tensor[];
  if (!JS_OPS.has(c.op)) {
    const u = tfjsUnetOp(c);
    held = u.held;
    call = u.call;
    toCanonical = u.toCanonical;
  } else if (c.op === 'conv2d') {
    const { N, C, H, W } = c.params;
    const x = tf.tensor4d(NCHWtoNHWC(xi.data, xi.shape), [N, H, W, C]);
    const w = tf.tensor4d(OIHWtoHWIO(wi.data, wi.shape), [3, 3, C, C]);
    held = [x, w];
    call = () => tf.conv2d(x, w, 1, 'same');
    toCanonical = (v) => NHWCtoNCHW(v, [N, C, H, W]);
  } else {
    const [x, y] = [xi, wi].map((i) => tf.tensor(i.data, i.shape));
    held = [x, y];
    call = c.op === 'matmul' ? () => tf.matMul(x, y) : () => tf.add(x, y);
  }
  return {
    enter,
    call,
    read: async (r) => (await (r as tf.Tensor).data()) as Float32Array,
    drop: (r) => (r as tf.Tensor).dispose(),
    toCanonical,
    dispose: () => tf.dispose(held),
  };
}

// ------------------------------------------------------------------------------ UNet-size ops
// conv3x3: kind 0 = forward conv2d(x, w), 1 = input gradient (convTranspose2d(dy, w)), 2 = weight
// gradient (conv2dFilterGrad(x, dy)); pad 1, stride s. params {N, C, O, H, s, kind}.
// groupnorm: 8 groups, no affine, over x [N, C, H, H]. silu: x * sigmoid(x).

/** Input shapes of a UNet-size case (canonical NCHW / OIHW). */
function unetShapes(op: Op, p: Record<string, number>): number[][] {
  if (op === 'conv3x3') {
    const Ho = Math.floor((p.H - 1) / p.s) + 1;
    const x = [p.N, p.C, p.H, p.H], w = [p.O, p.C, 3, 3], dy = [p.N, p.O, Ho, Ho];
    return p.kind === 0 ? [x, w] : p.kind === 1 ? [dy, w] : [x, dy];
  }
  return [[p.N, p.C, p.H, p.H]];
}

function unetOp(c: Case, x: T.Tensor, y: T.Tensor): () => T.Tensor {
  const p = c.params;
  if (c.op === 'conv3x3') {
    const opts = { stride: p.s, padding: 1 };
    if (p.kind === 0) return () => T.conv2d(x, y, opts);
    if (p.kind === 1) return () => T.convTranspose2d(x, y, { ...opts, outputPadding: (p.H + 2 - 3) % p.s });
    return () => T.conv2dFilterGrad(x, y, [p.O, p.C, 3, 3], opts);
  }
  if (c.op === 'groupnorm') return () => nn.groupNorm.apply({}, x, { groups: 8 });
  return () => T.silu(x);
}

/** The same ops in tfjs, NHWC / HWIO, written as a user would (conv gradients through tf.conv2d: tfjs-wasm has no Conv2DBackpropFilter). */
function tfjsUnetOp(c: Case): { held: tf.Tensor[]; call: () => tf.Tensor; toCanonical: (v: Float32Array) => Float32Array } {
  const p = c.params;
  const shapes = unetShapes(c.op, p);
  const nhwc = (i: number) => tf.tensor4d(NCHWtoNHWC(c.inputs[i].data, shapes[i]), [shapes[i][0], shapes[i][2], shapes[i][3], shapes[i][1]]);
  if (c.op === 'conv3x3') {
    const { N, C, O, H, s } = p;
    const Ho = Math.floor((H - 1) / s) + 1;
    const pad1: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];
    if (p.kind === 0) {
      const x = nhwc(0), w = tf.tensor4d(OIHWtoHWIO(c.inputs[1].data, shapes[1]), [3, 3, C, O]);
      return { held: [x, w], call: () => tf.conv2d(x, w, s, pad1), toCanonical: (v) => NHWCtoNCHW(v, [N, O, Ho, Ho]) };
    }
    if (p.kind === 1) {
      const dy = nhwc(0), w = tf.tensor4d(OIHWtoHWIO(c.inputs[1].data, shapes[1]), [3, 3, C, O]);
      const L = (Ho - 1) * s + 1;
      const call = () => tf.tidy(() => {
        let z: tf.Tensor4D = dy;
        if (s > 1) z = <tf.Tensor4D>tf.slice(tf.reshape(tf.pad(tf.reshape(dy, [N, Ho, 1, Ho, 1, O]), [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]), [N, Ho * s, Ho * s, O]), [0, 0, 0, 0], [N, L, L, O]);
        const zp = tf.pad(z, [[0, 0], [1, H + 1 - L], [1, H + 1 - L], [0, 0]]);
        return tf.conv2d(zp, tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]), 1, 'valid');
      });
      return { held: [dy, w], call, toCanonical: (v) => NHWCtoNCHW(v, [N, C, H, H]) };
    }
    const x = nhwc(0), dy = nhwc(1);
    const call = () => tf.tidy(() => {
      const xpT = tf.transpose(tf.pad(x, pad1), [3, 1, 2, 0]) as tf.Tensor4D; // [C, Hp, Wp, N]
      const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, O]
      let dw = tf.conv2d(xpT, f, 1, 'valid', 'NHWC', s); // [C, K', K', O]
      if (dw.shape[1] !== 3) dw = tf.slice(dw, [0, 0, 0, 0], [C, 3, 3, O]);
      return tf.transpose(dw, [3, 0, 1, 2]); // OIHW
    });
    return { held: [x, dy], call, toCanonical: (v) => v };
  }
  const { N, C, H } = p;
  const x = nhwc(0);
  if (c.op === 'groupnorm') {
    const call = () => tf.tidy(() => {
      const xg = tf.reshape(x, [N, H, H, 8, C / 8]);
      const { mean, variance } = tf.moments(xg, [1, 2, 4], true);
      return tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, 1e-5))), [N, H, H, C]);
    });
    return { held: [x], call, toCanonical: (v) => NHWCtoNCHW(v, [N, C, H, H]) };
  }
  return { held: [x], call: () => tf.tidy(() => tf.mul(x, tf.sigmoid(x))), toCanonical: (v) => NHWCtoNCHW(v, [N, C, H, H]) };
}

/** The float64 reference backend's result of a UNet-size case (the correctness guard). */
function unetRef(c: Case): Float32Array {
  return T.useBackend('reference', () => {
    const [x, y] = c.inputs.map((i) => T.tensor(i.data, i.shape));
    const r = unetOp(c, x, y ?? x)();
    const v = r.dataSync() as Float32Array;
    T.dispose([x, y, r].filter(Boolean) as T.Tensor[]);
    return Float32Array.from(v);
  });
}

/** One timed unit: `m` op calls, keeping only the last result, then await its data(). */
async function unit(p: Prepared, m: number): Promise<number> {
  await p.enter();
  const s = performance.now();
  let last: unknown = undefined;
  for (let i = 0; i < m; i++) {
    if (last !== undefined) p.drop(last);
    last = p.call();
  }
  await p.read(last);
  const t = performance.now() - s;
  p.drop(last);
  return t;
}

interface Row {
  op: Op;
  case: string;
  backend: Name;
  status: 'ok' | 'wrong' | 'error' | 'skipped';
  note?: string;
  max_abs_err?: number;
  first_call_ms?: number;
  calls_per_unit?: number;
  reps?: number;
  median_ms?: number; // per unit (one call for matmul/conv)
  min_ms?: number;
  us_per_call?: number; // add
  gflops?: number;
  kernel_builds?: { before_first: number; before_timed: number; after_timed: number };
  time_vs_tfjs_wasm?: number; // median time / tfjs-wasm median time (same run); > 1 = slower
  time_vs_tfjs_cpu?: number;
}

const gflopsSeen = new Map<string, number>(); // `${op}|${backend}` -> last GFLOP/s, to estimate run time
// tfjs throws on any call before one of its backends was started
const tfTensors = () => (BACKENDS.some((b) => b.startsWith('tfjs')) ? tf.memory().numTensors : 0);
const builds = (b: Name) => (TAPE.has(b) ? T.kernelBuilds(b as T.BackendName) : 0);

async function runCase(c: Case, ref: Float32Array): Promise<{ rows: Row[]; load: ReturnType<ReturnType<typeof loadProbe>> }> {
  const refMax = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const tol = 1e-4 * Math.max(1, refMax) * (c.op === 'add' || c.op === 'silu' ? 1 : 10);
  const live: { b: Name; p: Prepared; row: Row; times: number[]; m: number; reps: number }[] = [];
  const rows: Row[] = [];
  for (const b of BACKENDS) {
    const row: Row = { op: c.op, case: c.label, backend: b, status: 'ok' };
    rows.push(row);
    if (b === 'js' && !JS_OPS.has(c.op)) {
      row.status = 'skipped';
      row.note = 'no plain-JS version (checked against the float64 reference backend)';
      continue;
    }
    const est = c.flop && gflopsSeen.has(`${c.op}|${b}`) ? c.flop / gflopsSeen.get(`${c.op}|${b}`)! / 1e9 : 0; // (conv3x3 kinds share one estimate)
    if (est > maxRepS(b)) {
      row.status = 'skipped';
      row.note = `estimated ${est.toFixed(0)} s per rep (> ${maxRepS(b)} s) from the previous size`;
      continue;
    }
    let p: Prepared | undefined;
    try {
      const b0 = builds(b);
      p = await prepare(b, c);
      await p.enter();
      // first call: compiles, and its result is checked against the plain-JS one
      const s = performance.now();
      const r = p.call();
      const got = p.toCanonical(await p.read(r));
      row.first_call_ms = round(performance.now() - s);
      p.drop(r);
      let err = got.length === ref.length ? 0 : Infinity;
      for (let i = 0; i < ref.length && err < Infinity; i++) {
        const d = Math.abs(got[i] - ref[i]);
        if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d;
      }
      row.max_abs_err = err;
      if (!(err <= tol)) {
        row.status = 'wrong';
        row.note = `max abs error ${err} > tolerance ${tol.toPrecision(2)}: not timed`;
        p.dispose();
        continue;
      }
      // calls per timed unit: 1, or for `add` as many as fill ~ADD_BATCH_MS
      let m = 1;
      if (c.op === 'add') {
        await unit(p, 10); // JIT / allocator warm-up, then calibrate
        const t10 = await unit(p, 10);
        m = Math.min(20000, Math.max(10, Math.round((10 * ADD_BATCH_MS) / t10)));
      }
      let first = 0;
      for (let w = 0; w < WARMUP; w++) first = await unit(p, m);
      const reps = first > 5000 ? Math.min(REPS, 3) : Math.min(100, Math.max(REPS, Math.ceil(MIN_CASE_MS / first)));
      row.kernel_builds = { before_first: b0, before_timed: builds(b), after_timed: NaN };
      live.push({ b, p, row, times: [], m, reps });
    } catch (e) {
      row.status = 'error';
      row.note = String((e as Error).message ?? e).split('\n')[0];
      p?.dispose();
    }
  }
  // the timed region: interleaved reps
  const stop = loadProbe();
  const maxReps = Math.max(0, ...live.map((l) => l.reps));
  for (let r = 0; r < maxReps; r++) {
    for (const l of live) if (r < l.reps) l.times.push(await unit(l.p, l.m));
  }
  const load = stop();
  for (const l of live) {
    const med = median(l.times);
    Object.assign(l.row, { calls_per_unit: l.m, reps: l.times.length, median_ms: round(med), min_ms: round(Math.min(...l.times)) });
    l.row.kernel_builds!.after_timed = builds(l.b);
    if (c.flop) {
      l.row.gflops = round(c.flop / med / 1e6);
      gflopsSeen.set(`${c.op}|${l.b}`, c.flop / med / 1e6);
    } else l.row.us_per_call = round((med * 1000) / l.m);
    l.p.dispose();
  }
  const base = (n: Name) => rows.find((r) => r.backend === n && r.median_ms !== undefined);
  const perCall = (r: Row) => r.median_ms! / (r.calls_per_unit ?? 1);
  for (const r of rows) {
    if (r.median_ms === undefined) continue;
    const w = base('tfjs-wasm'), cpu = base('tfjs-cpu');
    if (w) r.time_vs_tfjs_wasm = round(perCall(r) / perCall(w));
    if (cpu) r.time_vs_tfjs_cpu = round(perCall(r) / perCall(cpu));
  }
  return { rows, load };
}

// ------------------------------------------------------------------------------ main

function pkgVersion(name: string): string | null {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  for (const dir of [root, path.join(root, 'packages/tensor')]) {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The commit measured, and whether packages/tensor had uncommitted changes (read-only git). */
function gitInfo(): { head: string; tensor_dirty: boolean } | null {
  try {
    const git = (a: string) => execSync(`git ${a}`, { cwd: path.dirname(fileURLToPath(import.meta.url)), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return { head: git('rev-parse --short HEAD'), tensor_dirty: git('status --porcelain -- ../packages/tensor') !== '' };
  } catch {
    return null;
  }
}

async function main() {
  const started = new Date();
  const wholeRun = loadProbe();
  const env: Record<string, unknown> = {
    date: started.toISOString(),
    quick: QUICK,
    reps: REPS,
    node: process.version,
    cpu: os.cpus()[0]?.model,
    ncpu: os.cpus().length,
    loadavg_start: os.loadavg().map((x) => round(x, 2)),
    LP_NUM_THREADS: process.env.LP_NUM_THREADS ?? null,
    git: gitInfo(),
    versions: Object.fromEntries(
      ['gpu.js', 'webgpu', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'].map((n) => [n, pkgVersion(n)]),
    ),
  };
  // start everything before measuring anything
  const describe: Record<string, string> = {};
  for (const b of BACKENDS) {
    if (TAPE.has(b)) {
      await T.setBackend(b as T.BackendName); // described after the run, once kernels exist
    } else if (b === 'tfjs-wasm') {
      tfwasm.setThreadsCount(1);
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-wasm failed to start');
      describe[b] = `tfjs-backend-wasm: SIMD ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}, threads ${tfwasm.getThreadsCount()} (multithread support ${await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')})`;
    } else if (b === 'tfjs-cpu') {
      await tf.setBackend('cpu');
      describe[b] = 'tfjs-backend-cpu (plain JS kernels)';
    }
  }
  env.backends = describe;
  console.log(`# bench/ops ${env.date} ${QUICK ? '(quick)' : ''} backends=${BACKENDS.join(',')} reps=${REPS}`);
  for (const [b, d] of Object.entries(describe)) console.log(`#   ${b}: ${d}`);

  const cases: { c: Case; ref: () => Float32Array }[] = [];
  for (const n of SIZES) {
    const A = rand(n * n, 1), B = rand(n * n, 2);
    cases.push({ c: { op: 'matmul', label: `${n}x${n} @ ${n}x${n}`, params: { n }, flop: 2 * n ** 3, inputs: [{ data: A, shape: [n, n] }, { data: B, shape: [n, n] }] }, ref: () => matmulJS(A, B, n) });
  }
  for (const { N, C } of CONV) {
    const H = 28, W = 28;
    const x = rand(N * C * H * W, 3), w = rand(C * C * 9, 4).map((v) => v * 0.2);
    cases.push({
      c: { op: 'conv2d', label: `N${N} C${C}->${C} 28x28 3x3 pad1`, params: { N, C, H, W }, flop: 2 * N * H * W * 9 * C * C, inputs: [{ data: x, shape: [N, C, H, W] }, { data: w, shape: [C, C, 3, 3] }] },
      ref: () => conv3x3JS(x, w, N, C, C, H, W),
    });
  }
  for (const n of ADD) {
    const a = rand(n, 5), b = rand(n, 6);
    cases.push({ c: { op: 'add', label: `${n} elements`, params: { n }, inputs: [{ data: a, shape: [n] }, { data: b, shape: [n] }] }, ref: () => addJS(a, b) });
  }
  // UNet sizes (issue 11): conv 3x3 forward / input gradient / weight gradient, stride-2 convs, GroupNorm, SiLU
  const NU = QUICK ? 4 : 64;
  const convs = [{ C: 32, O: 32, H: 28, s: 1 }, { C: 64, O: 64, H: 14, s: 1 }, { C: 64, O: 64, H: 7, s: 1 }, { C: 32, O: 32, H: 28, s: 2 }, { C: 64, O: 64, H: 14, s: 2 }];
  let seed = 10;
  for (const { C, O, H, s } of convs) {
    for (const kind of [0, 1, 2]) {
      const params = { N: NU, C, O, H, s, kind };
      const shapes = unetShapes('conv3x3', params);
      const inputs = shapes.map((sh) => ({ data: rand(sh.reduce((a, b) => a * b, 1), seed++).map((v) => v * 0.5), shape: sh }));
      const Ho = Math.floor((H - 1) / s) + 1;
      const c: Case = { op: 'conv3x3', label: `${['fwd', 'dx', 'dw'][kind]} N${NU} ${C}->${O} ${H}x${H}${s > 1 ? ' stride 2' : ''}`, params, flop: 2 * NU * Ho * Ho * 9 * C * O, inputs };
      cases.push({ c, ref: () => unetRef(c) });
    }
  }
  for (const { C, H } of [{ C: 32, H: 28 }, { C: 64, H: 14 }, { C: 64, H: 7 }]) {
    for (const op of ['groupnorm', 'silu'] as const) {
      const params = { N: NU, C, H };
      const c: Case = { op, label: `N${NU} C${C} ${H}x${H}`, params, inputs: [{ data: rand(NU * C * H * H, seed++).map((v) => v * 4), shape: [NU, C, H, H] }] };
      cases.push({ c, ref: () => unetRef(c) });
    }
  }

  const results: (Row & { other_cores: number; self_cores: number })[] = [];
  const loads: Record<string, unknown>[] = [];
  for (const { c, ref } of cases.filter(({ c }) => !CASES || CASES.includes(c.op))) {
    const mem0 = T.memory().tensors, tf0 = tfTensors();
    const { rows, load } = await runCase(c, ref());
    loads.push({ op: c.op, case: c.label, ...load });
    for (const r of rows) results.push({ ...r, other_cores: load.other_cores, self_cores: load.self_cores });
    const leak = T.memory().tensors - mem0 + (tfTensors() - tf0);
    console.log(`\n${c.op} ${c.label}  (timed ${load.wall_s} s, other cores ${load.other_cores}, self cores ${load.self_cores}${leak ? `, LEAKED ${leak} tensors` : ''})`);
    for (const r of rows) {
      const v = r.gflops !== undefined ? `${r.gflops} GFLOP/s` : r.us_per_call !== undefined ? `${r.us_per_call} us/call` : '';
      const kb = r.kernel_builds ? ` builds ${r.kernel_builds.before_first}->${r.kernel_builds.before_timed}->${r.kernel_builds.after_timed}` : '';
      console.log(`  ${r.backend.padEnd(9)} ${r.status.padEnd(7)} ${r.median_ms ?? ''} ms ${v} reps ${r.reps ?? ''} err ${r.max_abs_err?.toExponential(1) ?? ''}${kb} ${r.time_vs_tfjs_wasm ? `x${r.time_vs_tfjs_wasm} tfjs-wasm time` : ''} ${r.note ?? ''}`);
    }
  }
  env.loadavg_end = os.loadavg().map((x) => round(x, 2));
  for (const b of BACKENDS) if (TAPE.has(b)) describe[b] = T.findBackend(b as T.BackendName).describe();
  env.whole_run = wholeRun();
  const kernels = Object.fromEntries(
    BACKENDS.filter((b) => TAPE.has(b)).map((b) => {
      const be = T.findBackend(b as T.BackendName) as unknown as { kernelClasses?: () => unknown };
      return [b, be.kernelClasses?.() ?? null];
    }),
  );
  const out = { env, timing: TIMING_NOTE, results, loads, kernels };

  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().slice(0, 16).replace(':', '') + 'Z';
  const base = path.join(dir, `ops-${QUICK ? 'quick-' : ''}${CASES ? CASES.join('+') + '-' : ''}${stamp}`);
  writeFileSync(`${base}.json`, JSON.stringify(out, null, 1));
  writeFileSync(`${base}.md`, markdown(env, results));
  // only a full run (every case, every backend) replaces ops-latest
  const full = !QUICK && !CASES && !argv.backends;
  if (full) for (const ext of ['json', 'md']) copyFileSync(`${base}.${ext}`, path.join(dir, `ops-latest.${ext}`));
  console.log(`\nwrote ${base}.json and .md${full ? ' (+ ops-latest.*)' : ''}`);
  for (const b of BACKENDS) if (TAPE.has(b)) await T.findBackend(b as T.BackendName).destroy();
  process.exit(0);
}

const TIMING_NOTE =
  'Each timed unit = op call(s) + `await result.data()` (webgpu: includes GPU completion and read-back of the result; ' +
  'webasm/cpu/tfjs: synchronous compute, then a copy of the result). add: a unit is m calls (each result disposed) and one data() of the last. ' +
  'Medians over interleaved reps. tfjs conv runs NHWC/HWIO, converted once outside the timing.';

function markdown(env: Record<string, unknown>, rows: (Row & { other_cores: number })[]): string {
  const v = env.versions as Record<string, string>;
  const d = env.backends as Record<string, string>;
  const L: string[] = [
    `# bench/ops results, ${env.date}${env.quick ? ' (--quick)' : ''}`,
    '',
    `Commit ${(env.git as { head?: string } | null)?.head ?? '?'}${(env.git as { tensor_dirty?: boolean } | null)?.tensor_dirty ? ' (packages/tensor had uncommitted changes)' : ''}. Node ${env.node}, gpu.js ${v['gpu.js']}, webgpu (Dawn) ${v.webgpu}, tfjs-core ${v['@tensorflow/tfjs-core']}, tfjs-backend-cpu ${v['@tensorflow/tfjs-backend-cpu']}, tfjs-backend-wasm ${v['@tensorflow/tfjs-backend-wasm']}.`,
    `CPU: ${env.cpu} x ${env.ncpu}; loadavg at start ${(env.loadavg_start as number[]).join(' ')}, at end ${(env.loadavg_end as number[]).join(' ')}; ` +
      `whole run ${(env.whole_run as { wall_s: number }).wall_s} s, other cores ${(env.whole_run as { other_cores: number }).other_cores}.`,
    '',
    ...Object.entries(d).map(([b, s]) => `- ${b}: ${s}`),
    '',
    TIMING_NOTE,
    '"x tfjs-wasm" / "x tfjs-cpu" = this backend\'s median time per call divided by that tfjs backend\'s, same run (> 1 = slower).',
    '"builds" = tapegrad kernelBuilds() before the first call -> after warm-up -> after the timed reps (equal last two = nothing compiled while timed).',
    '',
  ];
  const ops: Op[] = OPS;
  // headline: one row per case, one column per backend; then the same as time ratios
  const cases = ops.flatMap((op) => [...new Set(rows.filter((r) => r.op === op).map((r) => r.case))].map((c) => ({ op, c })));
  const get = (op: Op, c: string, b: Name) => rows.find((x) => x.op === op && x.case === c && x.backend === b)!;
  const sig = (x: number) => (x >= 100 ? Math.round(x).toString() : x.toPrecision(3));
  const head = (cols: string[]) => [`| op | case | ${cols.join(' | ')} | other cores |`, `|---|---|${cols.map(() => '---:').join('|')}|---:|`];
  L.push('## Summary: GFLOP/s (matmul, conv2d, conv3x3) and µs per call (add, groupnorm, silu), medians', '', ...head(BACKENDS));
  for (const { op, c } of cases) {
    const cell = (b: Name) => {
      const r = get(op, c, b);
      return r.status !== 'ok' ? r.status : r.gflops === undefined ? sig(r.us_per_call!) + ' µs' : sig(r.gflops);
    };
    L.push(`| ${op} | ${c} | ${BACKENDS.map(cell).join(' | ')} | ${get(op, c, BACKENDS[0]).other_cores} |`);
  }
  if (BACKENDS.includes('tfjs-wasm')) {
    L.push('', '## Time per call relative to tfjs-wasm (same run; 20 = 20x slower)', '', ...head(BACKENDS));
    for (const { op, c } of cases) {
      const cell = (b: Name) => {
        const v = get(op, c, b).time_vs_tfjs_wasm;
        return v === undefined ? get(op, c, b).status : sig(v);
      };
      L.push(`| ${op} | ${c} | ${BACKENDS.map(cell).join(' | ')} | ${get(op, c, BACKENDS[0]).other_cores} |`);
    }
  }
  L.push('');
  for (const op of ops) {
    L.push(`## ${op}`, '', '| case | backend | median ms | ' + (op === 'add' ? 'µs/call | calls/unit' : 'GFLOP/s | first call ms') + ' | reps | max abs err | builds | other cores | x tfjs-wasm | x tfjs-cpu | note |', '|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|');
    for (const r of rows.filter((x) => x.op === op)) {
      const kb = r.kernel_builds ? `${r.kernel_builds.before_first}→${r.kernel_builds.before_timed}→${r.kernel_builds.after_timed}` : '';
      const mid = op === 'add' ? `${r.us_per_call ?? ''} | ${r.calls_per_unit ?? ''}` : `${r.gflops ?? ''} | ${r.first_call_ms ?? ''}`;
      const err = r.max_abs_err === undefined ? '' : r.max_abs_err.toExponential(1);
      L.push(`| ${r.case} | ${r.backend} | ${r.median_ms ?? r.status} | ${mid} | ${r.reps ?? ''} | ${err} | ${TAPE.has(r.backend) ? kb : ''} | ${r.other_cores} | ${r.time_vs_tfjs_wasm ?? ''} | ${r.time_vs_tfjs_cpu ?? ''} | ${r.note ?? ''} |`);
    }
    L.push('');
  }
  return L.join('\n');
}

await main();
