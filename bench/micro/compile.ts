// @tapegrad/compile vs eager, webasm (default) or --backend=<name>:
//  1. per-op cost of a 1k-element elementwise chain (20 ops), eager vs compiled replay
//     without fusion vs compiled with fusion (the chain becomes one kernel);
//  2. the demo MLP denoiser training step (two-moons `quick` preset: 3x64 SiLU MLP with
//     Fourier features, batch 256, eps-prediction MSE, AdamW), eager vs compiled.
// Interleaved reps, medians of wall time and of process CPU time (the box is shared).
// Run: npx tsx bench/micro/compile.ts [--reps=15] [--quick] [--backend=webasm]
// Writes bench/results/compile-<UTC>.{json,md} (not with --quick).
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { compileStep } from '@tapegrad/compile';
import { initDenoiser, applyDenoiser, type DenoiserConfig } from '../../packages/ddpm/src/index.ts';

const arg = (k: string, d: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d;
const quick = process.argv.includes('--quick');
const reps = Number(arg('reps', quick ? '3' : '15'));
const backend = await T.setBackend(arg('backend', 'webasm') as T.BackendName);
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];

/** Time `fns` interleaved: each rep runs every contender `inner` times. Returns medians per call (us). */
function race(fns: Record<string, () => void>, inner: number): Record<string, { wall: number; cpu: number }> {
  for (let w = 0; w < 3; w++) for (const f of Object.values(fns)) f(); // warm-up (traces, first-replay kernel builds)
  const wall: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    for (const [k, f] of Object.entries(fns)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < inner; i++) f();
      const dt = performance.now() - t0;
      const dc = process.cpuUsage(c0);
      (wall[k] ??= []).push((dt * 1000) / inner);
      (cpu[k] ??= []).push((dc.user + dc.system) / inner);
    }
  }
  return Object.fromEntries(Object.keys(fns).map((k) => [k, { wall: med(wall[k]), cpu: med(cpu[k]) }]));
}

/** The same for one async contender (timed alone after the interleaved ones). */
async function raceAsync(f: () => Promise<void>, inner: number): Promise<{ wall: number; cpu: number }> {
  for (let w = 0; w < 3; w++) await f();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) await f();
    wall.push(((performance.now() - t0) * 1000) / inner);
    const dc = process.cpuUsage(c0);
    cpu.push((dc.user + dc.system) / inner);
  }
  return { wall: med(wall), cpu: med(cpu) };
}

const rows: Record<string, unknown>[] = [];
const load0 = loadavg();

// ------------------------------------------------------------------ 1. elementwise chain
const N_OPS = 20;
const chain = (x: Tensor, a: Tensor, b: Tensor) =>
  T.tidy(() => {
    let v = x;
    for (let i = 0; i < N_OPS / 4; i++) v = T.neg(T.sub(T.add(T.mul(v, a), b), a));
    return v;
  });
for (const n of quick ? [1024] : [1024, 65536]) {
  const x = T.randomNormal(T.randomKey(1), [n]);
  const a = T.randomNormal(T.randomKey(2), [n]);
  const b = T.randomNormal(T.randomKey(3), [n]);
  const replay = compileStep(chain, null, { fuse: false });
  const fused = compileStep(chain);
  const piped = compileStep(chain, null, { fuse: false });
  piped(x, a, b).dispose(); // trace
  const pr = await piped.pipeline(x, a, b);
  const check = [chain(x, a, b), replay(x, a, b), fused(x, a, b), pr].map((t) => t.dataSync());
  const same = check.every((v) => v.every((q, i) => Object.is(q, check[0][i])));
  T.dispose([check]);
  const res = race(
    {
      eager: () => chain(x, a, b).dispose(),
      replay: () => replay(x, a, b).dispose(),
      fused: () => fused(x, a, b).dispose(),
    },
    n > 4096 ? 5 : 50,
  );
  const pres = await raceAsync(() => piped.pipeline(x, a, b).then((t) => t.dispose()), n > 4096 ? 5 : 50);
  const pinfo = piped.report().plans[0].pipeline!;
  const rep = fused.report().plans[0];
  const row = {
    case: `elementwise chain, ${N_OPS} ops, ${n} floats`,
    'eager us/op': +(res.eager.wall / N_OPS).toFixed(2),
    'replay us/op': +(res.replay.wall / N_OPS).toFixed(2),
    'fused us/op': +(res.fused.wall / N_OPS).toFixed(2),
    'eager cpu-us/op': +(res.eager.cpu / N_OPS).toFixed(2),
    'replay cpu-us/op': +(res.replay.cpu / N_OPS).toFixed(2),
    'fused cpu-us/op': +(res.fused.cpu / N_OPS).toFixed(2),
    'pipeline us/op': +(pres.wall / N_OPS).toFixed(2),
    'pipeline cpu-us/op': +(pres.cpu / N_OPS).toFixed(2),
    'pipeline executor': pinfo.kind,
    'eager / fused': +(res.eager.wall / res.fused.wall).toFixed(2),
    'primitive calls': rep.primitiveCalls,
    'fused plan steps': rep.steps,
    'bit-identical': same,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
  T.dispose([x, a, b]);
  replay.dispose();
  fused.dispose();
  piped.dispose();
}

// ------------------------------------------------------------------ 2. demo MLP training step
const cfg: DenoiserConfig = { dim: 2, hidden: 64, layers: 3, timeEmbedDim: 32, xEmbedDim: 16, xEmbedScale: 25 };
const B = quick ? 64 : 256;
const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.01];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type P = any;
/**
 * One training step: eps-prediction MSE at timesteps t with per-sample sqrt(alpha_bar) and
 * sqrt(1 - alpha_bar) (host-gathered, arguments), then AdamW whose per-step host values
 * (lr, the two bias corrections) are number arguments: nothing varying is baked in.
 */
