// GroupNorm in the reference UNet's shapes (bench/unet.ts: GroupNorm(8) on 32, 64, 96 and 128
// channels at 28x28, 14x14 and 7x7), composite (the primitives nn.groupNorm used before: mean,
// sub, square, mean, add, rsqrt, mul, affine mul / add) vs the fused op (T.groupNorm), on
// webasm: forward alone, and forward + backward (vjp w.r.t. x, gamma, beta for a random
// cotangent). The two variants are interleaved rep by rep after one warm-up each; medians (and minima) of
// process CPU time (and wall time), plus the gpu.js kernel calls each variant makes.
// Run: npx tsx bench/micro/groupnorm.ts [--batch=16] [--reps=5]
// Writes bench/results/groupnorm-<UTC>.{json,md}.
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as T from '../../packages/tensor/src/index.ts';
import type { Tensor } from '../../packages/tensor/src/index.ts';
import { vjp } from '../../packages/autograd/src/index.ts';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const B = arg('batch', 16);
const reps = arg('reps', 5);
await T.setBackend('webasm');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const be = T.findBackend('webasm') as any;
let calls = 0;
for (const m of ['exec', 'execBlocked']) {
  const orig = be[m].bind(be);
  be[m] = (...a: unknown[]) => {
    calls++;
    return orig(...a);
  };
}

/** The composite nn.groupNorm had before the fused op (packages/nn/src/norm.ts, normalize). */
function composite(x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  return T.tidy(() => {
    const [N, C] = x.shape;
    const xr = T.reshape(x, [N, groups, -1]);
    const xc = T.sub(xr, T.mean(xr, [2], true));
    const v = T.mean(T.square(xc), [2], true);
    const y = T.reshape(T.mul(xc, T.rsqrt(T.add(v, eps))), x.shape);
    const bshape = [1, C, ...x.shape.slice(2).map(() => 1)];
    return T.add(T.mul(y, T.reshape(gamma, bshape)), T.reshape(beta, bshape));
  });
}
const fused = (x: Tensor, groups: number, gamma: Tensor, beta: Tensor) => T.groupNorm(x, groups, { gamma, beta });

// [channels, size, how many GroupNorms of this shape one UNet forward runs]
const SHAPES: [number, number, number][] = [
  [32, 28, 4], // resblock 32->32 gn1, gn2; up0 gn2; gnOut
  [96, 28, 1], // up0 gn1 (concat 64 + 32)
  [32, 14, 1], // resblock 32->64 gn1 (after the stride-2 conv)
  [64, 14, 2], // resblock 32->64 gn2; up1 gn2
  [128, 14, 1], // up1 gn1 (concat 64 + 64)
  [64, 7, 5], // mid1 gn1, gn2; attention norm; mid2 gn1, gn2
];
const variants = { composite, fused } as const;
type V = keyof typeof variants;
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

function measure(fn: () => void): { cpu: number; wall: number; calls: number } {
  const c0 = calls;
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  fn();
  const d = process.cpuUsage(t0);
  return { cpu: (d.user + d.system) / 1000, wall: performance.now() - w0, calls: calls - c0 };
}

const load0 = loadavg();
const rows: Record<string, unknown>[] = [];
const raw: Record<string, unknown> = {};
let key = 1;
for (const [C, S, count] of SHAPES) {
  const shape = [B, C, S, S];
  const k = T.splitKey(T.randomKey(key++), 4);
  const x = T.add(T.mul(T.randomNormal(k[0], shape), 2), 0.5);
  const g = T.randomNormal(k[1], shape);
  const gamma = T.add(T.randomNormal(k[2], [C]), 1);
  const beta = T.randomNormal(k[3], [C]);
  const run = (v: V, backward: boolean) => () => {
    if (!backward) {
      T.dispose(variants[v](x, 8, gamma, beta));
      return;
    }
    const [y, back] = vjp((xx, ga, bb) => variants[v](xx as Tensor, 8, ga as Tensor, bb as Tensor), x, gamma, beta);
    const grads = back(g);
    back.dispose();
    T.dispose([y, grads]);
  };
  for (const backward of [false, true]) {
    const s: Record<V, { cpu: number[]; wall: number[]; calls: number }> = { composite: { cpu: [], wall: [], calls: 0 }, fused: { cpu: [], wall: [], calls: 0 } };
    for (const v of ['composite', 'fused'] as V[]) measure(run(v, backward)); // warm-up (kernel builds)
    for (let r = 0; r < reps; r++) {
      for (const v of (r % 2 ? ['fused', 'composite'] : ['composite', 'fused']) as V[]) {
        const m = measure(run(v, backward));
        s[v].cpu.push(m.cpu);
        s[v].wall.push(m.wall);
        s[v].calls = m.calls;
      }
    }
    const what = `[${shape.join(',')}] g=8 ${backward ? 'fwd+bwd' : 'fwd'}`;
    raw[what] = s;
    const row = {
      shape: `[${shape.join(',')}]`,
      pass: backward ? 'fwd+bwd' : 'fwd',
      'per UNet fwd': count,
      'composite ms CPU': +med(s.composite.cpu).toFixed(1),
      'fused ms CPU': +med(s.fused.cpu).toFixed(1),
      'composite / fused': +(med(s.composite.cpu) / med(s.fused.cpu)).toFixed(2),
      'min composite / fused': `${Math.min(...s.composite.cpu).toFixed(1)} / ${Math.min(...s.fused.cpu).toFixed(1)}`,
      'composite ms wall': +med(s.composite.wall).toFixed(1),
      'fused ms wall': +med(s.fused.wall).toFixed(1),
      'kernel calls composite / fused': `${s.composite.calls} / ${s.fused.calls}`,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  T.dispose([x, g, gamma, beta, k]);
}
const load1 = loadavg();
const total = (col: string, pass: string) => rows.filter((r) => r.pass === pass).reduce((a, r) => a + (r[col] as number) * (r['per UNet fwd'] as number), 0);
const sums = ['fwd', 'fwd+bwd'].map((pass) => ({
  pass,
  composite: +total('composite ms CPU', pass).toFixed(0),
  fused: +total('fused ms CPU', pass).toFixed(0),
}));
const cols = Object.keys(rows[0]);
const stamp = new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(/[-:]/g, '');
const md = [
  `# GroupNorm: composite vs fused, webasm, ${new Date().toISOString()}`,
  '',
  `The reference UNet's GroupNorm(8) shapes at batch ${B}; ${reps} interleaved reps per variant after one warm-up each; medians of process CPU time and wall time per call, and the minimum CPU time (process CPU time includes garbage collection of the temporaries, which makes single reps vary by up to ~8x on this loaded box). loadavg before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')} (2 cores shared with other work).`,
  '',
  `| ${cols.join(' | ')} |`,
  `|${cols.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`),
  '',
  'Weighted by how many GroupNorms of each shape one UNet forward runs (14 in all), ms CPU:',
  '',
  '| pass | composite | fused | composite / fused |',
  '|---|---|---|---|',
  ...sums.map((s) => `| ${s.pass} | ${s.composite} | ${s.fused} | ${(s.composite / s.fused).toFixed(2)} |`),
  '',
  'Command: `npx tsx bench/micro/groupnorm.ts ' + process.argv.slice(2).join(' ') + '`',
  '',
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/groupnorm-${stamp}.json`, JSON.stringify({ batch: B, reps, load0, load1, rows, sums, raw }, null, 1));
writeFileSync(`bench/results/groupnorm-${stamp}.md`, md);
console.log(md);
