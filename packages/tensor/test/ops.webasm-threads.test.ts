// The op conformance suite on webasm with threads forced on (gpu.js patch 5: every kernel with
// at least two units of work runs split over 2 threads, static schedule so the worker really
// computes its share), against the float64 reference backend as usual. On top of that, every
// gpu.js webasm kernel call the suite makes runs twice, on one thread and threaded, and the two
// results must agree bit for bit (NaN payloads included): a split never changes a number.

import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { opSuite } from './ops.suite.ts';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const WK: any = require('gpu.js').WebAssemblyKernel;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pool = (): any => require('gpu.js/src/backend/web-assembly/worker-pool.js').getSyncThreadPool();

const bits = (r: unknown): Uint32Array => {
  if (r instanceof Float32Array) return new Uint32Array(r.slice().buffer);
  const parts: number[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array) parts.push(...v);
    else for (const x of v as unknown[]) walk(x);
  };
  walk(r);
  return new Uint32Array(Float32Array.from(parts).buffer);
};

const stats = { compared: 0, threaded: 0, skippedRandom: 0 };
const mismatches: string[] = [];
const original = WK.prototype.run;
const savedSchedule = WK.syncThreads.schedule;

beforeAll(async () => {
  expect(await T.setBackend('webasm')).toBe('webasm');
  const s = T.setThreads({ threads: 2, minMs: 0 });
  expect(s.available, `threads unavailable: ${s.reason}`).toBe(true);
  WK.syncThreads.schedule = 'static';
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  WK.prototype.run = function (this: any, ...args: unknown[]) {
    // this kernel alone on one thread, on its own module with non-shared memory: gpu.js's plain path
    this.syncThreads = 1;
    WK.syncThreads.sharedMemory = false;
    let solo: Uint32Array | null = null;
    try {
      solo = bits(original.apply(this, args));
    } finally {
      this.syncThreads = null;
      WK.syncThreads.sharedMemory = true;
    }
    const before = pool().runCount;
    const result = original.apply(this, args);
    if (this.usesRandom && this.randomSeed === null) {
      stats.skippedRandom++; // unseeded Math.random draws a new stream per call
      return result;
    }
    stats.compared++;
    if (pool().runCount > before) stats.threaded++;
    const got = bits(result);
    const n = Math.max(got.length, solo.length);
    for (let i = 0; i < n; i++) {
      if (got[i] !== solo[i]) {
        mismatches.push(`kernel output [${this.output}] cell ${i}: threaded 0x${got[i]?.toString(16)} vs one thread 0x${solo[i]?.toString(16)}`);
        break;
      }
    }
    return result;
  };
});

afterAll(() => {
  WK.prototype.run = original;
  WK.syncThreads.schedule = savedSchedule;
  WK.syncThreads.sharedMemory = false;
  T.setThreads({ threads: 1 });
});

opSuite('webasm', { maxSize: 256, numRuns: 12, specialRuns: 6 });

describe('threads forced on: every kernel call of the suite', () => {
  it('gave the same bits threaded as on one thread, and a good share of them really ran threaded', () => {
    expect(mismatches).toEqual([]);
    expect(stats.compared).toBeGreaterThan(500);
    // most of the suite's outputs are tiny (fewer than two units of work: 8 cells) and stay on
    // one thread; a typical run threads ~15% of ~2000 calls
    expect(stats.threaded, JSON.stringify(stats)).toBeGreaterThan(Math.max(100, stats.compared * 0.05));
  });
});
