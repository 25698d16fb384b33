// Memory over many training steps of the reference UNet (issue 11: "memory flat over 1,000
// steps"): the same step as bench/unet-step.ts (epsilon loss, vjp, Adam) at a small batch,
// `--steps` times, sampling every `--every` steps: live tensors, backend storages
// (T.memory().allocations), kernel builds, the process's RSS and V8 heap. Flat means: live
// tensors and storages identical at every sample after step 1, no kernel built after step 1,
// and RSS/heap without a trend (the last quarter's median within `--slack` MB of the second
// quarter's). Exits 1 when not flat.
// Run: npx tsx bench/memory-flat.ts [--steps=1000] [--batch=2] [--every=50] [--slack=64]
// Writes bench/results/memory-flat-<UTC>.{json,md}.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as T from '../packages/tensor/src/index.ts';
import * as nn from '../packages/nn/src/index.ts';
import { vjp } from '../packages/autograd/src/index.ts';
import { alphaBar, drawTimesteps, fakeDigits, noisyInput, unetInit, unetLoss, type UNetParams } from './unet.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const STEPS = arg('steps', 1000);
const B = arg('batch', 2);
const EVERY = arg('every', 50);
const SLACK = arg('slack', 64);
// the RSS/heap trend compares medians of the second and the last quarter of the samples after step 1
if (!(Math.floor(STEPS / EVERY) >= 8)) {
  throw new Error(`memory-flat: --steps=${STEPS} --every=${EVERY} gives ${Math.floor(STEPS / EVERY)} samples after step 1; expected at least 8 (the trend compares quarters of them)`);
}
const abar = alphaBar(1000);
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

T.setBackend('webasm');
let params: UNetParams = unetInit(T.randomKey(1));
const adam = nn.adam({ learningRate: 2e-4 });
let state = adam.init(params);
const x0 = T.tensor(fakeDigits(B, rand), [B, 1, 28, 28]);
let key = T.randomKey(3);

function step(): number {
  const ts = drawTimesteps(B, rand);
  const [k1, k2] = T.splitKey(key, 2);
  key = k1;
  const eps = T.randomNormal(k2, [B, 1, 28, 28]);
  const xt = noisyInput(abar, x0, ts, eps);
  const [loss, fn] = vjp((p) => unetLoss(p as UNetParams, xt, ts, eps), params);
  const one = T.onesLike(loss as T.Tensor);
  const [g] = fn(one);
  fn.dispose();
  ({ params, state } = adam.step(g as UNetParams, state, params));
  const lv = (loss as T.Tensor).dataSync()[0];
  T.dispose([eps, xt, one, loss as T.Tensor]);
  return lv;
}

interface Sample { step: number; tensors: number; allocations: number; builds: number; rssMB: number; heapMB: number; loss: number; sPerStep: number }
const samples: Sample[] = [];
const load0 = os.loadavg();
let t0 = performance.now();
for (let s = 1; s <= STEPS; s++) {
  const loss = step();
  if (s === 1 || s % EVERY === 0) {
    const m = T.memory();
    const mu = process.memoryUsage();
    const now = performance.now();
    samples.push({ step: s, tensors: m.tensors, allocations: m.allocations ?? NaN, builds: T.kernelBuilds('webasm'), rssMB: +(mu.rss / 2 ** 20).toFixed(1), heapMB: +(mu.heapUsed / 2 ** 20).toFixed(1), loss: +loss.toFixed(4), sPerStep: +((now - t0) / 1000 / (s === 1 ? 1 : EVERY)).toFixed(3) });
    t0 = now;
    console.error(JSON.stringify(samples[samples.length - 1]));
  }
}
const load1 = os.loadavg();
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const after = samples.filter((x) => x.step >= EVERY);
const q = Math.floor(after.length / 4);
const trend = (k: 'rssMB' | 'heapMB') => +(med(after.slice(3 * q).map((x) => x[k])) - med(after.slice(q, 2 * q).map((x) => x[k]))).toFixed(1);
const verdict = {
  tensorsFlat: after.every((x) => x.tensors === after[0].tensors),
  allocationsFlat: after.every((x) => x.allocations === after[0].allocations),
  noBuildsAfterStep1: after.every((x) => x.builds === samples[0].builds),
  rssTrendMB: trend('rssMB'),
  heapTrendMB: trend('heapMB'),
};
const flat = verdict.tensorsFlat && verdict.allocationsFlat && verdict.noBuildsAfterStep1 && Math.abs(verdict.rssTrendMB) <= SLACK && Math.abs(verdict.heapTrendMB) <= SLACK;
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const cmd = `npx tsx bench/memory-flat.ts ${process.argv.slice(2).join(' ')}`.trim();
const cols = Object.keys(samples[0]) as (keyof Sample)[];
const md = [
  `# Memory over ${STEPS} reference-UNet training steps (batch ${B}, webasm), ${new Date().toISOString()}`,
  '',
  `loadavg ${load0.map((v) => v.toFixed(2)).join(' ')} -> ${load1.map((v) => v.toFixed(2)).join(' ')}. Verdict: **${flat ? 'flat' : 'NOT flat'}** — live tensors constant after step 1: ${verdict.tensorsFlat}; backend storages constant: ${verdict.allocationsFlat}; no kernel built after step 1: ${verdict.noBuildsAfterStep1}; RSS trend (median of the last quarter minus the second quarter) ${verdict.rssTrendMB} MB, V8 heap ${verdict.heapTrendMB} MB (slack ${SLACK} MB).`,
  '',
  `| ${cols.join(' | ')} |`,
  `|${cols.map(() => '---').join('|')}|`,
  ...samples.map((x) => `| ${cols.map((c) => x[c]).join(' | ')} |`),
  '',
  `Command: \`${cmd}\``,
  '',
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/memory-flat-${stamp}.json`, JSON.stringify({ date: new Date().toISOString(), command: cmd, steps: STEPS, batch: B, load0, load1, verdict, flat, samples }, null, 1));
writeFileSync(`bench/results/memory-flat-${stamp}.md`, md);
console.log(md);
console.log(`memory-flat: ${flat ? 'flat' : 'NOT flat'} over ${STEPS} steps (tensors ${after[0]?.tensors}, storages ${after[0]?.allocations}, RSS trend ${verdict.rssTrendMB} MB)`);
process.exit(flat ? 0 : 1);
