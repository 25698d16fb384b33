// The benchmark that decides (issue 11 §1): the reference DDPM UNet (bench/unet.ts) trained one
// step at a time, identically in tapegrad and in TensorFlow.js (bench/tfjs/unet.cjs), the
// contenders interleaved in one process (step r of every contender before step r+1 of any), medians
// after warm-up.
//
//   npx tsx bench/unet-step.ts [--steps=N] [--warmup=W] [--batch=64] [--fwd-reps=R]
//        [--contenders=tapegrad,tapegrad-classic,tfjs-wasm[,tfjs-cpu][,tapegrad-2t][,tapegrad-narrow]
//                      [,tapegrad-compiled][,tapegrad-compiled-2t][,tapegrad-webgpu][,tapegrad-webgpu-compiled]]
//        [--wasm-mt] [--profile] [--quick]
//
// Contenders: `tapegrad` = webasm with the register-blocked kernels (the default),
// `tapegrad-classic` = the same backend with TAPEGRAD_BLOCKED_KERNELS=0's one-output-per-thread
// kernels (the "before"), `tapegrad-2t` = `tapegrad` with 2 threads (setThreads(2): gpu.js patch
// 5, kernels measured >= 1 ms run split over both cores; the other contenders run with 1),
// `tapegrad-narrow` = `tapegrad` with the Array(4) kernels only (convTile [2, 2], the gather dw
// kernel, 4-row matmul: what runs without gpu.js patch 8), `tfjs-wasm` = tfjs-backend-wasm (XNNPACK) 1 thread with the conv-gradient
// workaround, `tfjs-cpu` = tfjs-backend-cpu (about 80 s a step: opt-in). `--wasm-mt` adds
// tfjs-wasm with 2 threads (shim: bench/tfjs/wasm_threads_node.cjs) run in a child process after
// the others (tfjs-wasm cannot be started threaded and unthreaded in one process), so that one is
// not interleaved. `tapegrad-compiled` = the same step through @tapegrad/compile's compileStep
// (bench/unet.ts unetAdamStep: traced once, replayed with fused elementwise chains and multi-tensor
// Adam kernels; its forward row is a compiled forward), `tapegrad-compiled-2t` the same with 2
// threads, `tapegrad-webgpu` / `tapegrad-webgpu-compiled` the eager / compiled step on webgpu
// (Dawn: Mesa lavapipe on a CPU-only machine). A compiled contender's first two steps are warm-up
// (the trace, then the first replay building its fused kernels). `--profile` adds one step of
// `tapegrad` and of `tapegrad-compiled` with every backend call timed, by class.
//
// Per step: ms split into forward / backward / optimizer (tapegrad: vjp / vjpFn / adam.step;
// tfjs: variableGrads is forward+backward in one call, its forward is estimated by the forward-only
// timing below), images/s, kernel builds (tapegrad: must be 0 after step 1), live tensors. Then one
// forward at batch B (sampling cost: DDPM-1000 = 1000 forwards, DDIM-50 = 50), interleaved too.
// Also: loadavg and the process CPU time / wall time of each contender's steps (cores it got),
// peak RSS of the process (VmHWM; all contenders share it). Ends with the line
//   unet-step: tapegrad X img/s, tfjs-wasm Y img/s, ratio R
// Writes bench/results/unet-step-<UTC>.{json,md} (not with --quick).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import * as T from '../packages/tensor/src/index.ts';
import * as nn from '../packages/nn/src/index.ts';
import { vjp } from '../packages/autograd/src/index.ts';
import { compileStep } from '../packages/compile/src/index.ts';
import { ADAM, alphaBar, drawTimesteps, fakeDigits, noiseCoefficients, noisyInput, unetAdamStep, unetApply, unetInit, unetLoss, type UNetParams } from './unet.ts';

