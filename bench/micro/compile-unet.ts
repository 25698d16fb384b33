// The reference DDPM UNet (bench/unet.ts) training step, eager vs compileStep (replay with
// fused elementwise chains and multi-tensor Adam kernels), webasm, interleaved steps, medians.
// The step takes every per-step value as an argument: x0, noise, the timestep embedding
// [B, 32], sqrt(abar_t) and sqrt(1 - abar_t) [B, 1, 1, 1], and Adam's lr and bias corrections.
// Run: npx tsx bench/micro/compile-unet.ts [--batch=4] [--steps=4]
// Writes bench/results/compile-unet-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import * as nn from '@tapegrad/nn';
import { compileStep } from '@tapegrad/compile';
import { ADAM, alphaBar, drawTimesteps, fakeDigits, noiseCoefficients, unetAdamStep, unetInit } from '../unet.ts';

const arg = (k: string, d: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d;
const B = Number(arg('batch', '4'));
const STEPS = Number(arg('steps', '4'));
await T.setBackend('webasm');
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const { b1, b2 } = ADAM;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type P = any;
const step = unetAdamStep;

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const abar = alphaBar(1000);
const p0 = unetInit(T.randomKey(0));
const zeros = () => T.treeMap((q: Tensor) => T.zerosLike(q), p0);
const compiled = compileStep(step);
const st: Record<string, { p: P; m: P; v: P; n: number; ms: number[]; cpu: number[]; losses: number[] }> = {};
for (const k of ['eager', 'compiled']) st[k] = { p: T.treeMap((q: Tensor) => T.clone(q), p0), m: zeros(), v: zeros(), n: 0, ms: [], cpu: [], losses: [] };
const load0 = loadavg();
let firstCompiledMs = 0;
for (let s = 0; s < STEPS; s++) {
  // the same batch for both contenders
  const ts = drawTimesteps(B, rand);
  const x0 = T.tensor(fakeDigits(B, rand), [B, 1, 28, 28]);
  const noise = T.randomNormal(T.randomKey(100 + s), [B, 1, 28, 28]);
  const emb = nn.sinusoidalEmbedding(ts, 32, { downscaleFreqShift: 0 });
  const [sab, s1ab] = noiseCoefficients(abar, ts);
  for (const k of ['eager', 'compiled']) {
    const c = st[k];
    const n = ++c.n;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = (k === 'eager' ? step : compiled)(c.p, c.m, c.v, x0, noise, emb, sab, s1ab, 2e-4, 1 - b1 ** n, 1 - b2 ** n);
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    if (s === 0 && k === 'compiled') firstCompiledMs = dt;
    else if (s > 0) {
      c.ms.push(dt);
      c.cpu.push((dc.user + dc.system) / 1000);
    }
    c.losses.push(r.loss.dataSync()[0]);
    T.dispose([c.p, c.m, c.v, r.loss]);
    Object.assign(c, { p: r.p, m: r.mu, v: r.nu });
  }
  T.dispose([x0, noise, emb, sab, s1ab]);
  console.log(`step ${s}: loss eager ${st.eager.losses[s]} compiled ${st.compiled.losses[s]}`);
}
const rep = compiled.report().plans[0];
// the parameters after the last step, element by element
const pe = (T.treeLeaves(st.eager.p) as Tensor[]).map((t) => t.dataSync());
const pc = (T.treeLeaves(st.compiled.p) as Tensor[]).map((t) => t.dataSync());
let paramsDiffer = 0;
let paramsTotal = 0;
let maxParamDiff = 0;
pe.forEach((a, i) => a.forEach((v, j) => {
  const d = Math.abs(v - pc[i][j]);
  paramsTotal++;
  if (!Object.is(v, pc[i][j])) paramsDiffer++;
  if (d > maxParamDiff || Number.isNaN(d)) maxParamDiff = d;
}));
const lossesDiffer = st.eager.losses.filter((l, i) => !Object.is(l, st.compiled.losses[i])).length;
const row = {
  case: `reference UNet step, batch ${B}, Adam`,
  'eager ms': +med(st.eager.ms).toFixed(1),
  'compiled ms': +med(st.compiled.ms).toFixed(1),
  'eager cpu-ms': +med(st.eager.cpu).toFixed(1),
  'compiled cpu-ms': +med(st.compiled.cpu).toFixed(1),
  'eager / compiled (cpu)': +(med(st.eager.cpu) / med(st.compiled.cpu)).toFixed(2),
  'eager img/s (cpu)': +((B * 1000) / med(st.eager.cpu)).toFixed(2),
  'compiled img/s (cpu)': +((B * 1000) / med(st.compiled.cpu)).toFixed(2),
  'first compiled call (trace) ms': +firstCompiledMs.toFixed(0),
  'primitive calls': rep.primitiveCalls,
  'dead calls': rep.deadCalls,
  'plan steps': rep.steps,
  'fused chains': rep.fusedChains,
  'multi-tensor kernels': rep.multiTensorKernels,
  'max |loss diff|': Math.max(...st.eager.losses.map((l, i) => Math.abs(l - st.compiled.losses[i]))),
  'steps whose loss differs': `${lossesDiffer} of ${STEPS}`,
  'params that differ after the last step': `${paramsDiffer} of ${paramsTotal} (max ${maxParamDiff})`,
};
console.log(JSON.stringify(row));
const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const cols = Object.keys(row);
const md = [
  `# reference UNet step, eager vs compileStep, webasm, ${new Date().toISOString()}`,
  '',
  `${STEPS} interleaved steps (the first, the compiled trace, not timed), medians; loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared).`,
  '',
  `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, `| ${cols.map((c) => (row as Record<string, unknown>)[c]).join(' | ')} |`,
  '',
  'Command: `npx tsx bench/micro/compile-unet.ts ' + process.argv.slice(2).join(' ') + '`',
  '',
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/compile-unet-${stamp}.json`, JSON.stringify({ batch: B, steps: STEPS, load0, load1, row, losses: { eager: st.eager.losses, compiled: st.compiled.losses } }, null, 1));
writeFileSync(`bench/results/compile-unet-${stamp}.md`, md);
console.log(md);
for (const c of Object.values(st)) T.dispose([c.p, c.m, c.v]);
T.dispose(p0);
compiled.dispose();
