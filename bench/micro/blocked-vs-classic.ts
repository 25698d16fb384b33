// Old (one output per thread) vs new (register-blocked Array(4)) webasm kernels, side by side
// in one process, interleaved reps, medians; GFLOP/s of process CPU time (the box is shared:
// wall time swings 5x under load, CPU time much less) and the ratio new/old.
// Run: npx tsx bench/micro/blocked-vs-classic.ts [--reps=5] [--batch=64] [--quick]
// Writes bench/results/blocked-vs-classic-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { GpuJsBackend } from '../../packages/tensor/src/backends/gpujs.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const quick = process.argv.includes('--quick');
const reps = arg('reps', quick ? 2 : 5);
const NB = arg('batch', quick ? 8 : 64);
const old = new GpuJsBackend('webasm');
old.blocked = false;
const neu = new GpuJsBackend('webasm');
neu.blocked = true;
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
type Case = { name: string; flops: number; run: (b: GpuJsBackend) => Float32Array };
const cases: Case[] = [];
const attrs = (s: number) => ({ stride: [s, s], padding: [1, 1], dilation: [1, 1], groups: 1 }) as never;
for (const n of quick ? [128] : [256, 512]) {
  const a = rnd(n * n), b = rnd(n * n);
  cases.push({ name: `matmul ${n}`, flops: 2 * n ** 3, run: (be) => be.matmul(a, [n, n], b, [n, n], [n, n]) as Float32Array });
}
for (const [H, C, O, s] of [[28, 32, 32, 1], [14, 64, 64, 1], [7, 64, 64, 1], [28, 32, 32, 2], [14, 64, 64, 2], [28, 96, 32, 1], [14, 128, 64, 1]]) {
  const Ho = Math.floor((H - 1) / s) + 1;
  const x = rnd(NB * C * H * H), w = rnd(O * C * 9), dy = rnd(NB * O * Ho * Ho);
  const fl = 2 * NB * O * Ho * Ho * C * 9;
  const tag = `${H}x${H} ${C}->${O}${s === 2 ? ' stride 2' : ''}`;
  cases.push({ name: `conv fwd ${tag}`, flops: fl, run: (be) => be.conv2d(x, [NB, C, H, H], w, [O, C, 3, 3], attrs(s)) as Float32Array });
  if (s === 1) cases.push({ name: `conv dx ${tag}`, flops: fl, run: (be) => be.convTranspose2d(dy, [NB, O, Ho, Ho], w, [O, C, 3, 3], { ...(attrs(s) as object), outputPadding: [0, 0] } as never) as Float32Array });
  else cases.push({ name: `conv dx ${tag}`, flops: fl, run: (be) => be.convTranspose2d(dy, [NB, O, Ho, Ho], w, [O, C, 3, 3], { ...(attrs(s) as object), outputPadding: [H % 2 === 0 ? 1 : 0, H % 2 === 0 ? 1 : 0] } as never) as Float32Array });
  cases.push({ name: `conv dw ${tag}`, flops: fl, run: (be) => be.conv2dFilterGrad(x, [NB, C, H, H], dy, [NB, O, Ho, Ho], [O, C, 3, 3], attrs(s)) as Float32Array });
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const rows: Record<string, unknown>[] = [];
const load0 = loadavg();
for (const c of cases) {
  const r0 = c.run(old);
  const r1 = c.run(neu);
  let err = 0;
  let mx = 0;
  for (let i = 0; i < r0.length; i++) { err = Math.max(err, Math.abs(r0[i] - r1[i])); mx = Math.max(mx, Math.abs(r0[i])); }
  if (r0.length !== r1.length || !(err <= 1e-3 * Math.max(1, mx))) throw new Error(`${c.name}: old and new differ (max abs ${err}, lengths ${r0.length} vs ${r1.length})`);
  const t: Record<string, number[]> = { old: [], new: [] };
  for (let r = 0; r < reps; r++) {
    for (const [k, be] of [['old', old], ['new', neu]] as const) {
      const t0 = process.cpuUsage();
      c.run(be);
      const d = process.cpuUsage(t0);
      t[k].push((d.user + d.system) / 1000);
    }
  }
  const mo = med(t.old), mn = med(t.new);
  const row = { case: c.name, 'old ms': +mo.toFixed(1), 'new ms': +mn.toFixed(1), 'old GFLOP/s': +(c.flops / mo / 1e6).toFixed(2), 'new GFLOP/s': +(c.flops / mn / 1e6).toFixed(2), 'new/old speed': +(mo / mn).toFixed(2), 'max abs diff': +err.toExponential(1), load1: +loadavg()[0].toFixed(2) };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '').replace('T', 'T');
const cols = Object.keys(rows[0]);
const md = [`# blocked vs classic webasm kernels, ${new Date().toISOString()}`, '', `batch ${NB}, ${reps} interleaved reps, medians of process CPU time; loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared)`, '', `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`), '', 'Command: `npx tsx bench/micro/blocked-vs-classic.ts' + (quick ? ' --quick' : '') + '`', ''].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/blocked-vs-classic-${stamp}.json`, JSON.stringify({ batch: NB, reps, load0, load1, rows }, null, 1));
  writeFileSync(`bench/results/blocked-vs-classic-${stamp}.md`, md);
}
console.log(md);
