// Patch 5 of gpu.js (patches/gpu.js+2.24.1.patch): the synchronous threaded run path of
// webasm kernels. Every threaded result here is compared bit for bit (NaN payloads included)
// with the same kernel run on one thread, which is gpu.js's plain dispatch: threads must change
// nothing but speed. Thread counts above the machine's cores are fine (they only oversubscribe).
//
// Most tests use the 'static' schedule (chunk c goes to thread c mod threads, and the caller
// waits for every worker), so the split is deterministic and workers really compute part of the
// output even on a loaded machine, where the default 'dynamic' schedule may leave every chunk to
// the calling thread. One test runs 'dynamic'.

import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { fcRuns } from '@tapegrad/tensor/testing';
import { GpuJsBackend } from '../src/backends/gpujs.ts';
import { getThreads, gpujsPatchStatus, setThreads, threadSupportOf, threadsFromEnv } from '../src/backends/gpujs-patch.ts';
import { loadTwins } from './gpujs-patch/twins.ts';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const gpujs: any = require('gpu.js');
const WK = gpujs.WebAssemblyKernel;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pool = (): any => require('gpu.js/src/backend/web-assembly/worker-pool.js').getSyncThreadPool();

const saved = { ...getThreads(), schedule: WK.syncThreads?.schedule, probeRuns: WK.syncThreads?.probeRuns };
afterEach(() => {
  setThreads({ threads: saved.threads, minMs: saved.minMs, timeoutMs: saved.timeoutMs });
  if (WK.syncThreads) {
    WK.syncThreads.sharedMemory = false;
    WK.syncThreads.schedule = saved.schedule;
    WK.syncThreads.probeRuns = saved.probeRuns;
  }
});

/** gpu.js's plain path: one thread, modules with non-shared memory (what runs without patch 5). */
function oneThread(): void {
  setThreads(1);
  WK.syncThreads.sharedMemory = false;
}

/** Forces threading on every kernel with at least two units of work. */
function force(threads: number, schedule: 'static' | 'dynamic' = 'static'): void {
  const s = setThreads({ threads, minMs: 0 });
  expect(s.available, `threads unavailable: ${s.reason}`).toBe(true);
  expect(s.threads).toBe(threads);
  WK.syncThreads.schedule = schedule;
}

function values(seed: number, n: number, specials = false): Float32Array {
  let s = seed >>> 0;
  const out = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 8 - 4;
  });
  if (specials && n > 3) {
    out[1] = NaN;
    out[2] = Infinity;
    out[n - 1] = -0;
  }
  return out;
}

const flat = (r: unknown): Float32Array => {
  if (r instanceof Float32Array) return r;
  const parts: number[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array) parts.push(...v);
    else for (const x of v as unknown[]) walk(x);
  };
  walk(r);
  return Float32Array.from(parts);
};

function expectBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) expect.fail(`${what}: cell ${i} differs: threaded ${got[i]} (0x${a[i].toString(16)}) vs one thread ${want[i]} (0x${b[i].toString(16)})`);
  }
}

// ------------------------------------------------------------------------------------------
// gpu.js kernels directly: every chunk mode, odd sizes, fewer cells than threads

