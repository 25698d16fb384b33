// The patched gpu.js code generator (patches/gpu.js+2.24.1.patch) must give bit-identical
// results to the pristine one: both copies are loaded in this process and every kernel of
// the catalogue runs on both, in webasm mode, compared bit for bit (NaN payloads included).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTwins } from './twins.ts';
import { CASES, WIDE_CASES, data, widePiece, type Case, type WideCase } from './catalogue.ts';
import * as K from '../../src/backends/kernels.ts';
import { gpujsPatchStatus, wideReturnsOf } from '../../src/backends/gpujs-patch.ts';
import { GpuJsBackend } from '../../src/backends/gpujs.ts';

const twins = loadTwins();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function build(lib: any, c: Case) {
  const gpu = new lib.GPU({ mode: 'webasm' });
  for (const f of c.functions ?? []) gpu.addFunction(new Function(`return ${f}`)());
  const source = new Function(`return ${c.source}`)();
  const k = gpu.createKernel(source, {
    output: c.output,
    ...(c.argumentTypes ? { argumentTypes: c.argumentTypes } : {}),
    ...(c.constants ? { constants: c.constants } : {}),
    ...(c.dynamic ? { dynamicOutput: true, dynamicArguments: true } : {}),
    loopMaxIterations: 1 << 20,
    precision: 'single',
  });
  return { gpu, k };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run(lib: any, c: Case): { out: Float32Array; bytes: Uint8Array; mode: string; error: string | null } {
  const { gpu, k } = build(lib, c);
  try {
    let res: unknown;
    try {
      res = k(...c.args(lib));
    } catch (e) {
      // a scalar-path read outside the array traps in wasm (gpu.js clamps only SIMD gathers)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const entry: any = [...k.kernel._moduleCache.values()][0];
      return { out: new Float32Array(0), bytes: entry?.bytes ?? new Uint8Array(0), mode: k.kernel.constructor.mode, error: String(e) };
    }
    const flat = (r: unknown): number[] => (r instanceof Float32Array ? Array.from(r) : (r as unknown[]).flatMap(flat));
    const out = new Float32Array(flat(res));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const entry: any = [...k.kernel._moduleCache.values()][0];
    return { out, bytes: entry.bytes, mode: k.kernel.constructor.mode, error: null };
  } finally {
    k.destroy?.();
    gpu.destroy?.();
  }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe('gpu.js code-generator patch', () => {
  // patches 1-3 are bit-identical by construction; patch 4 (in-module Math.exp/log/tanh) is
  // not guaranteed to be, and has its own checks below, so the identity runs use the JS imports
  const inline = twins.patchedFunctionNode.inlineMath;
  beforeAll(() => { inline.exp = inline.log = inline.tanh = false; });
  afterAll(() => { inline.exp = inline.log = inline.tanh = true; });
  it('is what Node runs for tapegrad (run `npm run setup` if this fails)', () => {
    expect(twins.installedMatchesPatch).toBe(true);
    expect(twins.installedPatched, 'node_modules/gpu.js is not patched: run `npm run setup`').toBe(true);
    expect(gpujsPatchStatus().applied).toBe(true);
  });

  it(`catalogue has >= 140 kernels (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(140);
  });

  let changed = 0;
  let v128Loads = 0;
  let trapped = 0;
  it.each(CASES.map((c) => [c.name, c] as const))('%s: bit-identical', (_name, c) => {
    const a = run(twins.pristine, c);
    const b = run(twins.patched, c);
    expect(a.mode).toBe('webasm');
    expect(b.mode).toBe('webasm');
    expect(b.error).toBe(a.error);
    if (a.error) trapped++;
    expect(b.out.length).toBe(a.out.length);
    const ua = new Uint32Array(a.out.buffer);
    const ub = new Uint32Array(b.out.buffer);
    for (let i = 0; i < ua.length; i++) {
      if (ua[i] !== ub[i]) {
        throw new Error(`${c.name}: element ${i} differs: pristine ${a.out[i]} (0x${ua[i].toString(16)}) vs patched ${b.out[i]} (0x${ub[i].toString(16)})`);
      }
    }
    if (!same(a.bytes, b.bytes)) changed++;
    // v128.load is 0xfd 0x00; count modules where the patched one has more of them
    const count = (u: Uint8Array) => { let n = 0; for (let i = 0; i + 1 < u.length; i++) if (u[i] === 0xfd && u[i + 1] === 0x00) n++; return n; };
    if (count(b.bytes) > count(a.bytes)) v128Loads++;
  });

  it('the patch changed the generated code of most kernels', () => {
    console.log(`gpujs-patch: ${changed}/${CASES.length} modules differ from pristine, ${v128Loads} gained v128.load reads, ${trapped} trapped identically on both (scalar-path out-of-bounds reads)`);
    expect(trapped).toBeLessThan(CASES.length / 10);
    expect(changed).toBeGreaterThan(CASES.length / 2);
    expect(v128Loads).toBeGreaterThan(40);
  });
});

describe('gpu.js patch 8: Array(5..16) kernel results', () => {
  it(`pristine gpu.js cannot build them (so each is checked against Array(4) pieces); ${WIDE_CASES.length} cases`, () => {
    expect(WIDE_CASES.length).toBeGreaterThanOrEqual(75);
    expect(run(twins.pristine, WIDE_CASES[0]).error).toMatch(/does not yet support returning Array\(5\)/);
    expect(run(twins.patched, WIDE_CASES[0]).error).toBe(null);
  });

  it('without patch 8 the backend keeps the Array(4) conv kernels, and they give the same bits as the wide ones', () => {
    expect(wideReturnsOf(twins.pristine)).toBe(false);
    expect(wideReturnsOf(twins.patched)).toBe(true);
    const narrow = new GpuJsBackend('webasm', '', twins.pristine);
    const wide = new GpuJsBackend('webasm', '', twins.patched);
    expect([narrow.wideReturns, wide.wideReturns]).toEqual([false, true]);
    const at = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
    const [N, C, O, H, W] = [2, 3, 9, 7, 10];
    const x = data(N * C * H * W, 300, false);
    const w = data(O * C * 9, 301, false);
    const dy = data(N * O * H * W, 302, false);
    const bits = (v: unknown) => Array.from(new Uint32Array((v as Float32Array).slice().buffer));
    expect(bits(wide.conv2d(x, [N, C, H, W], w, [O, C, 3, 3], at, [N, O, H, W]))).toEqual(bits(narrow.conv2d(x, [N, C, H, W], w, [O, C, 3, 3], at, [N, O, H, W])));
    expect(bits(wide.conv2dFilterGrad(x, [N, C, H, W], dy, [N, O, H, W], [O, C, 3, 3], at, [O, C, 3, 3]))).toEqual(bits(narrow.conv2dFilterGrad(x, [N, C, H, W], dy, [N, O, H, W], [O, C, 3, 3], at, [O, C, 3, 3])));
    const keys = (b: GpuJsBackend) => b.kernelClasses().map((k) => k.key.split('|')[0]).sort();
    expect(keys(narrow).filter((k) => k.startsWith('conv'))).toEqual(['conv2dBlocked:3x3:s1,1:d1,1', 'conv2dFilterGradBlocked:3x3:s1,1:d1,1']);
    expect(keys(wide).filter((k) => k.startsWith('conv'))).toEqual(['conv2dBlocked:3x3:s1,1:d1,1:t4x4', 'conv2dFilterGradLane:3x3:s1,1:d1:t4']);
  });

  it.each(WIDE_CASES.map((c) => [c.name, c] as const))('%s: bit-identical to its Array(4) pieces on pristine gpu.js', (_name, c: WideCase) => {
    const b = run(twins.patched, c);
    expect(b.error).toBe(null);
    const cells = b.out.length / c.n;
    expect(Number.isInteger(cells) && cells === c.output.reduce((p, q) => p * q, 1), `${b.out.length} values for ${c.output} x ${c.n}`).toBe(true);
    const ub = new Uint32Array(b.out.buffer);
    for (let k = 0; k * 4 < c.n; k++) {
      const piece = run(twins.pristine, { ...c, source: widePiece(c.source, k) });
      expect(piece.error).toBe(null);
      expect(piece.out.length).toBe(cells * 4);
      const ua = new Uint32Array(piece.out.buffer);
      for (let cell = 0; cell < cells; cell++) {
        for (let q = 4 * k; q < Math.min(c.n, 4 * k + 4); q++) {
          const want = ua[cell * 4 + (q - 4 * k)];
          const got = ub[cell * c.n + q];
          if (want !== got) {
            throw new Error(`${c.name}: cell ${cell} component ${q}: Array(4) piece ${piece.out[cell * 4 + q - 4 * k]} (0x${want.toString(16)}) vs Array(${c.n}) ${b.out[cell * c.n + q]} (0x${got.toString(16)})`);
          }
        }
      }
    }
  });
});

/** Distance in f32 ulps between two f32 values (same sign; Inf/NaN handled by the caller). */
function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (v: number) => (v < 0 ? -(v & 0x7fffffff) : v);
  return Math.abs(key(i[0]) - key(i[1]));
}

describe('gpu.js patch 4: Math.exp / Math.log / Math.tanh computed inside the wasm module', () => {
  const SPECIAL = [0, -0, 1, -1, 1e-45, -1e-45, 1e-40, -1e-40, 1e-10, -1e-10, 2.44e-4, 2.45e-4, -2.45e-4, 0.5, -0.5,
    0.999999, 1.000001, 2, 10, -10, 20, 80, 88.72, 88.7228, 88.7229, 88.73, 89, 100, 1e30, 3.4e38, -80, -87.33, -87.34,
    -100, -103.27, -103.28, -103.97, -103.98, -104, -200, -1e30, -3.4e38, Infinity, -Infinity, NaN];
  const FNS = ['exp', 'log', 'tanh'] as const;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  function mathKernel(lib: any, fn: string, n: number) {
    const gpu = new lib.GPU({ mode: 'webasm' });
    const k = gpu.createKernel(new Function(`return function (a) { return Math.${fn}(a[this.thread.x]); }`)(), { output: [n], precision: 'single' });
    return { gpu, k };
  }

  it.each(FNS)('%s matches Math.fround(Math.%s) exactly on special values, in SIMD quads and scalar tails', (fn) => {
    expect(twins.patchedFunctionNode.inlineMath[fn]).toBe(true);
    for (const n of [SPECIAL.length, SPECIAL.length - 1, 4, 3]) {
      const xs = new Float32Array(SPECIAL.slice(0, n));
      const { gpu, k } = mathKernel(twins.patched, fn, n);
      const out = k(xs) as Float32Array;
      expect(k.kernel.usedMathImports.has(fn), `${fn} must not be a JS import`).toBe(false);
      for (let i = 0; i < n; i++) {
        const ref = Math.fround(Math[fn](xs[i]));
        if (Number.isNaN(ref)) expect(Number.isNaN(out[i]), `${fn}(${xs[i]})`).toBe(true);
        else expect(Object.is(out[i], ref), `${fn}(${xs[i]}) = ${out[i]}, expected ${ref}`).toBe(true);
      }
      k.destroy?.(); gpu.destroy?.();
    }
  });

  it.each(FNS)('%s is within 1 ulp of the JS import path and almost always equal, on 100k f32', (fn) => {
    const n = 100_003; // odd: the last 3 run in the scalar tail
    const xs = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // half uniform over the function's interesting range, half log-uniform magnitudes 2^-30..2^6
      const u = s / 4294967296;
      if (i % 2) xs[i] = fn === 'log' ? u * 1000 : fn === 'exp' ? -104 + u * 193 : -12 + u * 24;
      else xs[i] = (s & 1 && fn !== 'log' ? -1 : 1) * 2 ** (-30 + ((s >>> 1) / 2147483648) * 36);
    }
    const { gpu, k } = mathKernel(twins.patched, fn, n);
    const out = k(xs) as Float32Array;
    let maxUlp = 0;
    let differ = 0;
    for (let i = 0; i < n; i++) {
      const ref = Math.fround(Math[fn](xs[i]));
      if (!Object.is(out[i], ref)) differ++;
      maxUlp = Math.max(maxUlp, ulps(out[i], ref));
    }
    console.log(`inline ${fn}: ${differ} of ${n} differ from fround(Math.${fn}), max ${maxUlp} ulp`);
    expect(maxUlp).toBeLessThanOrEqual(1);
    expect(differ).toBeLessThan(n / 10000);
    k.destroy?.(); gpu.destroy?.();
  });

  it("tapegrad's unary kernels through it stay within 2 ulp of the JS-import path", () => {
    for (const op of ['silu', 'sigmoid', 'exp', 'log', 'tanh'] as const) {
      const spec = K.unaryKernel(op);
      const n = 4099;
      const xs = data(n, 7, false).map((v, i) => (op === 'log' ? Math.abs(v) : v) * (1 + (i % 40)));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const runWith = (lib: any) => {
        const gpu = new lib.GPU({ mode: 'webasm' });
        const k = gpu.createKernel(new Function(`return ${spec.source}`)(), { output: [n], argumentTypes: spec.argumentTypes, precision: 'single' });
        const out = (k(xs) as Float32Array).slice();
        k.destroy?.(); gpu.destroy?.();
        return out;
      };
      const a = runWith(twins.pristine);
      const b = runWith(twins.patched);
      let maxUlp = 0;
      for (let i = 0; i < n; i++) maxUlp = Math.max(maxUlp, ulps(a[i], b[i]));
      expect(maxUlp, op).toBeLessThanOrEqual(2);
    }
  });
});
