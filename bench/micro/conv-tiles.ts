// Register tiles of the blocked 3x3 conv (webasm): 2 rows x 2 channels (Array(4), what any
// gpu.js builds) against wider tiles (Array(8)/Array(16): gpu.js patch 8), at the reference
// UNet's conv shapes (bench/unet.ts), in one process, interleaved reps, medians of process CPU
// time (the box is shared), GFLOP/s and the ratio to 2x2. Results are checked equal to the 2x2
// kernel first (max abs diff column).
// The weight gradient (conv2dFilterGrad) is timed the same way with its kernels: 'gather' (4
// output channels per thread, the input read a 4-lane gather) against lanes over the kernel
// column with TC output channels per thread ('lanes TC': conv2dFilterGradLaneKernel).
// And the blocked matmul with 4 rows of `a` per thread against 8/16 (--matmul-rows).
// Run: npx tsx bench/micro/conv-tiles.ts [--reps=7] [--batch=16] [--tiles=2x2,4x2,2x4,4x4] [--dw-lanes=2,4,5] [--matmul-rows=8,16] [--quick]
// Writes bench/results/conv-tiles-<UTC>.{json,md} (not with --quick).
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { GpuJsBackend } from '../../packages/tensor/src/backends/gpujs.ts';
import type { ConvTile } from '../../packages/tensor/src/backends/kernels.ts';
import { agreeThenTime } from './contenders.ts';

const argv = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
const quick = process.argv.includes('--quick');
const reps = Number(argv('reps') ?? (quick ? 2 : 7));
const NB = Number(argv('batch') ?? (quick ? 4 : 16));
const tiles = (argv('tiles') ?? '2x2,4x2,2x4,4x4').split(',');
const lanes = (argv('dw-lanes') ?? '2,4,5').split(',').map(Number);
const tileContenders = tiles.map((spec) => {
  const be = new GpuJsBackend('webasm');
  be.convTile = spec.split('x').map(Number) as unknown as ConvTile;
  return [spec, be] as const;
});
const mmRows = (argv('matmul-rows') ?? '8,16').split(',').map(Number);
const mmContenders = [4, ...mmRows].map((r) => {
  const be = new GpuJsBackend('webasm');
  be.matmulRows = r;
  return [`rows ${r}`, be] as const;
});
const dwContenders = [0, ...lanes].map((l) => {
  const be = new GpuJsBackend('webasm');
  be.filterGradLanes = l;
  return [l ? `lanes ${l}` : 'gather', be] as const;
});
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
type Case = { name: string; flops: number; dw?: boolean; mm?: boolean; run: (b: GpuJsBackend) => Float32Array };
const cases: Case[] = [];
const attrs = (s: number) => ({ stride: [s, s], padding: [1, 1], dilation: [1, 1], groups: 1 }) as never;
for (const [H, C, O, s] of [[28, 32, 32, 1], [14, 64, 64, 1], [7, 64, 64, 1], [28, 32, 32, 2], [14, 128, 64, 1]]) {
  const Ho = Math.floor((H - 1) / s) + 1;
  const x = rnd(NB * C * H * H), w = rnd(O * C * 9), dy = rnd(NB * O * Ho * Ho);
  const fl = 2 * NB * O * Ho * Ho * C * 9;
  const tag = `${H}x${H} ${C}->${O}${s === 2 ? ' stride 2' : ''}`;
  cases.push({ name: `conv fwd ${tag}`, flops: fl, run: (be) => be.conv2d(x, [NB, C, H, H], w, [O, C, 3, 3], attrs(s), [NB, O, Ho, Ho]) as Float32Array });
  cases.push({ name: `conv dw ${tag}`, flops: fl, dw: true, run: (be) => be.conv2dFilterGrad(x, [NB, C, H, H], dy, [NB, O, Ho, Ho], [O, C, 3, 3], attrs(s), [O, C, 3, 3]) as Float32Array });
  if (s === 1) cases.push({ name: `conv dx ${tag}`, flops: fl, run: (be) => be.convTranspose2d(dy, [NB, O, Ho, Ho], w, [O, C, 3, 3], { ...(attrs(s) as object), outputPadding: [0, 0] } as never, [NB, C, H, H]) as Float32Array });
}
for (const [M, K, N] of [[256, 256, 256], [512, 512, 512], [1024, 128, 128], [1024, 32, 96]]) {
  const a = rnd(M * K), b = rnd(K * N);
  cases.push({ name: `matmul ${M}x${K}x${N}`, flops: 2 * M * K * N, mm: true, run: (be) => be.matmul(a, [M, K], b, [K, N], [M, N]) as Float32Array });
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const load0 = loadavg();
const tables: Record<string, unknown>[][] = [[], [], []];
for (const c of cases) {
  const contenders = c.dw ? dwContenders : c.mm ? mmContenders : tileContenders;
  const rows = tables[c.dw ? 1 : c.mm ? 2 : 0];
  const [base] = contenders[0];
  const { times: t, maxAbsDiff: err } = agreeThenTime(c.name, contenders, c.run, reps);
  const row: Record<string, unknown> = { case: c.name };
  for (const [k] of contenders) row[`${k} GFLOP/s`] = +(c.flops / med(t[k]) / 1e6).toFixed(2);
  for (const [k] of contenders.slice(1)) row[`${k} / ${base}`] = +(med(t[base]) / med(t[k])).toFixed(2);
  // the fastest rep of each: less sensitive to the neighbours' load than the median
  for (const [k] of contenders.slice(1)) row[`${k} / ${base} best`] = +(Math.min(...t[base]) / Math.min(...t[k])).toFixed(2);
  row['max abs diff'] = +err.toExponential(1);
  row.load1 = +loadavg()[0].toFixed(2);
  rows.push(row);
  console.log(JSON.stringify(row));
}
const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const table = (rows: Record<string, unknown>[]) => {
  if (!rows.length) return [];
  const cols = Object.keys(rows[0]);
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`), ''];
};
const md = [`# conv register tiles (webasm), ${new Date().toISOString()}`, '', `batch ${NB}, ${reps} interleaved reps, medians of process CPU time (GFLOP/s of CPU time, one thread; 'best' columns: ratio of the fastest reps); tile = output rows x output channels per thread; loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared). 'conv dx' is convTranspose2d (a stride-1 conv2d of the zero-inserted dy).`, '', '## conv2d (forward, and dx through convTranspose2d)', '', ...table(tables[0]), '## conv2dFilterGrad (dw)', '', ...table(tables[1]), '## matmul (rows of a per thread)', '', ...table(tables[2]), 'Command: `npx tsx bench/micro/conv-tiles.ts ' + process.argv.slice(2).join(' ') + '`', ''].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/conv-tiles-${stamp}.json`, JSON.stringify({ batch: NB, reps, tiles, lanes, mmRows, load0, load1, conv: tables[0], filterGrad: tables[1], matmul: tables[2] }, null, 1));
  writeFileSync(`bench/results/conv-tiles-${stamp}.md`, md);
}
console.log(md);