describe('gpu.js sync threads (patch 5): threaded == one thread, bit for bit', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let gpu: any;
  beforeAll(() => {
    gpu = new gpujs.GPU({ mode: 'webasm' });
  });
  afterAll(() => gpu.destroy());

  // a kernel mixing a loop, a gather across rows, thread ids as floats and exp (in-module, patch 4)
  const source = `function (a, n) {
    let s = 0;
    for (let k = 0; k < 5; k++) {
      s += a[(this.thread.x + k * 7 + this.thread.y * 3 + this.thread.z * 11) % n] * (k + 1);
    }
    return Math.exp(s * 0.25) + this.thread.x * 0.5 - this.thread.y + Math.tanh(this.thread.z + s);
  }`;
  const make = () => gpu.createKernel(new Function(`return ${source}`)(), {
    output: [1], dynamicOutput: true, dynamicArguments: true, precision: 'single', argumentTypes: ['Array', 'Integer'],
  });

  // [sizeX, sizeY?, sizeZ?]: quad (x % 4 == 0), row (x % 4 != 0, several rows), line (one row,
  // x % 4 != 0), single cells, fewer cells than threads, 3D
  const shapes: number[][] = [[1], [2], [3], [4], [5], [7], [8], [13], [64], [1001], [4, 3], [5, 3], [13, 9], [3, 17], [16, 5, 3], [7, 3, 5], [1, 1, 9], [6, 1, 1]];

  it.each(shapes.map((s) => [s.join('x'), s] as const))('output %s, threads 2, 3 and 4', (_name, shape) => {
    const cells = shape.reduce((p, q) => p * q, 1);
    const a = values(cells, 37, true);
    oneThread();
    const solo = make();
    solo.setOutput(shape);
    const want = flat(solo(a, 37)).slice();
    for (const threads of [2, 3, 4]) {
      force(threads);
      const k = make();
      k.setOutput(shape);
      const before = pool().runCount;
      for (let rep = 0; rep < 2; rep++) {
        expectBits(flat(k(a, 37)), want, `${shape.join('x')} threads ${threads} rep ${rep}`);
      }
      // a threaded run needs two units of work (4 cells of a SIMD row span, or 2 rows/cells)
      const sizeX = shape[0];
      const rows = cells / sizeX;
      const units = sizeX % 4 === 0 ? cells / 4 : rows > 1 ? rows : Math.floor(sizeX / 4);
      expect(pool().runCount - before, `threaded runs of ${shape.join('x')}`).toBe(units >= 2 ? 2 : 0);
      expect(k.kernel._lastRunPath).toBe(units >= 2 ? 'sync-threads' : k.kernel._lastRunPath);
      k.destroy();
    }
    solo.destroy();
  });

  it('Array(4) returns, 3D output with padded rows (the register-blocked kernels\' form)', () => {
    const src = `function (a, K) {
      let s0 = 0; let s1 = 0; let s2 = 0; let s3 = 0;
      for (let k = 0; k < K; k++) {
        const v = a[this.thread.z * K + k];
        s0 += v * (this.thread.x + k); s1 += v * this.thread.y; s2 -= v; s3 += v * v;
      }
      return [s0, s1, s2, s3];
    }`;
    const mk = () => gpu.createKernel(new Function(`return ${src}`)(), {
      output: [1, 1, 1], dynamicOutput: true, dynamicArguments: true, precision: 'single', returnType: 'Array(4)', argumentTypes: ['Array', 'Integer'],
    });
    for (const shape of [[8, 3, 5], [12, 1, 2], [5, 2, 3]]) {
      const a = values(shape[2], shape[2] * 9);
      oneThread();
      const solo = mk();
      solo.setOutput(shape);
      const want = flat(solo(a, 9)).slice();
      force(2);
      const k = mk();
      k.setOutput(shape);
      expectBits(flat(k(a, 9)), want, `Array(4) ${shape.join('x')}`);
      expect(k.kernel._lastRunPath).toBe('sync-threads');
      expect(pool().lastRun.mainChunks).toBeLessThan(pool().lastRun.chunks); // the worker took its share
      solo.destroy();
      k.destroy();
    }
  });

  it('Array(8), Array(12) and Array(16) returns (patch 8: the wide conv tiles\' form), 3D output with padded rows', () => {
    for (const n of [8, 12, 16]) {
      const accs = Array.from({ length: n }, (_, i) => `s${i}`);
      const src = `function (a, K) {
        ${accs.map((v) => `let ${v} = 0;`).join(' ')}
        for (let k = 0; k < K; k++) {
          const v = a[this.thread.z * K + k];
          ${accs.map((v, i) => `${v} += v * (this.thread.x + ${i} * this.thread.y + k);`).join(' ')}
        }
        return [${accs.join(', ')}];
      }`;
      const mk = () => gpu.createKernel(new Function(`return ${src}`)(), {
        output: [1, 1, 1], dynamicOutput: true, dynamicArguments: true, precision: 'single', returnType: `Array(${n})`, argumentTypes: ['Array', 'Integer'],
      });
      for (const shape of [[8, 3, 5], [5, 2, 3]]) {
        const a = values(shape[2] + n, shape[2] * 9);
        oneThread();
        const solo = mk();
        solo.setOutput(shape);
        const want = flat(solo(a, 9)).slice();
        expect(want.length).toBe(shape[0] * shape[1] * shape[2] * n);
        force(2);
        const k = mk();
        k.setOutput(shape);
        expectBits(flat(k(a, 9)), want, `Array(${n}) ${shape.join('x')}`);
        expect(k.kernel._lastRunPath).toBe('sync-threads');
        expect(pool().lastRun.mainChunks).toBeLessThan(pool().lastRun.chunks);
        solo.destroy();
        k.destroy();
      }
    }
  });

  it('seeded Math.random: the same stream threaded (per-cell seeding does not depend on the split)', () => {
    const mk = () => gpu.createKernel(function (this: { thread: { x: number } }) { return Math.random() + this.thread.x * 0; }, {
      output: [1003], precision: 'single', randomSeed: 1234,
    });
    oneThread();
    const solo = mk();
    const want = flat(solo()).slice();
    force(3);
    const k = mk();
    expectBits(flat(k()), want, 'seeded random');
    expect(k.kernel._lastRunPath).toBe('sync-threads');
    solo.destroy();
    k.destroy();
  });

  it('dynamic schedule (the default): bit-identical, and every chunk is computed exactly once', () => {
    force(2, 'dynamic');
    const k = make();
    k.setOutput([4000]);
    const a = values(9, 37);
    oneThread();
    const solo = make();
    solo.setOutput([4000]);
    const want = flat(solo(a, 37)).slice();
    force(2, 'dynamic');
    for (let rep = 0; rep < 20; rep++) expectBits(flat(k(a, 37)), want, `dynamic rep ${rep}`);
    k.destroy();
    solo.destroy();
  });

  it('kernel traits from the source: early returns thread but never take a straggler over; assigning to an argument never threads', () => {
    const early = gpu.createKernel(function (this: { thread: { x: number } }, a: number[]) {
      if (a[this.thread.x] > 0) {
        return a[this.thread.x] * 3;
      }
      return -1 - this.thread.x;
    }, { output: [1000], precision: 'single' });
    const assigns = gpu.createKernel(function (this: { thread: { x: number } }, a: number[], n: number) {
      n = n + 1;
      return a[this.thread.x] + n;
    }, { output: [1000], precision: 'single' });
    const a = values(5, 1000, true);
    oneThread();
    const want = flat(early(a)).slice();
    const wantAssigns = flat(assigns(a, 2)).slice();
    early.destroy();
    assigns.destroy();
    force(2, 'dynamic');
    expect(early.kernel._syncSourceTraits()).toEqual({ independent: true, straightStores: false });
    expect(assigns.kernel._syncSourceTraits()).toEqual({ independent: false, straightStores: true });
    const before = pool().runCount;
    expectBits(flat(assigns(a, 2)), wantAssigns, 'assigns to an argument');
    expect(pool().runCount).toBe(before); // not threaded
    const backups = pool().backupChunks;
    for (let rep = 0; rep < 10; rep++) expectBits(flat(early(a)), want, `early return, rep ${rep}`);
    expect(pool().runCount).toBe(before + 10);
    expect(pool().backupChunks).toBe(backups); // waited for the worker instead
    early.destroy();
    assigns.destroy();
  });

  it('minMs: a size signature goes threaded only once its one-thread runs were measured slow enough', () => {
    setThreads({ threads: 2, minMs: 1e9 });
    WK.syncThreads.probeRuns = 2;
    const k = make();
    k.setOutput([64]);
    const a = values(3, 37);
    const before = pool().runCount;
    for (let rep = 0; rep < 4; rep++) k(a, 37);
    expect(pool().runCount).toBe(before); // never slow enough
    setThreads({ minMs: 1e-9 });
    k.setOutput([68]); // a new size signature: probed twice on one thread, then threaded
    k(a, 37);
    k(a, 37);
    expect(pool().runCount).toBe(before);
    k(a, 37);
    expect(pool().runCount).toBe(before + 1);
    expect(k.kernel._lastRunPath).toBe('sync-threads');
    k.destroy();
  });
});