const require = createRequire(import.meta.url);
// the CommonJS builds throughout, so the twin (bench/tfjs/*.cjs) and this file share one tfjs
const tf: typeof import('@tensorflow/tfjs-core') = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
require('./tfjs/gradients.cjs').registerAllGradients();
const argv = process.argv.slice(2);
const opt = (k: string, d: string) => argv.find((a) => a.startsWith(`--${k}=`))?.split('=').slice(1).join('=') ?? (argv.includes(`--${k}`) ? 'true' : d);
const quick = argv.includes('--quick');
const B = Number(opt('batch', quick ? '8' : '64'));
const STEPS = Number(opt('steps', quick ? '2' : '5'));
const FWD_REPS = Number(opt('fwd-reps', quick ? '1' : '3'));
const only = opt('only', ''); // internal: the child process of --wasm-mt
const names = only ? [only] : opt('contenders', 'tapegrad,tapegrad-classic,tfjs-wasm').split(',');
// a compiled contender traces on its first call and builds its fused kernels on the second
const WARMUP = Number(opt('warmup', names.some((n) => n.includes('compiled')) ? '2' : '1'));
const abar = alphaBar(1000);
const med = (v: number[]) => {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const vmHWM = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const rss = () => process.memoryUsage().rss / 2 ** 20;
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const X0 = fakeDigits(B, rand);

interface StepRec { fwd: number; bwd: number; opt: number; total: number; cpu: number; builds: number; tensors: number; loss: number }
interface Contender {
  name: string;
  step(i: number): Promise<StepRec>;
  forward(): Promise<number>;
  params: number;
  /** compileStep's report of the step (compiled contenders). */
  report?: () => ReturnType<ReturnType<typeof compileStep>['report']>;
}

// ------------------------------------------------------------------ tapegrad
function tapegrad(name: string, blocked: boolean, threads = 1, narrow = false, backendName: 'webasm' | 'webgpu' = 'webasm'): Contender {
  const backend = () => T.currentBackend() as unknown as { blocked: boolean; convTile: unknown; filterGradLanes: unknown; matmulRows: unknown };
  let params: UNetParams = T.useBackend(backendName, () => unetInit(T.randomKey(1)));
  const adam = nn.adam({ learningRate: 2e-4 });
  let state = T.useBackend(backendName, () => adam.init(params));
  const x0 = T.useBackend(backendName, () => T.tensor(X0, [B, 1, 28, 28]));
  let key = T.randomKey(7);
  const nParams = nn.countParams(params);
  const run = <R>(fn: () => R): R => T.useBackend(backendName, () => {
    if (backendName !== 'webasm') return fn();
    const b = backend();
    const prev = b.blocked;
    const [prevTile, prevLanes, prevRows] = [b.convTile, b.filterGradLanes, b.matmulRows];
    const prevThreads = T.getThreads().threads;
    b.blocked = blocked;
    if (narrow) [b.convTile, b.filterGradLanes, b.matmulRows] = [[2, 2], 0, 4];
    if (threads !== prevThreads) T.setThreads(threads);
    try { return fn(); } finally {
      b.blocked = prev;
      [b.convTile, b.filterGradLanes, b.matmulRows] = [prevTile, prevLanes, prevRows];
      if (threads !== prevThreads) T.setThreads(prevThreads);
    }
  });
  return {
    name,
    params: nParams,
    async step() {
      const c0 = process.cpuUsage();
      const b0 = T.kernelBuilds(backendName);
      const t0 = performance.now();
      const ts = drawTimesteps(B, rand);
      const [k1, k2] = T.splitKey(key, 2);
      key = k1;
      const { loss, fn, eps, xt } = run(() => {
        const eps = T.randomNormal(k2, [B, 1, 28, 28]);
        const xt = noisyInput(abar, x0, ts, eps);
        const [loss, fn] = vjp((p) => unetLoss(p as UNetParams, xt, ts, eps), params);
        return { loss: loss as T.Tensor, fn, eps, xt };
      });
      const t1 = performance.now();
      const grads = run(() => {
        const one = T.onesLike(loss);
        const [g] = fn(one);
        one.dispose();
        fn.dispose();
        return g as UNetParams;
      });
      const t2 = performance.now();
      run(() => ({ params, state } = adam.step(grads, state, params)));
      const lv = (await loss.data())[0];
      T.dispose([loss, eps, xt]);
      const t3 = performance.now();
      const c = process.cpuUsage(c0);
      return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2, total: t3 - t0, cpu: (c.user + c.system) / 1000, builds: T.kernelBuilds(backendName) - b0, tensors: T.memory().tensors, loss: lv };
    },
    async forward() {
      const ts = Array.from({ length: B }, () => 500);
      const t0 = performance.now();
      const y = run(() => unetApply(params, x0, ts));
      await y.data();
      y.dispose();
      return performance.now() - t0;
    },
  };
}

