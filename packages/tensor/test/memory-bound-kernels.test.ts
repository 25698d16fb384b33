// The thread-id ("memory-bound") webasm kernels (kernels.ts: binaryTidKernel, whereTidKernel, stridedTidKernel,
// concat2TidKernel, pad2TidKernel, reduceRowsKernel + reduceRowsFinalKernel, reduceMiddleKernel, reduceShortKernel, lean sigmoid/silu) against
// the float64 reference backend, at shapes chosen to hit every variant the backend picks:
// coalesced ranks 1-3, rows a multiple of 4 wide and rows with scalar tails (5, 7, 17, 49),
// operands read contiguously, per-channel (innermost stride 0) and with a gather stride,
// reductions over the last axis with 0-3 tail elements and over a middle axis, with IEEE
// special values mixed in. The op suite covers the same ops at small random shapes, most of
// which keep the flat kernels; this file makes the thread-id paths certain and checks they ran.
//
// Oracles: add/sub/mul/div/maximum/minimum and the comparisons of two float32 values are
// correctly rounded in float32, and rounding the float64 result to float32 gives the same
// value (double rounding through binary64 is innocuous for these operations), so they must
// match Math.fround(reference) exactly; moves (where, strided, concat) and max/min reductions
// must match exactly; sums within 2 gamma(n) sum|x|; sigmoid/silu within their OP_DB budgets.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GpuJsBackend } from '../src/backends/gpujs.ts';
import { ReferenceBackend } from '../src/backends/reference.ts';
import type { BinaryOp } from '../src/backend.ts';
import { fcRuns, opInfo } from '@tapegrad/tensor/testing';

const tid = new GpuJsBackend('webasm');
tid.tidKernels = true;
const ref = new ReferenceBackend();
const refUp = (v: Float32Array) => ref.upload(v, v.length);
const refDown = (s: unknown) => Float64Array.from(ref.downloadSync!(s as never));
const sizeOf = (s: number[]) => s.reduce((p, d) => p * d, 1);

const SPECIALS = [NaN, Infinity, -Infinity, -0, 0];

/** n values in (-1, 1) from a seed, with a special value at every `every`-th position (0: none). */
function values(seed: number, n: number, every = 0, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    if (every > 0 && s % every === 0) return SPECIALS[(s >>> 8) % SPECIALS.length];
    return Math.fround(((s / 2 ** 32) * 2 - 1) * scale);
  });
}

const same = (g: number, w: number) => (Number.isNaN(w) ? Number.isNaN(g) : g === w);

