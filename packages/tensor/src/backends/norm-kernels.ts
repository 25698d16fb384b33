// gpu.js kernel sources of the fused GroupNorm (backend.ts groupNorm*), one set for every
// gpu.js mode. x is viewed as [N, C, HW] (HW = prod(spatial)); a group (n, g) is the
// contiguous block of Cg * HW elements of channels g*Cg .. g*Cg+Cg-1 of sample n.
//
// Shapes are Integer arguments (one compiled kernel per rank on webgpu, per shape signature
// on webasm), loops are bounded by arguments (the backend raises loopMaxIterations to
// MAX_ELEMENTS, so a group of 8 channels x 28x28 = 6272 elements is not cut at gpu.js's
// default 1000), and indices are written inline from thread ids, Integer arguments,
// integer literals and loop counters (the integer-clean form of the memory-bound kernels in
// kernels.ts):
// - the reductions (statistics, per-channel sums) follow reduceRowsKernel: output x is the
//   lane q = 0..3 of a quad that reads elements q, q+4, ... of each channel's HW run, i.e.
//   `<uniform> + this.thread.x`, one v128 load per quad under the patched webasm generator;
//   each channel's partial sum is kept apart (a block of HW terms), then a tiny kernel
//   combines the 4 lanes;
// - the elementwise passes (normalize + affine, dx) have output [HW, C, N]: x runs along
//   the spatial positions (contiguous reads), the per-(n, g) statistics and per-channel
//   gamma/beta are lane-uniform reads.
// Variance is two-pass (corrected): the mean first, then sums of the deviations from it and of
// their squares (never E[x^2] - E[x]^2, which loses every digit when |mean| >> std in float32).

import type { KernelSpec } from './kernels.ts';

const fn = (args: string[], body: string): string => `function (${args.join(', ')}) {\n  ${body}\n}`;
const ints = (n: number) => new Array<string>(n).fill('Integer');

/** Channel c's group g = (c - c % Cg) / Cg (exact division) and the (n, g) stats offset. */
const groupOf = (n: string, c: string) => `const cin = ${c} % Cg;
  const si = (${n} * G + (${c} - cin) / Cg) * 2;`;

/** Sum over lane q's elements of every channel cc < Cg of row y, `term(i)` at flat index i. */
function laneLoop(base: string, term: (i: string) => string): string {
  const i = `${base} + cc * HW + j * 4 + this.thread.x`;
  const t = `${base} + cc * HW + HW4 * 4 + this.thread.x`;
  return `let total = 0.0;
  for (let cc = 0; cc < Cg; cc++) {
    let part = 0.0;
    for (let j = 0; j < HW4; j++) { ${term(i)} }
    if (HW4 * 4 + this.thread.x < HW) { ${term(t)} }
    total += part;
  }`;
}

/** Stage 1 of the mean: output [4, N*G], lane partial sums of each group. */
export function gnSumKernel(): KernelSpec {
  const body = `${laneLoop('this.thread.y * M', (i) => `part += a[${i}];`)}
  return total;`;
  return { key: 'groupNorm:sum', source: fn(['a', 'M', 'HW', 'HW4', 'Cg'], body), argumentTypes: ['Array', ...ints(4)] };
}

const meanOf = (p: string) => `(${p}[this.thread.y * 4] + ${p}[this.thread.y * 4 + 1] + ${p}[this.thread.y * 4 + 2] + ${p}[this.thread.y * 4 + 3]) / Mf`;

/**
 * Stage 2: output [4, N*G, 2], lane partial sums of d = x - mean (z = 0) and of d^2 (z = 1),
 * mean from stage 1's partials `p`. Both are needed: the float32 mean of values far from 0 is
 * off by up to ~M ulp(|x|) (a sizeable fraction of a small std), and sum(d) / M corrects it
 * (the corrected two-pass algorithm: var = mean(d^2) - mean(d)^2, mean + mean(d)).
 */
export function gnDevKernel(): KernelSpec {
  const body = `const mean = ${meanOf('p')};
  let sel = 0.0;
  if (this.thread.z > 0) { sel = 1.0; }
  ${laneLoop('this.thread.y * M', (i) => `const d = a[${i}] - mean; part += d * (d * sel + (1.0 - sel));`)}
  return total;`;
  return { key: 'groupNorm:dev', source: fn(['a', 'p', 'M', 'HW', 'HW4', 'Cg', 'Mf'], body), argumentTypes: ['Array', 'Array', ...ints(4), 'Float'] };
}

/** Stage 3: output [2, N*G] = [mean, 1 / sqrt(var + eps)] per group (R = N*G rows). */
export function gnStatsKernel(): KernelSpec {
  const s2 = `(q[(R + this.thread.y) * 4] + q[(R + this.thread.y) * 4 + 1] + q[(R + this.thread.y) * 4 + 2] + q[(R + this.thread.y) * 4 + 3]) / Mf`;
  const body = `const m1 = ${meanOf('q')};
  let res = ${meanOf('p')} + m1;
  if (this.thread.x > 0) { res = 1.0 / Math.sqrt(Math.max(${s2} - m1 * m1, 0.0) + eps); }
  return res;`;
  return { key: 'groupNorm:stats', source: fn(['p', 'q', 'R', 'Mf', 'eps'], body), argumentTypes: ['Array', 'Array', 'Integer', 'Float', 'Float'] };
}