// ------------------------------------------------------------------ tapegrad, compiled
/**
 * The same step through `compileStep` (@tapegrad/compile): bench/unet.ts's unetAdamStep (the
 * loss, its gradient and PyTorch's Adam, every per-step value an argument) traced once, then
 * replayed with fused elementwise chains and multi-tensor Adam kernels. The forward-only row is
 * the compiled forward (what a compiled sampler runs per denoising step). The first call traces
 * (an eager step plus planning): it is the warm-up step.
 */
function tapegradCompiled(name: string, backendName: 'webasm' | 'webgpu', threads = 1): Contender {
  let params: UNetParams = T.useBackend(backendName, () => unetInit(T.randomKey(1)));
  const zeros = () => T.useBackend(backendName, () => T.treeMap((q: T.Tensor) => T.zerosLike(q), params) as UNetParams);
  let mu = zeros();
  let nu = zeros();
  const x0 = T.useBackend(backendName, () => T.tensor(X0, [B, 1, 28, 28]));
  let key = T.randomKey(7);
  let n = 0;
  const nParams = nn.countParams(params);
  const step = compileStep(unetAdamStep);
  const fwd = compileStep((p: UNetParams, x: T.Tensor, emb: T.Tensor) => unetApply(p, x, emb));
  const run = <R>(fn: () => R): R => T.useBackend(backendName, () => {
    if (backendName !== 'webasm') return fn();
    const prev = T.getThreads().threads;
    if (threads !== prev) T.setThreads(threads);
    try { return fn(); } finally { if (threads !== prev) T.setThreads(prev); }
  });
  return {
    name,
    params: nParams,
    async step() {
      const c0 = process.cpuUsage();
      const b0 = T.kernelBuilds(backendName);
      const t0 = performance.now();
      const ts = drawTimesteps(B, rand);
      const [k1, k2] = T.splitKey(key, 2);
      key = k1;
      n++;
      const r = run(() => {
        const [sa, sb] = noiseCoefficients(abar, ts);
        const eps = T.randomNormal(k2, [B, 1, 28, 28]);
        const emb = nn.sinusoidalEmbedding(ts, 32, { downscaleFreqShift: 0 });
        try {
          return step(params, mu, nu, x0, eps, emb, sa, sb, 2e-4, 1 - ADAM.b1 ** n, 1 - ADAM.b2 ** n);
        } finally {
          T.dispose([sa, sb, eps, emb]);
        }
      });
      T.dispose([params, mu, nu]);
      ({ p: params, mu, nu } = r);
      const lv = (await r.loss.data())[0];
      r.loss.dispose();
      const t3 = performance.now();
      const c = process.cpuUsage(c0);
      return { fwd: NaN, bwd: NaN, opt: NaN, total: t3 - t0, cpu: (c.user + c.system) / 1000, builds: T.kernelBuilds(backendName) - b0, tensors: T.memory().tensors, loss: lv };
    },
    async forward() {
      const ts = Array.from({ length: B }, () => 500);
      const t0 = performance.now();
      const y = run(() => {
        const emb = nn.sinusoidalEmbedding(ts, 32, { downscaleFreqShift: 0 });
        try { return fwd(params, x0, emb); } finally { emb.dispose(); }
      });
      await y.data();
      y.dispose();
      return performance.now() - t0;
    },
    report: () => step.report(),
  };
}

