// Host-side randomness of the ddpm package: sampleTimesteps (the training timesteps) and the
// demo data sets' hostUniform / hostNormal re-derive @tapegrad/tensor's device RNG on the host,
// so they must equal randomInt / randomUniform / randomNormal bit for bit (compared on the
// float64 reference backend, where nothing is rounded). sampleTimesteps must cover [0, T):
// every value reachable, uniform by a chi-square test, and the training loop (train) must
// actually train on every t (issue 9: "training never samples t >= 800" passed every test).

import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sampleTimesteps } from '../src/process/loss.ts';
import { hostNormal, hostUniform } from '../src/data/toy2d.ts';
import { fcParams } from '@tapegrad/tensor/testing';

// Record the timesteps the training loop passes to diffusionLoss.
const seenT: number[] = [];
vi.mock('../src/process/loss.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../src/process/loss.ts')>();
  return {
    ...orig,
    // the host gather of each update's per-sample coefficients (compiled and eager loops alike)
    lossCoefficients: (...args: Parameters<typeof orig.lossCoefficients>) => {
      seenT.push(...Array.from(args[1]));
      return orig.lossCoefficients(...args);
    },
  };
});
const { train } = await import('../src/train/train.ts');
const { mlpDenoiser } = await import('../src/models/mlp.ts');
const { toy2dSource } = await import('../src/data/toy2d.ts');

/** Upper critical value of chi-square with k degrees of freedom at z standard deviations (Wilson-Hilferty). */
function chiSquareCritical(k: number, z = 4.75): number {
  const a = 2 / (9 * k);
  return k * (1 - a + z * Math.sqrt(a)) ** 3;
}

function chiSquare(counts: number[], n: number): number {
  const e = n / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

function histogram(values: ArrayLike<number>, bins: number, T: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.floor((values[i]! * bins) / T)]!++;
  return counts;
}

describe('sampleTimesteps', () => {
  it('T = 1000, 20000 draws: every t in [0, 1000) is drawn and the counts pass a chi-square test of uniformity', () => {
    const n = 20000;
    const t = sampleTimesteps(T.randomKey(11), n, 1000);
    expect(t.length).toBe(n);
    const counts = new Array<number>(1000).fill(0);
    for (const v of t) {
      expect(Number.isInteger(v) && v >= 0 && v < 1000, `t = ${v}`).toBe(true);
      counts[v]!++;
    }
    const missing = counts.flatMap((c, i) => (c === 0 ? [i] : []));
    expect(missing, 'timesteps never drawn').toEqual([]);
    const chi = chiSquare(counts, n);
    expect(chi).toBeLessThan(chiSquareCritical(999));
    // and the coarse shape: each tenth of [0, T) gets its tenth of the draws
    expect(chiSquare(histogram(t, 10, 1000), n)).toBeLessThan(chiSquareCritical(9));
  });

  it('small T (1, 2, 3, 7, 10): every value in [0, T) is drawn, uniformly (chi-square)', () => {
    for (const Tn of [1, 2, 3, 7, 10]) {
      const n = 2000 * Tn;
      const t = sampleTimesteps(T.randomKey(100 + Tn), n, Tn);
      const counts = new Array<number>(Tn).fill(0);
      for (const v of t) counts[v]!++;
      expect(counts.every((c) => c > 0), `T = ${Tn}: counts ${counts}`).toBe(true);
      if (Tn > 1) expect(chiSquare(counts, n), `T = ${Tn}: counts ${counts}`).toBeLessThan(chiSquareCritical(Tn - 1));
    }
  });

  it('equals tensor randomInt(key, [n], 0, T) bit for bit (reference backend) for random keys, n and T (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2 ** 24 }), (hi, lo, n, Tn) => {
        const key = new T.RandomKey(hi, lo);
        const host = sampleTimesteps(key, n, Tn);
        const dev = T.useBackend('reference', () => {
          const x = T.randomInt(key, [n], 0, Tn);
          const v = x.dataSync();
          x.dispose();
          return v;
        });
        expect(Array.from(host)).toEqual(Array.from(dev));
        expect(host.every((v) => v >= 0 && v < Tn)).toBe(true);
      }),
      fcParams(60),
    );
  });

  it('the largest draws reach T - 1 for T = 2^24 (no float rounding cuts off the top of the range)', () => {
    const Tn = 2 ** 24;
    // 2^32 / T = 256 hash values per t: the key that makes the first hash large enough is
    // found by scanning; the point is the upper bound, not the probability.
    let max = 0;
    for (let s = 0; s < 4000; s++) max = Math.max(max, sampleTimesteps(T.randomKey(s), 1, Tn)[0]!);
    expect(max).toBeGreaterThan(Tn * (1 - 1e-3));
    expect(max).toBeLessThan(Tn);
  });

  it('rejects bad n and T with the error form', () => {
    expect(() => sampleTimesteps(T.randomKey(0), 0, 10)).toThrow(/^sampleTimesteps: n must be an integer >= 1, got 0/);
    expect(() => sampleTimesteps(T.randomKey(0), 4, 0)).toThrow(/^sampleTimesteps: T must be an integer >= 1, got 0/);
    expect(() => sampleTimesteps(T.randomKey(0), 4, 2.5)).toThrow(/^sampleTimesteps: T must be an integer >= 1, got 2.5/);
  });
});

describe('the demo data sets re-derive the device RNG bit for bit', () => {
  it('hostUniform(key, n) equals randomUniform(key, [n]) and hostNormal(key, n) equals randomNormal(key, [n]) on the reference backend (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 64 }), (hi, lo, n) => {
        const key = new T.RandomKey(hi, lo);
        const [u, z] = T.useBackend('reference', () => {
          const a = T.randomUniform(key, [n]);
          const b = T.randomNormal(key, [n]);
          const r = [a.dataSync(), b.dataSync()];
          T.dispose([a, b]);
          return r;
        });
        expect(Array.from(hostUniform(key, n))).toEqual(Array.from(u!));
        expect(Array.from(hostNormal(key, n))).toEqual(Array.from(z!));
      }),
      fcParams(40),
    );
  });
});

describe('the training loop (train)', () => {
  it('trains on every part of [0, T): 30 steps x batch 100 at T = 1000 cover all tenths uniformly and reach t >= 990; memory() (with the backend allocation counter) is flat across steps', async () => {
    seenT.length = 0;
    const cfg = { dim: 2, hidden: 8, layers: 2, timeEmbedDim: 4, xEmbedDim: 4, xEmbedScale: 1 };
    const mems: ReturnType<typeof T.memory>[] = [];
    const res = await train(
      {
        model: mlpDenoiser(cfg), modelConfig: cfg, modelKind: 'mlp', data: toy2dSource('moons', T.randomKey(1), 2000),
        steps: 30, batchSize: 100, seed: 3, schedule: { kind: 'linear', T: 1000 }, lr: 1e-3, warmupSteps: 0, weightDecay: 0, logEvery: 5,
      },
      { onStep: (m) => { if (m.step % 5 === 0) mems.push(T.memory()); } },
    );
    try {
      expect(seenT.length).toBe(3000);
      expect(Math.max(...seenT)).toBeGreaterThanOrEqual(990);
      expect(Math.min(...seenT)).toBeLessThanOrEqual(9);
      expect(chiSquare(histogram(seenT, 10, 1000), 3000)).toBeLessThan(chiSquareCritical(9));
      expect(mems.length).toBe(6);
      for (const m of mems.slice(1)) expect(m).toEqual(mems[0]);
    } finally {
      T.dispose([res.params, res.emaParams]);
    }
  });
});