function trainStep(params: P, mu: P, nu: P, x0: Tensor, noise: Tensor, t: Tensor, sab: Tensor, s1ab: Tensor, lr: number | Tensor, bc1: number | Tensor, bc2: number | Tensor) {
  return T.tidy(() => {
    const loss = (p: P) => {
      const xt = T.add(T.mul(x0, sab), T.mul(noise, s1ab));
      return T.mean(T.square(T.sub(applyDenoiser(p, xt, t, cfg), noise)));
    };
    const [l, g] = valueAndGrad(loss)(params);
    const [pl, def] = T.treeFlatten(params);
    const gl = T.treeLeaves(g) as Tensor[];
    const ml = T.treeLeaves(mu) as Tensor[];
    const vl = T.treeLeaves(nu) as Tensor[];
    const np: Tensor[] = [], nm: Tensor[] = [], nv: Tensor[] = [];
    (pl as Tensor[]).forEach((p, i) => {
      const m = T.add(T.mul(ml[i], b1), T.mul(gl[i], 1 - b1));
      const v = T.add(T.mul(vl[i], b2), T.mul(T.square(gl[i]), 1 - b2));
      const upd = T.add(T.div(T.div(m, bc1), T.add(T.sqrt(T.div(v, bc2)), eps)), T.mul(p, wd));
      np.push(T.sub(p, T.mul(upd, lr)));
      nm.push(m);
      nv.push(v);
    });
    return { params: T.treeUnflatten(def, np), mu: T.treeUnflatten(def, nm), nu: T.treeUnflatten(def, nv), loss: l };
  });
}
{
  const params0 = initDenoiser(T.randomKey(0), cfg);
  const zeros = () => T.treeMap((p: Tensor) => T.zerosLike(p), params0);
  const x0 = T.randomNormal(T.randomKey(4), [B, 2]);
  const noise = T.randomNormal(T.randomKey(5), [B, 2]);
  const t = T.tensor(Float64Array.from({ length: B }, (_, i) => (i * 37) % 1000));
  const sab = T.tensor(Float64Array.from({ length: B }, (_, i) => Math.sqrt(1 - ((i * 37) % 1000) / 1000)), [B, 1]);
  const s1ab = T.tensor(Float64Array.from({ length: B }, (_, i) => Math.sqrt(((i * 37) % 1000) / 1000 + 1e-3)), [B, 1]);
  const compiled = compileStep(trainStep);
  const replayOnly = compileStep(trainStep, null, { fuse: false });
  const piped = compileStep(trainStep);
  // each contender trains its own copy from the same start
  const state: Record<string, { p: P; m: P; v: P; step: number }> = {};
  const fns: Record<string, typeof trainStep> = { eager: trainStep, replay: replayOnly, fused: compiled, pipeline: piped };
  for (const k of Object.keys(fns)) state[k] = { p: T.treeMap((q: Tensor) => T.clone(q), params0), m: zeros(), v: zeros(), step: 0 };
  const run = (k: string) => () => {
    const s = state[k];
    const n = ++s.step;
    const r = fns[k](s.p, s.m, s.v, x0, noise, t, sab, s1ab, 6e-3, 1 - b1 ** n, 1 - b2 ** n);
    T.dispose([s.p, s.m, s.v, r.loss]);
    Object.assign(s, { p: r.params, m: r.mu, v: r.nu });
  };
  const res = race({ eager: run('eager'), replay: run('replay'), fused: run('fused') }, quick ? 2 : 5);
  // the pipeline contender: its first call traces; later calls run the plan as one gpu.js pipeline
  const runPiped = async () => {
    const s = state.pipeline;
    const n = ++s.step;
    const r = s.step === 1 ? piped(s.p, s.m, s.v, x0, noise, t, sab, s1ab, 6e-3, 1 - b1 ** n, 1 - b2 ** n) : await piped.pipeline(s.p, s.m, s.v, x0, noise, t, sab, s1ab, 6e-3, 1 - b1 ** n, 1 - b2 ** n);
    T.dispose([s.p, s.m, s.v, r.loss]);
    Object.assign(s, { p: r.params, m: r.mu, v: r.nu });
  };
  const pres = await raceAsync(runPiped, quick ? 2 : 5);
  const pinfo = piped.report().plans[0].pipeline!;
  // all three took the same number of steps from the same start: compare parameters
  const maxDiff = (a: P, b: P) => Math.max(...(T.treeLeaves(a) as Tensor[]).map((x, i) => {
    const u = x.dataSync();
    const w = (T.treeLeaves(b) as Tensor[])[i].dataSync();
    return Math.max(0, ...Array.from(u, (q, j) => Math.abs(q - w[j])));
  }));
  const rep = compiled.report().plans[0];
  const row = {
    case: `demo MLP step (3x64 SiLU, Fourier x, batch ${B}, AdamW)`,
    'eager ms': +(res.eager.wall / 1000).toFixed(3),
    'replay ms': +(res.replay.wall / 1000).toFixed(3),
    'fused ms': +(res.fused.wall / 1000).toFixed(3),
    'eager cpu-ms': +(res.eager.cpu / 1000).toFixed(3),
    'replay cpu-ms': +(res.replay.cpu / 1000).toFixed(3),
    'fused cpu-ms': +(res.fused.cpu / 1000).toFixed(3),
    'pipeline ms': +(pres.wall / 1000).toFixed(3),
    'pipeline cpu-ms': +(pres.cpu / 1000).toFixed(3),
    'pipeline executor': `${pinfo.kind} (${pinfo.kernelCalls} kernel calls)`,
    'eager / fused': +(res.eager.wall / res.fused.wall).toFixed(2),
    'primitive calls': rep.primitiveCalls,
    'dead calls': rep.deadCalls,
    'fused plan steps': rep.steps,
    'fused chains': rep.fusedChains,
    'max |param diff| replay vs eager': maxDiff(state.replay.p, state.eager.p),
    'max |param diff| fused vs eager': maxDiff(state.fused.p, state.eager.p),
    'pipeline steps (not compared: it ran a different number of steps)': state.pipeline.step,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
  for (const s of Object.values(state)) T.dispose([s.p, s.m, s.v]);
  T.dispose([params0, x0, noise, t, sab, s1ab]);
  compiled.dispose();
  replayOnly.dispose();
  piped.dispose();
}

const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const md = [
  `# @tapegrad/compile vs eager, ${backend}, ${new Date().toISOString()}`,
  '',
  `${reps} interleaved reps, medians (wall and process CPU time); loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared with other work).`,
  "'replay' = compiled plan without fusion (every primitive its own backend call, no op wrappers/tape/user code); 'fused' = the same with elementwise chains fused into one kernel each. 'pipeline' = compiled.pipeline(): the unfused plan's kernel calls (one-output-per-thread kernels, no Array(4)) as one gpu.js createPipeline, timed alone after the three interleaved contenders.",
  '',
  ...rows.flatMap((r) => {
    const cols = Object.keys(r);
    return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, `| ${cols.map((c) => r[c]).join(' | ')} |`, ''];
  }),
  'Command: `npx tsx bench/micro/compile.ts ' + process.argv.slice(2).join(' ') + '`',
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/compile-${stamp}.json`, JSON.stringify({ backend, reps, load0, load1, rows }, null, 1));
  writeFileSync(`bench/results/compile-${stamp}.md`, md);
}
console.log(md);