// ------------------------------------------------------------------ TensorFlow.js
async function tfjs(name: string, backend: 'wasm' | 'cpu'): Promise<Contender> {
  await tf.setBackend(backend);
  await tf.ready();
  const { buildModel } = require('./tfjs/unet.cjs');
  const model = buildModel(tf, { convImpl: backend === 'wasm' ? 'convgrad' : 'native' });
  const optim = tf.train.adam(2e-4);
  // NCHW [B,1,28,28] and NHWC [B,28,28,1] are the same bytes for one channel
  const x0 = tf.tensor4d(X0, [B, 28, 28, 1]);
  const nParams = model.params.reduce((a: number, p: { size: number }) => a + p.size, 0);
  return {
    name,
    params: nParams,
    async step() {
      await tf.setBackend(backend);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const tInt = drawTimesteps(B, rand);
      const sa = tf.tensor(tInt.map((i) => Math.sqrt(abar[i])), [B, 1, 1, 1]);
      const sb = tf.tensor(tInt.map((i) => Math.sqrt(1 - abar[i])), [B, 1, 1, 1]);
      const t = tf.tensor1d(tInt, 'float32');
      const { value, grads } = tf.variableGrads(() => {
        const eps = tf.randomNormal([B, 28, 28, 1]);
        const xt = tf.add(tf.mul(x0, sa), tf.mul(eps, sb));
        return tf.losses.meanSquaredError(eps, model.forward(xt, t)) as import('@tensorflow/tfjs-core').Scalar;
      }, model.params);
      const t1 = performance.now();
      optim.applyGradients(grads as never);
      const lv = (await value.data())[0];
      tf.dispose([sa, sb, t, value, ...Object.values(grads)]);
      const t3 = performance.now();
      const c = process.cpuUsage(c0);
      return { fwd: NaN, bwd: t1 - t0, opt: t3 - t1, total: t3 - t0, cpu: (c.user + c.system) / 1000, builds: 0, tensors: tf.memory().numTensors, loss: lv };
    },
    async forward() {
      await tf.setBackend(backend);
      const ts = tf.fill([B], 500, 'float32');
      const t0 = performance.now();
      const y = tf.tidy(() => model.forward(x0, ts)) as import('@tensorflow/tfjs-core').Tensor;
      await y.data();
      const ms = performance.now() - t0;
      tf.dispose([y, ts]);
      return ms;
    },
  };
}

// ------------------------------------------------------------------ where the time goes
/**
 * One more tapegrad step with every backend method timed (outermost calls only: convTranspose2d
 * calls conv2d inside), grouped by class. Wall time, so the split is exact but the total swings
 * with the machine's load.
 */
async function profileStep(c: Contender): Promise<{ class: string; calls: number; ms: number; share: number }[]> {
  const b = T.findBackend('webasm') as unknown as Record<string, unknown>;
  const proto = Object.getPrototypeOf(b) as Record<string, unknown>;
  const methods = Object.getOwnPropertyNames(proto).filter((m) => typeof proto[m] === 'function' && !['constructor', 'describe', 'kernelClasses', 'kernelBuilds', 'destroy', 'flush', 'download'].includes(m) && !m.startsWith('exec') && !['kernelFor', 'checkSize', 'copy', 'padSpatial', 'strided'].includes(m));
  const acc = new Map<string, { calls: number; ms: number }>();
  let depth = 0;
  const cls = (m: string, args: unknown[]) => {
    if (m === 'unary') return `unary:${args[0]}`;
    if (m === 'binary') return `binary:${args[0]}`;
    if (m === 'reduce') return `reduce:${args[0]}`;
    if (m === 'conv2d') {
      const st = (args[4] as { stride: number[] }).stride;
      const ws = args[3] as number[];
      return `conv2d ${ws[2]}x${ws[3]}${st[0] > 1 ? ' stride ' + st[0] : ''}`;
    }
    if (m === 'conv2dFilterGrad') return `conv2dFilterGrad ${(args[5] as { stride: number[] }).stride[0] > 1 ? 'stride 2' : ''}`.trim();
    if (m === 'convTranspose2d') return `convTranspose2d (conv dx)${(args[4] as { stride: number[] }).stride[0] > 1 ? ' stride 2' : ''}`;
    return m;
  };
  for (const m of methods) {
    const orig = proto[m] as (...a: unknown[]) => unknown;
    b[m] = (...args: unknown[]) => {
      if (depth > 0) return orig.apply(b, args);
      depth++;
      const t0 = performance.now();
      try {
        return orig.apply(b, args);
      } finally {
        const dt = performance.now() - t0;
        depth--;
        const k = cls(m, args);
        const e = acc.get(k) ?? { calls: 0, ms: 0 };
        e.calls++;
        e.ms += dt;
        acc.set(k, e);
      }
    };
  }
  const t0 = performance.now();
  await c.step(-1);
  const total = performance.now() - t0;
  for (const m of methods) delete b[m];
  const rows = [...acc].map(([k, v]) => ({ class: k, calls: v.calls, ms: +v.ms.toFixed(0), share: +(v.ms / total).toFixed(3) }));
  const inKernels = rows.reduce((s, r) => s + r.ms, 0);
  rows.sort((p, q) => q.ms - p.ms);
  rows.push({ class: '(outside backend calls: JS, tape, allocation)', calls: 0, ms: +(total - inKernels).toFixed(0), share: +((total - inKernels) / total).toFixed(3) });
  rows.push({ class: 'total step', calls: 0, ms: +total.toFixed(0), share: 1 });
  return rows;
}

