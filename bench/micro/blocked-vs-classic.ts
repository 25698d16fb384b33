// Old (one output per thread) vs new (register-blocked Array(4)) webasm kernels, side by side
// in one process, interleaved reps, medians; GFLOP/s of process CPU time (the box is shared:
// wall time swings 5x under load, CPU time much less) and the ratio new/old.
// Run: npx tsx bench/micro/blocked-vs-classic.ts [--reps=5] [--batch=64] [--quick] [--patched=gpu.js-h7]
// --patched=<dir under node_modules>: also load a second copy of gpu.js from there (e.g. one with
// H7's code-generator patch applied: cp -r node_modules/gpu.js node_modules/gpu.js-h7 &&
// patch -d node_modules/gpu.js-h7 -p3 < patches/gpu.js+2.24.1.patch) and time old and new kernels
// on it too, in the same process.
// --before=<dir>: also time the blocked kernels of another checkout of this repository (its own
// packages/tensor and node_modules, e.g. `git worktree add /tmp/before <rev> && cd /tmp/before &&
// npm ci && npm run setup`), as contender 'before', with the ratio new / before: the before/after
// of a kernel or code-generator change in one process.
// Writes bench/results/blocked-vs-classic-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { GpuJsBackend } from '../../packages/tensor/src/backends/gpujs.ts';
import { agreeThenTime } from './contenders.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const quick = process.argv.includes('--quick');
const reps = arg('reps', quick ? 2 : 5);
const NB = arg('batch', quick ? 8 : 64);
const old = new GpuJsBackend('webasm');
old.blocked = false;
const neu = new GpuJsBackend('webasm');
neu.blocked = true;
const patchedDir = process.argv.find((a) => a.startsWith('--patched='))?.split('=')[1];
const contenders: [string, GpuJsBackend][] = [['old', old], ['new', neu]];
if (patchedDir) {
  // a second copy of gpu.js, loaded from node_modules/<patchedDir> (its own module instances)
  const lib = createRequire(import.meta.url)(patchedDir);
  const req = createRequire(import.meta.url);
  const loaded = Object.keys(req.cache).filter((k) => k.includes(`/node_modules/${patchedDir}/`)).length;
  if (!loaded || lib === req('gpu.js')) throw new Error(`--patched=${patchedDir}: no separate gpu.js was loaded from node_modules/${patchedDir}`);
  const fnode = req(`${patchedDir}/src/backend/web-assembly/function-node.js`).WebAssemblyFunctionNode?.prototype ?? {};
  const patched = ['isIntCounter', 'collectIntCounters', 'vContiguousRead'].every((m) => typeof fnode[m] === 'function');
  console.log(`# +patch: ${loaded} modules loaded from node_modules/${patchedDir}; code-generator patch markers present: ${patched}`);
  if (!patched) throw new Error(`--patched=${patchedDir}: that gpu.js lacks the patch's entry points`);
  const po = new GpuJsBackend('webasm', '', lib);
  po.blocked = false;
  const pn = new GpuJsBackend('webasm', '', lib);
  pn.blocked = true;
  contenders.push(['old+patch', po], ['new+patch', pn]);
}
const beforeDir = process.argv.find((a) => a.startsWith('--before='))?.split('=')[1];
if (beforeDir) {
  const mod = await import(`${beforeDir.replace(/\/$/, '')}/packages/tensor/src/backends/gpujs.ts`);
  if (mod.GpuJsBackend === GpuJsBackend) throw new Error(`--before=${beforeDir}: that is this checkout`);
  const bb = new mod.GpuJsBackend('webasm');
  bb.blocked = true;
  contenders.push(['before', bb]);
}
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
  cases.push({ name: `conv fwd ${tag}`, flops: fl, run: (be) => be.conv2d(x, [NB, C, H, H], w, [O, C, 3, 3], attrs(s), [NB, O, Ho, Ho]) as Float32Array });
  if (s === 1) cases.push({ name: `conv dx ${tag}`, flops: fl, run: (be) => be.convTranspose2d(dy, [NB, O, Ho, Ho], w, [O, C, 3, 3], { ...(attrs(s) as object), outputPadding: [0, 0] } as never, [NB, C, H, H]) as Float32Array });
  else cases.push({ name: `conv dx ${tag}`, flops: fl, run: (be) => be.convTranspose2d(dy, [NB, O, Ho, Ho], w, [O, C, 3, 3], { ...(attrs(s) as object), outputPadding: [H % 2 === 0 ? 1 : 0, H % 2 === 0 ? 1 : 0] } as never, [NB, C, H, H]) as Float32Array });
  cases.push({ name: `conv dw ${tag}`, flops: fl, run: (be) => be.conv2dFilterGrad(x, [NB, C, H, H], dy, [NB, O, Ho, Ho], [O, C, 3, 3], attrs(s), [O, C, 3, 3]) as Float32Array });
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
const rows: Record<string, unknown>[] = [];
const load0 = loadavg();
for (const c of cases) {
  const { times: t, maxAbsDiff: err } = agreeThenTime(c.name, contenders, c.run, reps);
  const mo = med(t.old);
  const row: Record<string, unknown> = { case: c.name };
  for (const [k] of contenders) row[`${k} GFLOP/s`] = +(c.flops / med(t[k]) / 1e6).toFixed(2);
  for (const [k] of contenders.slice(1)) row[`${k} / old`] = +(mo / med(t[k])).toFixed(2);
  if (beforeDir) row['new / before'] = +(med(t.before) / med(t.new)).toFixed(2);
  row['max abs diff'] = +err.toExponential(1);
  row.load1 = +loadavg()[0].toFixed(2);
  rows.push(row);
  console.log(JSON.stringify(row));
}
const load1 = loadavg();
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '').replace('T', 'T');
const cols = Object.keys(rows[0]);
const md = [`# blocked vs classic webasm kernels, ${new Date().toISOString()}`, '', `batch ${NB}, ${reps} interleaved reps${patchedDir ? `, '+patch' = gpu.js loaded from node_modules/${patchedDir}` : ''}${beforeDir ? `, 'before' = the blocked kernels of the checkout ${beforeDir}` : ''}, medians of process CPU time; loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared)`, '', `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`), '', 'Command: `npx tsx bench/micro/blocked-vs-classic.ts ' + process.argv.slice(2).join(' ') + '`', ''].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/blocked-vs-classic-${stamp}.json`, JSON.stringify({ batch: NB, reps, patched: patchedDir ?? null, before: beforeDir ?? null, load0, load1, rows }, null, 1));
  writeFileSync(`bench/results/blocked-vs-classic-${stamp}.md`, md);
}
console.log(md);
