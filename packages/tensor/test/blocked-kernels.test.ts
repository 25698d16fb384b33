// The register-blocked webasm kernels (kernels.ts: matmulBlocked, conv2dBlocked,
// conv2dFilterGradBlocked; 4 outputs per thread, padded widths, clamped edge blocks) against
// the float64 reference backend, at shapes chosen to hit every edge: M, O, Ho not multiples of
// the block, widths not multiples of 4, strides and dilations of 1..3, 1x1 to 3x3 kernels, and
// more than one block in every direction. The op suite covers the same ops at small random
// shapes; this file makes the block edges certain and checks the blocked path really ran.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GpuJsBackend } from '../src/backends/gpujs.ts';
import { ReferenceBackend } from '../src/backends/reference.ts';
import type { ConvTile } from '../src/backends/kernels.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

const blocked = new GpuJsBackend('webasm');
blocked.blocked = true;
// the Array(4) kernels (2x2 conv tile, 4-channel gather weight gradient): what runs without patch 8
blocked.convTile = [2, 2];
blocked.filterGradLanes = 0;
blocked.matmulRows = 4;
const ref = new ReferenceBackend();

function values(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}
const refUp = (v: Float32Array) => ref.upload(v, v.length);
const refDown = (s: unknown) => Float64Array.from(ref.downloadSync!(s as never));

/** max |a - b| <= tol * (1 + sum of |terms|) per element, with the term magnitude bound given. */
function expectClose(got: Float32Array, want: Float64Array, bound: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  // float32 accumulation of `bound` products of magnitude <= 1
  expect(worst, `${what}: worst error at ${at} (got ${got[at]}, want ${want[at]})`).toBeLessThanOrEqual(4e-7 * bound + 1e-6);
}

describe('register-blocked webasm kernels vs reference', () => {
  it('matmul: batched, M and N not multiples of 4, broadcast batch operand', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 11 }), fc.boolean(), fc.integer(), (B, M, K, N, shareB, seed) => {
        const a = values(seed, B * M * K);
        const b = values(seed + 1, (shareB ? 1 : B) * K * N);
        const bShape = shareB ? [K, N] : [B, K, N];
        const got = blocked.matmul(a, [B, M, K], b, bShape, [B, M, N]) as Float32Array;
        const want = refDown(ref.matmul(refUp(a), [B, M, K], refUp(b), bShape, [B, M, N]));
        expectClose(got, want, K, `matmul B=${B} M=${M} K=${K} N=${N} shareB=${shareB}`);
      }),
      { numRuns: fcRuns(40) },
    );
    expect(blocked.kernelClasses().some((k) => k.key.startsWith('matmulBlocked'))).toBe(true);
  });

  it('conv2d and conv2dFilterGrad: odd channels and sizes, strides and dilations 1..3, kernels 1..3', () => {
    fc.assert(
      fc.property(
        fc.record({
          N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 5 }), O: fc.integer({ min: 1, max: 9 }),
          H: fc.integer({ min: 1, max: 11 }), W: fc.integer({ min: 1, max: 11 }), KH: fc.integer({ min: 1, max: 3 }), KW: fc.integer({ min: 1, max: 3 }),
          sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
          ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), seed: fc.integer(),
        }),
        (s) => {
          const Ho = Math.floor((s.H + 2 * s.ph - s.dh * (s.KH - 1) - 1) / s.sh) + 1;
          const Wo = Math.floor((s.W + 2 * s.pw - s.dw * (s.KW - 1) - 1) / s.sw) + 1;
          fc.pre(Ho >= 1 && Wo >= 1);
          const attrs = { stride: [s.sh, s.sw] as [number, number], padding: [s.ph, s.pw] as [number, number], dilation: [s.dh, s.dw] as [number, number], groups: 1 };
          const xShape = [s.N, s.C, s.H, s.W];
          const wShape = [s.O, s.C, s.KH, s.KW];
          const yShape = [s.N, s.O, Ho, Wo];
          const x = values(s.seed, s.N * s.C * s.H * s.W);
          const w = values(s.seed + 1, s.O * s.C * s.KH * s.KW);
          const dy = values(s.seed + 2, s.N * s.O * Ho * Wo);
          const tag = JSON.stringify(s);
          const y = blocked.conv2d(x, xShape, w, wShape, attrs, yShape) as Float32Array;
          expectClose(y, refDown(ref.conv2d(refUp(x), xShape, refUp(w), wShape, attrs, yShape)), s.C * s.KH * s.KW, `conv2d ${tag}`);
          const g = blocked.conv2dFilterGrad(x, xShape, dy, yShape, wShape, attrs, wShape) as Float32Array;
          expectClose(g, refDown(ref.conv2dFilterGrad(refUp(x), xShape, refUp(dy), yShape, wShape, attrs, wShape)), s.N * Ho * Wo, `conv2dFilterGrad ${tag}`);
        },
      ),
      { numRuns: fcRuns(60) },
    );
    const keys = blocked.kernelClasses().map((k) => k.key);
    expect(keys.some((k) => k.startsWith('conv2dBlocked'))).toBe(true);
    expect(keys.some((k) => k.startsWith('conv2dFilterGradBlocked'))).toBe(true);
  });

  it('UNet-sized blocks: conv 3x3 at 14x14 C16->12 (several blocks each way), stride 2, and matmul 37x50x29', () => {
    const cases: [number, number, number, number, number][] = [[2, 16, 12, 14, 1], [2, 8, 6, 14, 2], [1, 3, 1, 9, 1]];
    for (const [N, C, O, H, s] of cases) {
      const attrs = { stride: [s, s] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
      const Ho = Math.floor((H - 1) / s) + 1;
      const x = values(N * 7 + C, N * C * H * H);
      const w = values(O, O * C * 9);
      const dy = values(H, N * O * Ho * Ho);
      expectClose(blocked.conv2d(x, [N, C, H, H], w, [O, C, 3, 3], attrs, [N, O, Ho, Ho]) as Float32Array, refDown(ref.conv2d(refUp(x), [N, C, H, H], refUp(w), [O, C, 3, 3], attrs, [N, O, Ho, Ho])), C * 9, `conv ${N},${C},${O},${H},s${s}`);
      expectClose(blocked.conv2dFilterGrad(x, [N, C, H, H], dy, [N, O, Ho, Ho], [O, C, 3, 3], attrs, [O, C, 3, 3]) as Float32Array, refDown(ref.conv2dFilterGrad(refUp(x), [N, C, H, H], refUp(dy), [N, O, Ho, Ho], [O, C, 3, 3], attrs, [O, C, 3, 3])), N * Ho * Ho, `dw ${N},${C},${O},${H},s${s}`);
    }
    const a = values(3, 37 * 50);
    const b = values(4, 50 * 29);
    expectClose(blocked.matmul(a, [37, 50], b, [50, 29], [37, 29]) as Float32Array, refDown(ref.matmul(refUp(a), [37, 50], refUp(b), [50, 29], [37, 29])), 50, 'matmul 37x50x29');
  });
});