// ------------------------------------------------------------------ run
if (only === 'tfjs-wasm-mt') require('./tfjs/wasm_threads_node.cjs').enable(tf, 2);
const load0 = os.loadavg();
const contenders: Contender[] = [];
if (names.some((n) => n.startsWith('tapegrad-webgpu'))) {
  await T.setBackend('webgpu'); // Dawn: lavapipe on this machine, a real GPU where one is lent
  await T.setBackend('webasm');
}
if (names.includes('tapegrad-2t') || names.includes('tapegrad-compiled-2t')) {
  // build every module for the threaded path from the start (setThreads keeps them shared once
  // threads were on), so that switching between the 1- and 2-thread contenders rebuilds nothing
  T.setThreads(2);
  T.setThreads(1);
}
for (const n of names) {
  if (n === 'tapegrad') contenders.push(tapegrad(n, true));
  else if (n === 'tapegrad-classic') contenders.push(tapegrad(n, false));
  else if (n === 'tapegrad-2t') contenders.push(tapegrad(n, true, 2));
  else if (n === 'tapegrad-narrow') contenders.push(tapegrad(n, true, 1, true));
  else if (n === 'tapegrad-compiled') contenders.push(tapegradCompiled(n, 'webasm'));
  else if (n === 'tapegrad-compiled-2t') contenders.push(tapegradCompiled(n, 'webasm', 2));
  else if (n === 'tapegrad-webgpu') contenders.push(tapegrad(n, true, 1, false, 'webgpu'));
  else if (n === 'tapegrad-webgpu-compiled') contenders.push(tapegradCompiled(n, 'webgpu'));
  else if (n === 'tfjs-wasm' || n === 'tfjs-wasm-mt') contenders.push(await tfjs(n, 'wasm'));
  else if (n === 'tfjs-cpu') contenders.push(await tfjs(n, 'cpu'));
  else throw new Error(`unet-step: unknown contender '${n}'; expected tapegrad, tapegrad-classic, tapegrad-2t, tapegrad-narrow, tapegrad-compiled, tapegrad-compiled-2t, tapegrad-webgpu, tapegrad-webgpu-compiled, tfjs-wasm, tfjs-cpu`);
}
const recs = new Map<string, StepRec[]>(contenders.map((c) => [c.name, []]));
const fwds = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
for (let i = 0; i < WARMUP + STEPS; i++) {
  for (const c of contenders) {
    if (c.name === 'tfjs-cpu' && i >= WARMUP + 1) continue; // ~80 s a step: one timed step
    const r = await c.step(i);
    if (i >= WARMUP || i === 0) recs.get(c.name)!.push(r);
    console.error(`${c.name} step ${i}${i < WARMUP ? ' (warm-up)' : ''}: ${r.total.toFixed(0)} ms (fwd ${r.fwd.toFixed(0)}, bwd ${r.bwd.toFixed(0)}, opt ${r.opt.toFixed(0)}), cores ${(r.cpu / r.total).toFixed(2)}, builds ${r.builds}, tensors ${r.tensors}, loss ${r.loss.toFixed(4)}, rss ${rss().toFixed(0)} MB, load ${os.loadavg()[0].toFixed(2)}`);
  }
}
for (const c of contenders) {
  await c.forward(); // warm-up of the forward-only path
  if (c.report) await c.forward(); // a compiled forward traces, then builds its fused kernels
}
for (let i = 0; i < FWD_REPS; i++) {
  for (const c of contenders) {
    if (c.name === 'tfjs-cpu' && i > 0) continue;
    fwds.get(c.name)!.push(await c.forward());
  }
}
const load1 = os.loadavg();
// --profile: one extra step of each 1-thread webasm tapegrad contender, every backend call timed
const profiled = argv.includes('--profile') ? contenders.filter((c) => c.name === 'tapegrad' || c.name === 'tapegrad-compiled') : [];
const profiles: Record<string, Awaited<ReturnType<typeof profileStep>>> = {};
for (const c of profiled) profiles[c.name] = await profileStep(c);
const profile = profiled.length ? profiles : null;