// ------------------------------------------------------------------------------------------
// tapegrad's backend: the register-blocked kernels and the other op families

describe('webasm backend with threads: the ops, bit-identical to one thread', () => {
  const be = new GpuJsBackend('webasm');
  afterAll(() => be.destroy());
  const down = (s: unknown) => Float32Array.from(s as Float32Array);

  let calls = 0;
  let threadedCalls = 0;
  /**
   * Runs f on one thread and on `threads` threads (static split) and compares the bits. Tiny
   * shapes (one unit of work per kernel) stay on one thread; the tests check most calls threaded.
   */
  function same(what: string, f: () => unknown, threads = 2): void {
    oneThread();
    const want = down(f());
    be.free(want); // the op's output storage (a Float32Array on webasm)
    force(threads);
    const before = pool().runCount;
    const got = down(f());
    be.free(got);
    calls++;
    if (pool().runCount > before) threadedCalls++;
    expectBits(got, want, what);
  }
  const expectMostlyThreaded = () => {
    expect(threadedCalls, `${threadedCalls} of ${calls} calls ran a threaded kernel`).toBeGreaterThan(calls / 2);
    calls = threadedCalls = 0;
  };

  it('matmul (blocked Array(4)), batched and broadcast, M, K, N odd', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 11 }), fc.integer(), (B, M, K, N, seed) => {
        const a = values(seed, B * M * K);
        const b = values(seed + 1, K * N);
        same(`matmul ${B}x${M}x${K}x${N}`, () => be.matmul(a, [B, M, K], b, [K, N], [B, M, N]), 2 + (seed & 1));
      }),
      { numRuns: fcRuns(15) },
    );
    expectMostlyThreaded();
  });

  it('conv2d forward, input gradient (convTranspose2d) and weight gradient (blocked)', () => {
    fc.assert(
      fc.property(
        fc.record({
          N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 6 }),
          H: fc.integer({ min: 2, max: 9 }), W: fc.integer({ min: 2, max: 9 }), k: fc.integer({ min: 1, max: 3 }),
          s: fc.integer({ min: 1, max: 2 }), p: fc.integer({ min: 0, max: 1 }), seed: fc.integer(),
        }),
        (c) => {
          const Ho = Math.floor((c.H + 2 * c.p - c.k) / c.s) + 1;
          const Wo = Math.floor((c.W + 2 * c.p - c.k) / c.s) + 1;
          fc.pre(Ho >= 1 && Wo >= 1);
          const attrs = { stride: [c.s, c.s] as [number, number], padding: [c.p, c.p] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
          const xs = [c.N, c.C, c.H, c.W];
          const ws = [c.O, c.C, c.k, c.k];
          const ys = [c.N, c.O, Ho, Wo];
          const x = values(c.seed, c.N * c.C * c.H * c.W);
          const w = values(c.seed + 1, c.O * c.C * c.k * c.k);
          const dy = values(c.seed + 2, c.N * c.O * Ho * Wo);
          const tag = JSON.stringify(c);
          same(`conv2d ${tag}`, () => be.conv2d(x, xs, w, ws, attrs, ys));
          same(`conv2dFilterGrad ${tag}`, () => be.conv2dFilterGrad(x, xs, dy, ys, ws, attrs, ws));
          // the input gradient as the autograd rule computes it: a transposed conv of dy
          const wt = values(c.seed + 3, c.O * c.C * c.k * c.k);
          const tAttrs = { stride: [c.s, c.s] as [number, number], padding: [c.p, c.p] as [number, number], dilation: [1, 1] as [number, number], groups: 1, outputPadding: [0, 0] as [number, number] };
          same(`convTranspose2d ${tag}`, () => be.convTranspose2d(dy, ys, wt, [c.O, c.C, c.k, c.k], tAttrs, [c.N, c.C, (Ho - 1) * c.s - 2 * c.p + c.k, (Wo - 1) * c.s - 2 * c.p + c.k]));
        },
      ),
      { numRuns: fcRuns(12) },
    );
    expectMostlyThreaded();
  });

  it('elementwise (unary with exp, broadcast binary, where) and reductions at odd sizes', () => {
    for (const n of [9, 37, 1023]) {
      const x = values(n, n, true);
      const y = values(n + 1, n);
      same(`exp ${n}`, () => be.unary('exp', x, n, [n]));
      same(`sigmoid ${n}`, () => be.unary('sigmoid', x, n, [n]));
      same(`mul ${n}`, () => be.binary('mul', x, [n], y, [n], [n]));
      const rows = 7;
      const m = values(n * 3, rows * n);
      same(`add broadcast ${rows}x${n}`, () => be.binary('add', m, [rows, n], y, [1, n], [rows, n]));
      same(`sum axis 1 ${rows}x${n}`, () => be.reduce('sum', m, [rows, n], [1], [rows]));
      same(`sum axis 0 ${rows}x${n}`, () => be.reduce('sum', m, [rows, n], [0], [n]));
      same(`max axis 1 ${rows}x${n}`, () => be.reduce('max', m, [rows, n], [1], [rows]));
      same(`transpose ${rows}x${n}`, () => be.transpose(m, [rows, n], [1, 0], [n, rows]));
    }
    expectMostlyThreaded();
  });
});