// gpu.js patch 8: conv tiles of more than 4 outputs per thread (Array(5..16)) and the weight
// gradient with lanes over the kernel column. Every tile runs on its own backend; the shapes
// make the tile edges certain: output rows and channels that are not multiples of the tile,
// widths that are not multiples of 4, strides and dilations, and more than one tile each way.
describe('wide register tiles (gpu.js patch 8) vs reference', () => {
  const TILES: ConvTile[] = [[4, 2], [2, 4], [4, 4], [2, 8], [8, 2], [3, 4], [1, 8], [2, 3], [5, 3], [1, 16]];
  const tiled = TILES.map((t) => {
    const b = new GpuJsBackend('webasm');
    b.convTile = t;
    b.filterGradLanes = 0;
    return [t, b] as const;
  });
  const LANES = [2, 3, 4, 5];
  const laned = LANES.map((l) => {
    const b = new GpuJsBackend('webasm');
    b.filterGradLanes = l;
    return [l, b] as const;
  });

  it('the installed gpu.js has patch 8, so the defaults pick the wide kernels', () => {
    const b = new GpuJsBackend('webasm');
    expect(b.wideReturns).toBe(true);
    const at = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
    for (const [O, key] of [[9, 't4x4'], [4, 't4x4'], [3, null]] as const) {
      b.conv2d(values(O, 2 * 3 * 5 * 6), [2, 3, 5, 6], values(O + 1, O * 3 * 9), [O, 3, 3, 3], at, [2, O, 5, 6]);
      const keys = b.kernelClasses().map((k) => k.key.split('|')[0]).filter((k) => k.startsWith('conv2dBlocked'));
      if (key) expect(keys.some((k) => k.endsWith(key)), `O=${O}: ${keys}`).toBe(true);
      else expect(keys.some((k) => !/:t\d/.test(k)), `O=${O}: ${keys}`).toBe(true);
    }
    b.conv2dFilterGrad(values(1, 2 * 3 * 5 * 6), [2, 3, 5, 6], values(2, 2 * 4 * 5 * 6), [2, 4, 5, 6], [4, 3, 3, 3], at, [4, 3, 3, 3]);
    expect(b.kernelClasses().some((k) => k.key.split('|')[0] === 'conv2dFilterGradLane:3x3:s1,1:d1:t4')).toBe(true);
    // 1x1 and column-dilated weight gradients keep the gather kernel
    b.conv2dFilterGrad(values(1, 2 * 3 * 5 * 6), [2, 3, 5, 6], values(2, 2 * 4 * 5 * 6), [2, 4, 5, 6], [4, 3, 1, 1], { ...at, padding: [0, 0] }, [4, 3, 1, 1]);
    expect(b.kernelClasses().some((k) => k.key.startsWith('conv2dFilterGradBlocked:1x1'))).toBe(true);
  });

  it('conv2d: every tile, odd channels and sizes, strides and dilations 1..3, kernels 1..3', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: TILES.length - 1 }),
        fc.record({
          N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 19 }),
          H: fc.integer({ min: 1, max: 13 }), W: fc.integer({ min: 1, max: 11 }), KH: fc.integer({ min: 1, max: 3 }), KW: fc.integer({ min: 1, max: 3 }),
          sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
          ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), seed: fc.integer(),
        }),
        (ti, s) => {
          const Ho = Math.floor((s.H + 2 * s.ph - s.dh * (s.KH - 1) - 1) / s.sh) + 1;
          const Wo = Math.floor((s.W + 2 * s.pw - s.dw * (s.KW - 1) - 1) / s.sw) + 1;
          fc.pre(Ho >= 1 && Wo >= 1);
          const [tile, be] = tiled[ti];
          const attrs = { stride: [s.sh, s.sw] as [number, number], padding: [s.ph, s.pw] as [number, number], dilation: [s.dh, s.dw] as [number, number], groups: 1 };
          const xShape = [s.N, s.C, s.H, s.W];
          const wShape = [s.O, s.C, s.KH, s.KW];
          const yShape = [s.N, s.O, Ho, Wo];
          const x = values(s.seed, s.N * s.C * s.H * s.W);
          const w = values(s.seed + 1, s.O * s.C * s.KH * s.KW);
          const y = be.conv2d(x, xShape, w, wShape, attrs, yShape) as Float32Array;
          expectClose(y, refDown(ref.conv2d(refUp(x), xShape, refUp(w), wShape, attrs, yShape)), s.C * s.KH * s.KW, `conv2d tile ${tile} ${JSON.stringify(s)}`);
        },
      ),
      { numRuns: fcRuns(80) },
    );
    for (const [t, be] of tiled) {
      expect(be.kernelClasses().some((k) => k.key.split('|')[0].endsWith(`:t${t[0]}x${t[1]}`)), `tile ${t} ran`).toBe(true);
    }
  });

  it('conv2dFilterGrad, lanes over the kernel column: 2..5 channels per thread, kernels 1..4 x 2..4, strides and row dilation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: LANES.length - 1 }),
        fc.record({
          N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 5 }), O: fc.integer({ min: 1, max: 11 }),
          H: fc.integer({ min: 1, max: 11 }), W: fc.integer({ min: 1, max: 11 }), KH: fc.integer({ min: 1, max: 4 }), KW: fc.integer({ min: 2, max: 4 }),
          sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), dh: fc.integer({ min: 1, max: 2 }),
          ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), seed: fc.integer(),
        }),
        (li, s) => {
          const Ho = Math.floor((s.H + 2 * s.ph - s.dh * (s.KH - 1) - 1) / s.sh) + 1;
          const Wo = Math.floor((s.W + 2 * s.pw - (s.KW - 1) - 1) / s.sw) + 1;
          fc.pre(Ho >= 1 && Wo >= 1);
          const [lanes, be] = laned[li];
          const attrs = { stride: [s.sh, s.sw] as [number, number], padding: [s.ph, s.pw] as [number, number], dilation: [s.dh, 1] as [number, number], groups: 1 };
          const xShape = [s.N, s.C, s.H, s.W];
          const wShape = [s.O, s.C, s.KH, s.KW];
          const yShape = [s.N, s.O, Ho, Wo];
          const x = values(s.seed, s.N * s.C * s.H * s.W);
          const dy = values(s.seed + 2, s.N * s.O * Ho * Wo);
          const g = be.conv2dFilterGrad(x, xShape, dy, yShape, wShape, attrs, wShape) as Float32Array;
          expectClose(g, refDown(ref.conv2dFilterGrad(refUp(x), xShape, refUp(dy), yShape, wShape, attrs, wShape)), s.N * Ho * Wo, `conv2dFilterGrad lanes ${lanes} ${JSON.stringify(s)}`);
        },
      ),
      { numRuns: fcRuns(60) },
    );
    for (const [l, be] of laned) {
      expect(be.kernelClasses().some((k) => k.key.startsWith('conv2dFilterGradLane') && k.key.split('|')[0].endsWith(`:t${l}`)), `lanes ${l} ran`).toBe(true);
    }
  });

  it('matmul with 5..16 rows per thread: batched, M not a multiple of the rows, N not a multiple of 4, broadcast operand', () => {
    const ROWS = [5, 8, 12, 16];
    const mm = ROWS.map((r) => {
      const b = new GpuJsBackend('webasm');
      b.matmulRows = r;
      return b;
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: ROWS.length - 1 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 11 }), fc.boolean(), fc.integer(), (ri, B, M, K, N, shareB, seed) => {
        const a = values(seed, B * M * K);
        const b = values(seed + 1, (shareB ? 1 : B) * K * N);
        const bShape = shareB ? [K, N] : [B, K, N];
        const got = mm[ri].matmul(a, [B, M, K], b, bShape, [B, M, N]) as Float32Array;
        const want = refDown(ref.matmul(refUp(a), [B, M, K], refUp(b), bShape, [B, M, N]));
        expectClose(got, want, K, `matmul rows ${ROWS[ri]} B=${B} M=${M} K=${K} N=${N} shareB=${shareB}`);
      }),
      { numRuns: fcRuns(50) },
    );
    ROWS.forEach((r, i) => expect(mm[i].kernelClasses().some((k) => k.key.split('|')[0] === `matmulBlocked:r${r}`), `rows ${r} ran`).toBe(true));
    const auto = new GpuJsBackend('webasm');
    auto.matmul(values(1, 9 * 3), [9, 3], values(2, 3 * 5), [3, 5], [9, 5]);
    auto.matmul(values(1, 7 * 3), [7, 3], values(2, 3 * 5), [3, 5], [7, 5]);
    expect(auto.kernelClasses().map((k) => k.key.split('|')[0]).filter((k) => k.startsWith('matmul')).sort()).toEqual(['matmulBlocked', 'matmulBlocked:r8']);
  });

  it('UNet-sized: conv 3x3 at 14x14 C16->12 and C8->20 stride 2 with the default tiles, the dx of the first as the autograd rule computes it', () => {
    const be = new GpuJsBackend('webasm');
    for (const [N, C, O, H, s] of [[2, 16, 12, 14, 1], [2, 8, 20, 14, 2], [1, 5, 6, 9, 1]]) {
      const attrs = { stride: [s, s] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
      const Ho = Math.floor((H - 1) / s) + 1;
      const x = values(N * 7 + C, N * C * H * H);
      const w = values(O, O * C * 9);
      const dy = values(H, N * O * Ho * Ho);
      expectClose(be.conv2d(x, [N, C, H, H], w, [O, C, 3, 3], attrs, [N, O, Ho, Ho]) as Float32Array, refDown(ref.conv2d(refUp(x), [N, C, H, H], refUp(w), [O, C, 3, 3], attrs, [N, O, Ho, Ho])), C * 9, `conv ${N},${C},${O},${H},s${s}`);
      expectClose(be.conv2dFilterGrad(x, [N, C, H, H], dy, [N, O, Ho, Ho], [O, C, 3, 3], attrs, [O, C, 3, 3]) as Float32Array, refDown(ref.conv2dFilterGrad(refUp(x), [N, C, H, H], refUp(dy), [N, O, Ho, Ho], [O, C, 3, 3], attrs, [O, C, 3, 3])), N * Ho * Ho, `dw ${N},${C},${O},${H},s${s}`);
      if (s === 1) {
        const ta = { ...attrs, outputPadding: [0, 0] as [number, number] };
        expectClose(be.convTranspose2d(dy, [N, O, Ho, Ho], w, [O, C, 3, 3], ta, [N, C, H, H]) as Float32Array, refDown(ref.convTranspose2d(refUp(dy), [N, O, Ho, Ho], refUp(w), [O, C, 3, 3], ta, [N, C, H, H])), O * 9, `dx ${N},${C},${O},${H}`);
      }
    }
  });
});