interface Row { contender: string; params: number; steps: number; 'step ms': number; 'img/s': number; 'fwd ms': number; 'bwd ms': number; 'opt ms': number; cores: number; 'builds after warm-up': number; 'tensors first/last': string; 'fwd b64 ms': number; 'DDPM-1000 s': number; 'DDIM-50 s': number; note?: string }
const rows: Row[] = contenders.map((c) => {
  const all = recs.get(c.name)!;
  const timed = all.length > 1 || WARMUP === 0 ? all.slice(WARMUP === 0 ? 0 : 1) : all;
  const f = med(fwds.get(c.name)!);
  const step = med(timed.map((r) => r.total));
  const isTf = c.name.startsWith('tfjs');
  const fwdMs = isTf ? f : med(timed.map((r) => r.fwd));
  return {
    contender: c.name,
    params: c.params,
    steps: timed.length,
    'step ms': +step.toFixed(0),
    'img/s': +((B / step) * 1000).toFixed(2),
    'fwd ms': +fwdMs.toFixed(0),
    'bwd ms': +(isTf ? med(timed.map((r) => r.bwd)) - f : med(timed.map((r) => r.bwd))).toFixed(0),
    'opt ms': +med(timed.map((r) => r.opt)).toFixed(0),
    cores: +med(timed.map((r) => r.cpu / r.total)).toFixed(2),
    'builds after warm-up': timed.filter((r) => r !== all[0]).reduce((s, r) => s + r.builds, 0),
    'tensors first/last': `${all[0].tensors}/${all[all.length - 1].tensors}`,
    [`fwd b${B} ms`]: +f.toFixed(0),
    'DDPM-1000 s': +(f).toFixed(0),
    'DDIM-50 s': +((50 * f) / 1000).toFixed(1),
    ...(isTf ? { note: 'fwd = forward-only call; bwd = forward+backward - fwd' } : {}),
  } as Row;
});