// ------------------------------------------------------------------------------------------
// failures: a worker that throws, stalls or exits

describe('sync threads: failures end in a clear error, never a hang or wrong numbers', () => {
  const be = new GpuJsBackend('webasm');
  afterAll(() => be.destroy());
  const a = values(1, 64 * 64);
  const b = values(2, 64 * 64);
  const mm = () => {
    const r = be.matmul(a, [64, 64], b, [64, 64], [64, 64]) as Float32Array;
    const out = r.slice();
    be.free(r);
    return out;
  };
  let want: Float32Array;
  beforeAll(() => {
    oneThread();
    want = mm();
  });

  it('a worker that throws: the op fails naming itself and the worker\'s error; the next call is right', () => {
    force(2);
    mm(); // spawns the worker and sets up the module
    pool().testHook(1, { crash: true });
    expect(mm).toThrow(/^matmul: gpu\.js webasm kernel 'matmulBlocked.*WebAssembly sync threads: a worker failed: Error: injected worker failure/);
    expectBits(mm(), want, 'after a worker error');
  });

  it('a worker that never answers: the op fails within timeoutMs naming itself; the pool restarts', () => {
    force(2);
    mm();
    setThreads({ timeoutMs: 300 });
    pool().testHook(1, { stall: 20_000 });
    const restarts = pool().restarts;
    const t0 = performance.now();
    expect(mm).toThrow(/^matmul: gpu\.js webasm kernel 'matmulBlocked.*WebAssembly sync threads: \d+ of \d+ chunks unfinished after waiting 300 ms for 1 worker\(s\)/);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(pool().restarts).toBe(restarts + 1);
    setThreads({ timeoutMs: 30_000 }); // the fresh worker's boot may take longer than 300 ms on a loaded box
    expectBits(mm(), want, 'after a timeout (fresh worker, fresh module memory)');
    expect(pool().lastRun.mainChunks).toBeLessThan(pool().lastRun.chunks);
  });

  it('dynamic schedule, a worker that stalls: the caller takes its chunk over (right result at once), the next call gets a fresh memory, the stuck worker is replaced after timeoutMs', () => {
    force(2, 'dynamic');
    mm();
    mm();
    // wait until the worker has booted and really takes chunks (dynamic: it may lag at first)
    for (let i = 0; i < 200 && pool().lastRun.mainChunks === pool().lastRun.chunks; i++) mm();
    expect(pool().lastRun.mainChunks, 'the worker never took a chunk in 200 runs').toBeLessThan(pool().lastRun.chunks);
    setThreads({ timeoutMs: 400 });
    pool().testHook(1, { stall: 20_000 });
    const backups = pool().backupChunks;
    const renewals = pool().memoryRenewals;
    const restarts = pool().restarts;
    const t0 = performance.now();
    // the hook fires in the first chunk the worker runs (the caller may take every chunk of a run)
    for (let i = 0; i < 50 && pool().backupChunks === backups; i++) expectBits(mm(), want, `with a stalled worker, run ${i}`);
    expect(pool().backupChunks).toBeGreaterThan(backups);
    expectBits(mm(), want, 'the call after a take-over (the worker is still in that memory)');
    expect(pool().memoryRenewals).toBe(renewals + 1);
    expect(performance.now() - t0).toBeLessThan(5_000); // nobody waited for the 20 s stall
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    expectBits(mm(), want, 'after timeoutMs: the stuck worker is terminated');
    expect(pool().restarts).toBe(restarts + 1);
    setThreads({ timeoutMs: 30_000 });
    expectBits(mm(), want, 'with a fresh worker');
  });

  it('a worker that exits between runs: the next run re-spawns it and is right (static and dynamic)', async () => {
    for (const schedule of ['dynamic', 'static'] as const) {
      force(2, schedule);
      mm();
      const restarts = pool().restarts;
      pool().testHook(1, { exit: true });
      // no await: a synchronous caller may never see the 'exit' event; the worker's own exit
      // handler flags it in shared memory. Wait for that flag without yielding.
      const t0 = performance.now();
      while (Atomics.load(pool().ctl as Int32Array, 4) === 0 && performance.now() - t0 < 10_000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      for (let rep = 0; rep < 3; rep++) expectBits(mm(), want, `${schedule} after exit, rep ${rep}`);
      expect(pool().restarts).toBe(restarts + 1);
      // static: the replacement did its share (dynamic: it may still be booting)
      if (schedule === 'static') expect(pool().lastRun.mainChunks).toBeLessThan(pool().lastRun.chunks);
    }
  });

  it('a worker that exits during a run: the op fails at once naming itself; the next call is right', () => {
    force(2, 'static');
    mm();
    pool().testHook(1, { die: true });
    const t0 = performance.now();
    expect(mm).toThrow(/^matmul: gpu\.js webasm kernel 'matmulBlocked.*WebAssembly sync threads: \d+ of \d+ chunks unfinished because 1 worker\(s\) exited during the run/);
    expect(performance.now() - t0).toBeLessThan(10_000); // not the 30 s timeout
    expectBits(mm(), want, 'after a worker died mid-run');
  });
});

// ------------------------------------------------------------------------------------------
// tapegrad's switch

describe('setThreads / TAPEGRAD_THREADS', () => {
  it('the installed gpu.js has patch 5, and threads work through the public API', () => {
    expect(gpujsPatchStatus().threads).toBe(true);
    const s = T.setThreads({ threads: 2, minMs: 0 });
    expect(s).toMatchObject({ available: true, threads: 2, minMs: 0 });
    WK.syncThreads.schedule = 'static';
    const before = pool().runCount;
    T.tidy(() => {
      const x = T.tensor(Array.from({ length: 24 }, (_, i) => i - 7), [4, 6]);
      const y = T.matmul(x, T.transpose(x));
      expect(y.dataSync()[0]).toBe([...Array(6)].reduce((acc, _, j) => acc + (j - 7) ** 2, 0));
    });
    expect(pool().runCount).toBeGreaterThan(before);
    expect(T.getThreads().threads).toBe(2);
  });

  it('switching threads off and on again rebuilds no kernel module (setThreads keeps modules shared)', () => {
    const be = new GpuJsBackend('webasm');
    const a = values(1, 40 * 40);
    const mm = () => be.free(be.matmul(a, [40, 40], a, [40, 40], [40, 40]));
    T.setThreads({ threads: 2, minMs: 0 });
    mm();
    const builds = be.kernelBuilds();
    const runs = pool().runCount;
    T.setThreads(1);
    mm();
    expect(pool().runCount).toBe(runs); // one thread: gpu.js's plain dispatch, on the shared module
    T.setThreads(2);
    mm();
    expect(pool().runCount).toBe(runs + 1);
    expect(be.kernelBuilds()).toBe(builds);
    be.destroy();
  });

  it('TAPEGRAD_THREADS, TAPEGRAD_THREADS_MIN_MS, TAPEGRAD_THREADS_TIMEOUT_MS', () => {
    expect(threadsFromEnv({})).toEqual({ threads: 1, minMs: 5, timeoutMs: 30_000 });
    expect(threadsFromEnv({ TAPEGRAD_THREADS: '2', TAPEGRAD_THREADS_MIN_MS: '0', TAPEGRAD_THREADS_TIMEOUT_MS: '500' })).toEqual({ threads: 2, minMs: 0, timeoutMs: 500 });
    expect(threadsFromEnv({ TAPEGRAD_THREADS: ' ' })).toEqual({ threads: 1, minMs: 5, timeoutMs: 30_000 });
    expect(() => threadsFromEnv({ TAPEGRAD_THREADS: 'two' })).toThrow(/^TAPEGRAD_THREADS: expected a number, got 'two'/);
    // the value check is setThreads' (what applyThreadEnv calls with these)
    expect(() => T.setThreads(threadsFromEnv({ TAPEGRAD_THREADS: '0' }))).toThrow(/^setThreads: threads must be an integer >= 1, got 0/);
  });

  it('rejects bad settings with an error naming setThreads', () => {
    expect(() => T.setThreads(0)).toThrow(/^setThreads: threads must be an integer >= 1, got 0/);
    expect(() => T.setThreads(1.5)).toThrow(/^setThreads: threads must be an integer >= 1, got 1.5/);
    expect(() => T.setThreads({ minMs: -1 })).toThrow(/^setThreads: minMs must be a finite number >= 0/);
  });

  it('without patch 5 (the pristine gpu.js) threads are unavailable, with the reason', () => {
    const twins = loadTwins();
    const pristine = threadSupportOf(twins.pristine.WebAssemblyKernel);
    expect(pristine.available).toBe(false);
    expect(pristine.reason).toMatch(/lacks tapegrad patch 5/);
    expect(threadSupportOf(twins.patched.WebAssemblyKernel).available).toBe(true);
  });
});