function expectExact(got: Float32Array, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const w = Math.fround(want[i]);
    if (!same(got[i], w)) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${w}`);
  }
}

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);

/** [N, C, W] with W among row widths that take the thread-id kernels (>= 4; not multiples of 4 have a scalar tail). */
const shape3 = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom(4, 5, 7, 8, 12, 17, 49));
/** Broadcast patterns of an NCW operand: full, per channel [1,C,1], per (n,c) [N,C,1], scalar, per row. */
const PATTERNS = ['full', 'c', 'nc', 'scalar', 'w', 'nw'] as const;
function patternShape(p: (typeof PATTERNS)[number], [N, C, W]: number[]): number[] {
  switch (p) {
    case 'full': return [N, C, W];
    case 'c': return [1, C, 1];
    case 'nc': return [N, C, 1];
    case 'scalar': return [1];
    case 'w': return [1, 1, W];
    case 'nw': return [N, 1, W];
  }
}

const keysUsed = () => tid.kernelClasses().map((k) => k.key.split('|')[0]);

describe('thread-id webasm kernels vs reference', () => {
  it('binary ops: every broadcast pattern of [N, C, W], exact against the float32 rounding of the reference, specials included', () => {
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'greater', 'lessEqual', 'equal', 'notEqual'];
    fc.assert(
      fc.property(shape3, fc.constantFrom(...ops), fc.constantFrom(...PATTERNS), fc.constantFrom(...PATTERNS), fc.integer(), fc.constantFrom(0, 5, 11), (s, op, pa, pb, seed, every) => {
        const [aS, bS] = [patternShape(pa, s), patternShape(pb, s)];
        const a = values(seed, sizeOf(aS), every);
        const b = values(seed + 7, sizeOf(bS), every);
        const got = tid.binary(op, a, aS, b, bS, s) as Float32Array;
        const want = refDown(ref.binary(op, refUp(a), aS, refUp(b), bS, s));
        expectExact(got, want, `${op} [${aS}] [${bS}] -> [${s}]`);
      }),
      { numRuns: fcRuns(150) },
    );
    const used = keysUsed();
    // rank 1 (same shape), rank 3 with a per-channel operand on either side, rank 2, a scalar
    for (const re of [/^binary:\w+:tid1:cc$/, /^binary:\w+:tid3:cb$/, /^binary:\w+:tid3:bc$/, /^binary:\w+:tid2:cc$/, /^binary:\w+:tid1:cb$/]) {
      expect(used.some((k) => re.test(k)), `a kernel matching ${re} ran`).toBe(true);
    }
  });

  it('where: condition, both sides broadcast independently; NaN condition selects a', () => {
    fc.assert(
      fc.property(shape3, fc.constantFrom(...PATTERNS), fc.constantFrom(...PATTERNS), fc.constantFrom(...PATTERNS), fc.integer(), (s, pc, pa, pb, seed) => {
        const [cS, aS, bS] = [patternShape(pc, s), patternShape(pa, s), patternShape(pb, s)];
        const c = values(seed, sizeOf(cS), 3).map((v) => (v > 0.3 ? 0 : v));
        const a = values(seed + 1, sizeOf(aS), 7);
        const b = values(seed + 2, sizeOf(bS), 7);
        const got = tid.where(c, cS, a, aS, b, bS, s) as Float32Array;
        const want = refDown(ref.where(refUp(c), cS, refUp(a), aS, refUp(b), bS, s));
        expectExact(got, want, `where [${cS}] [${aS}] [${bS}] -> [${s}]`);
      }),
      { numRuns: fcRuns(60) },
    );
    expect(keysUsed().some((k) => k.startsWith('where:tid3:'))).toBe(true);
  });

  it('sum/max/min over every axis subset of [A, B, W]: rows with 0-3 tail elements and middle axes', () => {
    const dimA = fc.integer({ min: 1, max: 4 });
    fc.assert(
      fc.property(dimA, fc.integer({ min: 1, max: 40 }), fc.constantFrom(4, 8, 9, 10, 11, 16, 17, 35), fc.subarray([0, 1, 2], { minLength: 1 }), fc.constantFrom('sum', 'max', 'min') as fc.Arbitrary<'sum' | 'max' | 'min'>, fc.integer(), fc.constantFrom(0, 0, 13, 97), (A, B, W, axes, op, seed, every) => {
        const shape = [A, B, W];
        const x = values(seed, sizeOf(shape), every);
        const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const got = tid.reduce(op, x, shape, axes, outShape) as Float32Array;
        const want = refDown(ref.reduce(op, refUp(x), shape, axes, outShape));
        const what = `${op} [${shape}] axes [${axes}]`;
        if (op !== 'sum') return expectExact(got, want, what);
        // per output: 2 gamma(n) sum |x| over its n terms (NaN/Inf results must match exactly)
        const n = sizeOf(shape) / sizeOf(outShape);
        const abs = refDown(ref.reduce('sum', refUp(x.map(Math.abs)), shape, axes, outShape));
        expect(got.length).toBe(want.length);
        for (let i = 0; i < got.length; i++) {
          if (!Number.isFinite(want[i])) {
            if (!same(got[i], want[i])) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
            continue;
          }
          const tol = 2 * gamma(n) * abs[i];
          if (!(Math.abs(got[i] - want[i]) <= tol)) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]} within ${tol}`);
        }
      }),
      { numRuns: fcRuns(150) },
    );
    const used = keysUsed();
    for (const k of ['reduce:sum:rows', 'reduce:max:rowsFinal', 'reduce:min:rows', 'reduce:sum:middle', 'reduce:max:middle']) expect(used, `kernel ${k} ran`).toContain(k);
  });

  it('short rows (R = 2..7, the gradient of a nearest upsample): sum, max, min, NaN and infinities included', () => {
    for (const op of ['sum', 'max', 'min'] as const) {
      for (let R = 2; R < 8; R++) {
        const x = values(R * 31, 37 * R, 5);
        const got = tid.reduce(op, x, [37, R], [1], [37, 1]) as Float32Array;
        const want = refDown(ref.reduce(op, refUp(x), [37, R], [1], [37, 1]));
        for (let i = 0; i < 37; i++) {
          const what = `${op} of row ${i} of [37, ${R}] = ${got[i]}, expected ${want[i]}`;
          if (op !== 'sum' || !Number.isFinite(want[i])) expect(same(got[i], Math.fround(want[i])), what).toBe(true);
          else expect(Math.abs(got[i] - want[i]), what).toBeLessThanOrEqual(2 * gamma(R) * R);
        }
      }
      expect(keysUsed()).toContain(`reduce:${op}:short`);
    }
  });

  it('long sums (R = 70001 over the last axis, R = 3001 over a middle axis: the blocked loops) within 2 gamma(n) sum|x|', () => {
    for (const [shape, axes] of [[[2, 70001], [1]], [[2, 3001, 8], [1]]] as const) {
      const R = shape[axes[0]];
      const x = values(5, sizeOf([...shape]), 0);
      const out = shape.map((d, i) => (i === axes[0] ? 1 : d));
      const got = tid.reduce('sum', x, [...shape], [...axes], out) as Float32Array;
      const want = refDown(ref.reduce('sum', refUp(x), [...shape], [...axes], out));
      const abs = refDown(ref.reduce('sum', refUp(x.map(Math.abs)), [...shape], [...axes], out));
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(2 * gamma(R) * abs[i]);
    }
    expect(keysUsed()).toContain('reduce:sum:rowsBlocked');
    expect(keysUsed()).toContain('reduce:sum:middleBlocked');
  });

  it('transpose, strided slice and broadcastTo whose rows are read contiguously, per row, or with a stride', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(16, 17, 24), fc.constantFrom(1, 2, 3), fc.integer(), (N, C, W, step, seed) => {
        const shape = [N, C, W];
        const x = values(seed, sizeOf(shape), 9);
        const tOut = [C, N, W];
        expectExact(tid.transpose(x, shape, [1, 0, 2], tOut) as Float32Array, refDown(ref.transpose(refUp(x), shape, [1, 0, 2], tOut)), `transpose [${shape}] (1,0,2)`);
        const Wo = Math.ceil(W / step);
        expectExact(
          tid.slice(x, shape, [0, 0, 0], [N, C, Wo], [1, 1, step], [N, C, Wo]) as Float32Array,
          refDown(ref.slice(refUp(x), shape, [0, 0, 0], [N, C, Wo], [1, 1, step], [N, C, Wo])),
          `slice [${shape}] step ${step}`,
        );
        const c = values(seed + 3, C);
        expectExact(tid.broadcastTo(c, [1, C, 1], shape) as Float32Array, refDown(ref.broadcastTo(refUp(c), [1, C, 1], shape)), `broadcastTo [1,${C},1] -> [${shape}]`);
      }),
      { numRuns: fcRuns(40) },
    );
    const used = keysUsed();
    for (const k of ['strided:tid3:c', 'strided:tid3:b']) expect(used, `kernel ${k} ran`).toContain(k);
    expect(used.some((k) => /^strided:tid\d:g$/.test(k)), 'a gather-stride strided kernel ran').toBe(true);
  });

  it('pad of the last two dims (conv padding; negative pads crop), any fill value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(5, 14, 16, 28), fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 4, maxLength: 4 }), fc.constantFrom(0, -1.5, NaN, -Infinity), fc.integer(), (B, H, W, [pt, pb, pl, pr], value, seed) => {
        // a crop leaves at least one row (the public pad refuses an empty or negative extent)
        fc.pre(H + pt + pb >= 1);
        const shape = [B, 2, H, W];
        const pads: [number, number][] = [[0, 0], [0, 0], [pt, pb], [pl, pr]];
        const out = [B, 2, H + pt + pb, W + pl + pr];
        const x = values(seed, B * 2 * H * W, 9);
        const got = tid.pad(x, shape, pads, value, out) as Float32Array;
        const want = refDown(ref.pad(refUp(x), shape, pads, value, out));
        expectExact(got, want, `pad [${shape}] by ${JSON.stringify(pads)} with ${value}`);
      }),
      { numRuns: fcRuns(40) },
    );
    expect(keysUsed()).toContain('pad:tid2');
  });

  it('concat of two and three parts along each axis', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.constantFrom(4, 5, 17), fc.integer({ min: 0, max: 1 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 3 }), fc.integer(), (N, W, axis, sizes, seed) => {
        const shapes = sizes.map((k) => (axis === 0 ? [k, 3, W] : [N, k, W]));
        const xs = shapes.map((s, i) => values(seed + i, sizeOf(s), 11));
        const out = axis === 0 ? [sizes.reduce((p, k) => p + k, 0), 3, W] : [N, sizes.reduce((p, k) => p + k, 0), W];
        const got = tid.concat(xs, shapes, axis, out) as Float32Array;
        const want = refDown(ref.concat(xs.map(refUp), shapes, axis, out));
        expectExact(got, want, `concat axis ${axis} of ${JSON.stringify(shapes)}`);
      }),
      { numRuns: fcRuns(30) },
    );
    expect(keysUsed()).toContain('concat2:tid');
  });

  it('lean sigmoid and silu: within the OP_DB budgets on [-100, 100], exact limits and NaN', () => {
    for (const op of ['sigmoid', 'silu'] as const) {
      const tol = opInfo(op).tol as (xs: number[], y: number) => number;
      const x = values(3, 4000, 0, 100);
      x.set([NaN, Infinity, -Infinity, -0, 0, -80, -80.5, -88, -89, 88, 89, 1e-30, -1e-30], 0);
      const got = tid.unary(op, x, x.length, [x.length]) as Float32Array;
      const want = refDown(ref.unary(op, refUp(x), x.length, [x.length]));
      for (let i = 0; i < x.length; i++) {
        const what = `${op}(${x[i]}) = ${got[i]}, expected ${want[i]}`;
        if (!Number.isFinite(want[i]) || !Number.isFinite(x[i])) expect(same(got[i], want[i]), what).toBe(true);
        else expect(Math.abs(got[i] - want[i]), what).toBeLessThanOrEqual(tol([x[i]], want[i]));
      }
      expect(keysUsed()).toContain(`unary:${op}:lean`);
    }
  });
});