if (only) {
  // child of --wasm-mt: hand the row to the parent
  const threads = require('@tensorflow/tfjs-backend-wasm').getThreadsCount();
  process.stdout.write(JSON.stringify({ row: { ...rows[0], note: (rows[0].note ?? '') + `; ${threads} wasm threads; separate process, after the others (not interleaved)` }, load0, load1 }) + '\n');
  process.exit(0);
}
if (argv.includes('--wasm-mt')) {
  try {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1], ...argv.filter((a) => a !== '--wasm-mt'), '--only=tfjs-wasm-mt'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    rows.push(JSON.parse(out.trim().split('\n').pop()!).row);
  } catch (e) {
    console.error(`unet-step: tfjs-wasm with 2 threads failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

const plans = contenders.filter((c) => c.report).map((c) => {
  const r = c.report!();
  const p = r.plans[0];
  return {
    contender: c.name, executor: r.executor, backend: r.backend, traces: r.traces, replays: r.replays,
    'primitive calls': p?.primitiveCalls, 'dead calls': p?.deadCalls, 'plan steps': p?.steps, 'fused chains': p?.fusedChains,
    'fused ops': p?.fusedOps, 'multi-tensor kernels': p?.multiTensorKernels, 'peak live MB': p ? +(p.peakLiveBytes / 2 ** 20).toFixed(1) : null,
    'fallback reasons': p?.fallbackReasons.join('; '),
  };
});
const ref = (n: string) => rows.find((r) => r.contender === n);
const wasm = ref('tfjs-wasm');
const cpuRow = ref('tfjs-cpu');
const ratios = rows.map((r) => ({ contender: r.contender, 'img/s': r['img/s'], 'vs tfjs-wasm 1t': wasm ? +(r['img/s'] / wasm['img/s']).toFixed(3) : null, 'vs tfjs-cpu': cpuRow ? +(r['img/s'] / cpuRow['img/s']).toFixed(3) : null }));
const table = (objs: Record<string, unknown>[]) => {
  const cols = [...new Set(objs.flatMap((o) => Object.keys(o)))];
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...objs.map((o) => `| ${cols.map((c) => o[c] ?? '').join(' | ')} |`)].join('\n');
};
const gitRev = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { return '?'; } })();
const dirty = (() => { try { return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''; } catch { return false; } })();
const cmd = `npx tsx bench/unet-step.ts ${argv.join(' ')}`.trim();
const date = new Date().toISOString();
const md = [
  `# unet-step ${date} (git ${gitRev}${dirty ? '+dirty' : ''})`,
  '',
  `Reference UNet (bench/unet.ts), batch ${B}, ${STEPS} timed steps per contender after ${WARMUP} warm-up, interleaved; medians. loadavg ${load0.map((v) => v.toFixed(2)).join(' ')} -> ${load1.map((v) => v.toFixed(2)).join(' ')} on ${os.cpus().length} cores (shared box: compare ratios, not absolutes). Peak RSS of the process ${vmHWM().toFixed(0)} MB.`,
  '',
  '## Ratios (images/s, same run)',
  '',
  table(ratios),
  '',
  '## Detail',
  '',
  table(rows as unknown as Record<string, unknown>[]),
  '',
  '`cores` = process CPU time / wall time during the step (1.0 = one full core). `builds after warm-up` must be 0. DDPM-1000 s = 1000 forwards at this batch, DDIM-50 s = 50.',
  '',
  ...(plans.length ? ['## Compiled plans (compileStep report of the step)', '', table(plans), ''] : []),
  ...Object.entries(profiles).flatMap(([name, rows]) => [`## Where the ${name} step goes (one extra step, backend calls timed, wall ms)`, '', table(rows), '']),
  `Command: \`${cmd}\``,
  '',
].join('\n');
console.log(md);
if (!quick) {
  const stamp = date.replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/unet-step-${stamp}.json`, JSON.stringify({ date, git: gitRev + (dirty ? '+dirty' : ''), command: cmd, batch: B, steps: STEPS, warmup: WARMUP, load0, load1, peakRssMB: vmHWM(), rows, ratios, plans, profile, perStep: Object.fromEntries(recs), forwardMs: Object.fromEntries(fwds) }, null, 1));
  writeFileSync(`bench/results/unet-step-${stamp}.md`, md);
}
const tg = ref('tapegrad');
console.log(`unet-step: tapegrad ${tg?.['img/s'] ?? 'n/a'} img/s, tfjs-wasm ${wasm?.['img/s'] ?? 'n/a'} img/s, ratio ${tg && wasm ? (tg['img/s'] / wasm['img/s']).toFixed(3) : 'n/a'}`);
process.exit(0);
