// The reference UNet training step (bench/unet.ts) with the wide conv tiles (gpu.js patch 8; the
// default) and with the Array(4) tiles only ('narrow': convTile [2, 2], the gather weight-gradient
// kernel, 4-row matmul), alternating step by step in one process. Every conv and matmul call is
// timed in process CPU time (the box is shared: CPU time swings less than wall time), by class,
// so the conv part of the step can be compared directly; plus the whole step's CPU time.
// Run: npx tsx bench/micro/conv-tiles-unet.ts [--batch=16] [--steps=4]
// Writes bench/results/conv-tiles-unet-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '../../packages/tensor/src/index.ts';
import * as nn from '../../packages/nn/src/index.ts';
import { vjp } from '../../packages/autograd/src/index.ts';
import { alphaBar, drawTimesteps, fakeDigits, noisyInput, unetInit, unetLoss, type UNetParams } from '../unet.ts';

const argv = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
const B = Number(argv('batch') ?? 16);
const STEPS = Number(argv('steps') ?? 4);
const abar = alphaBar();
let seed = 5;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const X0 = fakeDigits(B, rand);

type Be = { convTile: unknown; filterGradLanes: unknown; matmulRows: unknown } & Record<string, unknown>;
const be = T.findBackend('webasm') as unknown as Be;
const proto = Object.getPrototypeOf(be) as Record<string, (...a: unknown[]) => unknown>;
const cpuMs = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
let acc: Map<string, number> = new Map();
let depth = 0;
const stride = (a: unknown) => ((a as { stride: number[] }).stride[0] > 1 ? ' stride 2' : '');
const classes: Record<string, (args: unknown[]) => string> = {
  conv2d: (a) => `conv2d ${(a[3] as number[])[2]}x${(a[3] as number[])[3]}${stride(a[4])}`,
  convTranspose2d: (a) => `convTranspose2d (dx) ${(a[3] as number[])[2]}x${(a[3] as number[])[3]}${stride(a[4])}`,
  conv2dFilterGrad: (a) => `conv2dFilterGrad (dw) ${(a[4] as number[])[2]}x${(a[4] as number[])[3]}${stride(a[5])}`,
  matmul: () => 'matmul',
};
for (const m of Object.keys(classes)) {
  const orig = proto[m];
  be[m] = (...args: unknown[]) => {
    if (depth > 0) return orig.apply(be, args);
    depth++;
    const t0 = cpuMs();
    try { return orig.apply(be, args); } finally {
      depth--;
      const k = classes[m](args);
      acc.set(k, (acc.get(k) ?? 0) + cpuMs() - t0);
    }
  };
}

function contender(narrow: boolean) {
  let params: UNetParams = T.useBackend('webasm', () => unetInit(T.randomKey(1)));
  const adam = nn.adam({ learningRate: 2e-4 });
  let state = T.useBackend('webasm', () => adam.init(params));
  const x0 = T.useBackend('webasm', () => T.tensor(X0, [B, 1, 28, 28]));
  let key = T.randomKey(7);
  return () => T.useBackend('webasm', () => {
    [be.convTile, be.filterGradLanes, be.matmulRows] = narrow ? [[2, 2], 0, 4] : ['auto', 'auto', 'auto'];
    const ts = drawTimesteps(B, rand);
    const [k1, k2] = T.splitKey(key, 2);
    key = k1;
    const eps = T.randomNormal(k2, [B, 1, 28, 28]);
    const xt = noisyInput(abar, x0, ts, eps);
    const [loss, fn] = vjp((p) => unetLoss(p as UNetParams, xt, ts, eps), params);
    const one = T.onesLike(loss as T.Tensor);
    const [g] = fn(one);
    one.dispose();
    fn.dispose();
    ({ params, state } = adam.step(g as UNetParams, state, params));
    const lv = (loss as T.Tensor).dataSync()[0];
    T.dispose([loss as T.Tensor, eps, xt]);
    [be.convTile, be.filterGradLanes, be.matmulRows] = ['auto', 'auto', 'auto'];
    return lv;
  });
}
const runs = { wide: contender(false), narrow: contender(true) };
const rec: Record<string, { step: number; classes: Map<string, number> }[]> = { wide: [], narrow: [] };
const load0 = loadavg();
for (let s = -1; s < STEPS; s++) {
  for (const [name, step] of Object.entries(runs)) {
    acc = new Map();
    const t0 = cpuMs();
    const loss = step();
    const dt = cpuMs() - t0;
    if (s >= 0) rec[name].push({ step: dt, classes: acc });
    console.log(`${name} step ${s}${s < 0 ? ' (warm-up)' : ''}: ${dt.toFixed(0)} ms CPU, conv + matmul ${[...acc.values()].reduce((p, q) => p + q, 0).toFixed(0)} ms, loss ${loss.toFixed(4)}`);
  }
}
const load1 = loadavg();
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const keys = [...new Set(rec.wide.flatMap((r) => [...r.classes.keys()]))].sort();
const rows = keys.map((k) => {
  const w = med(rec.wide.map((r) => r.classes.get(k) ?? 0));
  const n = med(rec.narrow.map((r) => r.classes.get(k) ?? 0));
  return { class: k, 'narrow ms': +n.toFixed(0), 'wide ms': +w.toFixed(0), 'narrow / wide': +(n / w).toFixed(2) };
});
const sumOf = (name: string) => med(rec[name].map((r) => [...r.classes.values()].reduce((p, q) => p + q, 0)));
rows.push({ class: 'conv + matmul total', 'narrow ms': +sumOf('narrow').toFixed(0), 'wide ms': +sumOf('wide').toFixed(0), 'narrow / wide': +(sumOf('narrow') / sumOf('wide')).toFixed(2) });
const stepN = med(rec.narrow.map((r) => r.step));
const stepW = med(rec.wide.map((r) => r.step));
rows.push({ class: 'whole step', 'narrow ms': +stepN.toFixed(0), 'wide ms': +stepW.toFixed(0), 'narrow / wide': +(stepN / stepW).toFixed(2) });
const cols = Object.keys(rows[0]);
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const md = [`# UNet step, wide vs Array(4) conv tiles (webasm), ${new Date().toISOString()}`, '', `batch ${B}, ${STEPS} steps each after 1 warm-up, alternating; medians of process CPU time per step (one thread); loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared).`, '', `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => (r as Record<string, unknown>)[c]).join(' | ')} |`), '', 'Command: `npx tsx bench/micro/conv-tiles-unet.ts ' + process.argv.slice(2).join(' ') + '`', ''].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/conv-tiles-unet-${stamp}.json`, JSON.stringify({ batch: B, steps: STEPS, load0, load1, rows }, null, 1));
writeFileSync(`bench/results/conv-tiles-unet-${stamp}.md`, md);
console.log(md);