/** h * gamma[c] + beta[c], output [HW, C, N]; `affine` says which of gamma / beta are passed. */
export function gnForwardKernel(gamma: boolean, beta: boolean): KernelSpec {
  const args = ['a', 'st', ...(gamma ? ['gm'] : []), ...(beta ? ['bt'] : []), 'C', 'HW', 'Cg', 'G'];
  const body = `${groupOf('this.thread.z', 'this.thread.y')}
  let res = (a[(this.thread.z * C + this.thread.y) * HW + this.thread.x] - st[si]) * st[si + 1];
  ${gamma ? 'res = res * gm[this.thread.y];' : ''}
  ${beta ? 'res = res + bt[this.thread.y];' : ''}
  return res;`;
  return {
    key: `groupNorm:forward:${gamma ? 'g' : ''}${beta ? 'b' : ''}`,
    source: fn(args, body),
    argumentTypes: ['Array', 'Array', ...(gamma ? ['Array'] : []), ...(beta ? ['Array'] : []), ...ints(4)],
  };
}

/**
 * Stage 1 of the per-channel sums: output [4, N*C, 2], z = 0: lane partials of g*h, z = 1:
 * of g (h's factor blended to exactly 1). Row y = n*C + c reads channel c of sample n.
 */
export function gnChannelSumKernel(): KernelSpec {
  const body = `const c = this.thread.y % C;
  ${groupOf('(this.thread.y - c) / C', 'c')}
  const mean = st[si];
  const rstd = st[si + 1];
  let sel = 1.0;
  if (this.thread.z > 0) { sel = 0.0; }
  let total = 0.0;
  for (let j = 0; j < HW4; j++) {
    total += gr[this.thread.y * HW + j * 4 + this.thread.x] * ((a[this.thread.y * HW + j * 4 + this.thread.x] - mean) * rstd * sel + (1.0 - sel));
  }
  if (HW4 * 4 + this.thread.x < HW) {
    total += gr[this.thread.y * HW + HW4 * 4 + this.thread.x] * ((a[this.thread.y * HW + HW4 * 4 + this.thread.x] - mean) * rstd * sel + (1.0 - sel));
  }
  return total;`;
  return { key: 'groupNorm:channelSum', source: fn(['a', 'gr', 'st', 'C', 'HW', 'HW4', 'Cg', 'G'], body), argumentTypes: ['Array', 'Array', 'Array', ...ints(5)] };
}

/** Stage 2: output [2, N*C] (= [N, C, 2]) from the lane partials `p` ([2][N*C][4]). */
export function gnChannelSumFinalKernel(): KernelSpec {
  const body = `const b = (this.thread.x * NC + this.thread.y) * 4;
  return p[b] + p[b + 1] + p[b + 2] + p[b + 3];`;
  return { key: 'groupNorm:channelSumFinal', source: fn(['p', 'NC'], body), argumentTypes: ['Array', 'Integer'] };
}

/** Output [2, N*G]: per group, [sum d*h, sum d] = sum over its channels of gamma[c] * sums[n, c, :]. */
export function gnGroupSumKernel(gamma: boolean): KernelSpec {
  const body = `const gi = this.thread.y % G;
  const base = ((this.thread.y - gi) / G * C + gi * Cg) * 2 + this.thread.x;
  let total = 0.0;
  for (let cc = 0; cc < Cg; cc++) { total += sm[base + cc * 2]${gamma ? ' * gm[gi * Cg + cc]' : ''}; }
  return total;`;
  return {
    key: `groupNorm:groupSum:${gamma ? 'g' : ''}`,
    source: fn(['sm', ...(gamma ? ['gm'] : []), 'C', 'Cg', 'G'], body),
    argumentTypes: ['Array', ...(gamma ? ['Array'] : []), ...ints(3)],
  };
}

/** dx = rstd * (d - sum(d)/M - h sum(d h)/M), d = g * gamma[c]; output [HW, C, N]. */
export function gnInputGradKernel(gamma: boolean): KernelSpec {
  const body = `${groupOf('this.thread.z', 'this.thread.y')}
  const rstd = st[si + 1];
  const h = (a[(this.thread.z * C + this.thread.y) * HW + this.thread.x] - st[si]) * rstd;
  const d = gr[(this.thread.z * C + this.thread.y) * HW + this.thread.x]${gamma ? ' * gm[this.thread.y]' : ''};
  return rstd * (d - gs[si + 1] / Mf - h * gs[si] / Mf);`;
  return {
    key: `groupNorm:inputGrad:${gamma ? 'g' : ''}`,
    source: fn(['a', 'gr', 'st', 'gs', ...(gamma ? ['gm'] : []), 'C', 'HW', 'Cg', 'G', 'Mf'], body),
    argumentTypes: ['Array', 'Array', 'Array', 'Array', ...(gamma ? ['Array'] : []), ...ints(4), 'Float'],
  };
}

/** Output [C, 2] (= [2, C]): row k, channel c = sum over n of sums[n, c, k]. */
export function gnParamGradKernel(): KernelSpec {
  const body = `let total = 0.0;
  for (let n = 0; n < N; n++) { total += sm[(n * C + this.thread.x) * 2 + this.thread.y]; }
  return total;`;
  return { key: 'groupNorm:paramGrad', source: fn(['sm', 'N', 'C'], body), argumentTypes: ['Array', 'Integer', 'Integer'] };
}
