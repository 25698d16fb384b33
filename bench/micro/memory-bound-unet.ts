// The memory-bound kernels inside the reference UNet's training step (bench/unet.ts), flat vs
// thread-id, in one process: forward + backward (vjp of the mean squared output) per step, the
// webasm backend's `tidKernels` switch flipped between interleaved steps, every kernel call's
// process CPU time recorded by kernel family. "memory-bound" = every kernel except the
// convolution / matmul ones (conv2d*, conv2dFilterGrad*, dilatePad, convTransposeWeight,
// matmul*), so the conv inputs' padding counts here. Medians over the timed steps.
// Run: npx tsx bench/micro/memory-bound-unet.ts [--batch=16] [--reps=3]
// Writes bench/results/memory-bound-unet-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '../../packages/tensor/src/index.ts';
import { vjp } from '../../packages/autograd/src/index.ts';
import { fakeDigits, unetApply, unetInit } from '../unet.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const B = arg('batch', 16);
const reps = arg('reps', 3);
await T.setBackend('webasm');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const be = T.findBackend('webasm') as any;
const p = unetInit(T.randomKey(0));
const x = T.tensor(fakeDigits(B), [B, 1, 28, 28]);
const ts = Array.from({ length: B }, (_, i) => (i * 37) % 1000);
const COMPUTE = /^(conv2d|conv2dFilterGrad|dilatePad|convTransposeWeight|matmul)/;
let rec: Map<string, number> | null = null;
const exec = be.exec.bind(be);
const execBlocked = be.execBlocked.bind(be);
const timed = (orig: (...a: unknown[]) => unknown) => (spec: { key: string }, ...rest: unknown[]) => {
  const t0 = process.cpuUsage();
  const r = orig(spec, ...rest);
  const d = process.cpuUsage(t0);
  if (rec) {
    const fam = spec.key.split(':').slice(0, 2).join(':');
    rec.set(fam, (rec.get(fam) ?? 0) + (d.user + d.system) / 1000);
  }
  return r;
};
be.exec = timed(exec);
be.execBlocked = timed(execBlocked);
const step = () => {
  const [out, back] = vjp((pp: unknown) => T.mean(T.square(unetApply(pp as never, x, ts))), p);
  const one = T.scalar(1);
  const g = back(one);
  back.dispose();
  T.dispose([out, g, one]);
};
const modes: [string, boolean][] = [['flat', false], ['tid', true]];
for (const [, on] of modes) { be.tidKernels = on; step(); }
const load0 = loadavg();
const samples: Record<string, Map<string, number>[]> = { flat: [], tid: [] };
const stepMs: Record<string, number[]> = { flat: [], tid: [] };
for (let r = 0; r < reps; r++) {
  for (const [k, on] of modes) {
    be.tidKernels = on;
    rec = new Map();
    const t0 = process.cpuUsage();
    step();
    const d = process.cpuUsage(t0);
    samples[k].push(rec);
    stepMs[k].push((d.user + d.system) / 1000);
    rec = null;
    console.log(`${k} step ${r}: ${((d.user + d.system) / 1000).toFixed(0)} ms CPU`);
  }
}
be.tidKernels = true;
const load1 = loadavg();
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const sumOf = (m: Map<string, number>, pred: (k: string) => boolean) => [...m].filter(([k]) => pred(k)).reduce((s, [, v]) => s + v, 0);
const mb = (k: string) => !COMPUTE.test(k);
const classOf = (k: string) => (k.startsWith('binary') ? 'elementwise binary' : k.startsWith('unary') ? 'elementwise unary' : k.startsWith('reduce') ? 'reductions' : k.startsWith('where') ? 'where' : 'movement (strided, pad, concat, copy, gather)');
const classes = ['elementwise binary', 'elementwise unary', 'reductions', 'movement (strided, pad, concat, copy, gather)', 'where'];
const rows = classes.map((c) => {
  const v = (k: string) => med(samples[k].map((m) => sumOf(m, (f) => mb(f) && classOf(f) === c)));
  return { class: c, 'flat ms': +v('flat').toFixed(0), 'tid ms': +v('tid').toFixed(0), 'flat / tid': +(v('flat') / Math.max(v('tid'), 1e-9)).toFixed(2) };
});
const tot = (k: string) => med(samples[k].map((m) => sumOf(m, mb)));
const all = (k: string) => med(samples[k].map((m) => sumOf(m, () => true)));
rows.push({ class: '**all memory-bound kernel calls**', 'flat ms': +tot('flat').toFixed(0), 'tid ms': +tot('tid').toFixed(0), 'flat / tid': +(tot('flat') / tot('tid')).toFixed(2) });
rows.push({ class: 'conv / matmul kernel calls', 'flat ms': +(all('flat') - tot('flat')).toFixed(0), 'tid ms': +(all('tid') - tot('tid')).toFixed(0), 'flat / tid': +((all('flat') - tot('flat')) / (all('tid') - tot('tid'))).toFixed(2) });
rows.push({ class: 'whole step (forward + backward, process CPU)', 'flat ms': +med(stepMs.flat).toFixed(0), 'tid ms': +med(stepMs.tid).toFixed(0), 'flat / tid': +(med(stepMs.flat) / med(stepMs.tid)).toFixed(2) });
const share = (k: string) => (tot(k) / med(stepMs[k])) * 100;
const cols = Object.keys(rows[0]);
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const md = [
  `# memory-bound kernels in the UNet step: flat vs thread-id, ${new Date().toISOString()}`,
  '',
  `Reference UNet (bench/unet.ts), batch ${B}, forward + backward, ${reps} interleaved steps per mode after one warm-up each; medians of process CPU time per kernel class. Memory-bound share of the step: flat ${share('flat').toFixed(1)}%, thread-id ${share('tid').toFixed(1)}%. loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared).`,
  '',
  `| ${cols.join(' | ')} |`,
  `|${cols.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${cols.map((c) => (r as Record<string, unknown>)[c]).join(' | ')} |`),
  '',
  'Command: `npx tsx bench/micro/memory-bound-unet.ts ' + process.argv.slice(2).join(' ') + '`',
  '',
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/memory-bound-unet-${stamp}.json`, JSON.stringify({ batch: B, reps, load0, load1, rows, stepMs, samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((m) => Object.fromEntries(m))])) }, null, 1));
writeFileSync(`bench/results/memory-bound-unet-${stamp}.md`, md);
console.log(md);
T.dispose([x]);
