// Counter-based randomness: Threefry-2x32 against the Random123 known-answer vectors, JAX's
// key derivation, identical numbers on every backend, and distribution checks.
//
// The statistical checks use fixed keys, so they are deterministic; their bounds are ~5
// standard errors (or p ~ 1e-6 quantiles), far from what a correct generator produces and
// far inside what a broken one (wrong transform, reused counters, truncated bits) gives.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { fcParams } from '@tapegrad/tensor/testing';

let webgpuSkip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  webgpuSkip = (e as Error).message.split('\n')[0];
  console.warn(`random.test.ts: webgpu comparisons are skipped: ${webgpuSkip}`);
}
await T.setBackend('webasm');

const BACKENDS: T.BackendName[] = webgpuSkip ? ['webasm', 'cpu'] : ['webasm', 'cpu', 'webgpu'];

/** Values of a tensor made on `backend` by `f`; the tensor is disposed. */
async function sample(backend: T.BackendName, f: () => T.Tensor): Promise<Float64Array> {
  const t = T.useBackend(backend, f);
  try {
    expect(t.backend).toBe(backend);
    return Float64Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

async function sample32(backend: T.BackendName, f: () => T.Tensor): Promise<Float32Array> {
  const t = T.useBackend(backend, f);
  try {
    expect(t.backend).toBe(backend);
    const d = await t.data();
    expect(d).toBeInstanceOf(Float32Array);
    return d as Float32Array;
  } finally {
    t.dispose();
  }
}

const hex = (p: readonly number[]) => p.map((v) => v.toString(16).padStart(8, '0'));

// Standard normal CDF from the Numerical Recipes erfc (fractional error < 1.2e-7), written
// here so the check does not lean on the library's own erf.
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}
const normalCdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);

/** Kolmogorov-Smirnov statistic of the sample against a continuous CDF. */
function ksStatistic(values: ArrayLike<number>, cdf: (x: number) => number): number {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

function moments(v: ArrayLike<number>): { mean: number; variance: number; skew: number; exKurt: number } {
  const n = v.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += v[i];
  m /= n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = v[i] - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return { mean: m, variance: m2, skew: m3 / m2 ** 1.5, exKurt: m4 / (m2 * m2) - 3 };
}

/** Pearson chi-square of counts against equal expected counts. */
function chiSquare(counts: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  const e = n / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

/** Upper p-quantile of chi-square with k degrees of freedom (Wilson-Hilferty), z = normal quantile. */
const chiSquareQuantile = (k: number, z: number) => k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
const Z_1E6 = 4.753; // P(Z > 4.753) = 1e-6

describe('threefry2x32 and key derivation', () => {
  it('matches the Random123 known-answer vectors (kat_vectors lists counter, then key)', () => {
    // threefry2x32 20 00000000 00000000 00000000 00000000 -> 6b200159 99ba4efe
    expect(hex(T.threefry2x32(0, 0, 0, 0))).toEqual(['6b200159', '99ba4efe']);
    // threefry2x32 20 ffffffff ffffffff ffffffff ffffffff -> 1cb996fc bb002be7
    expect(hex(T.threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff))).toEqual(['1cb996fc', 'bb002be7']);
    // threefry2x32 20 243f6a88 85a308d3 (ctr) 13198a2e 03707344 (key) -> c4923a9c 483df7a0;
    // the signature is threefry2x32(k0, k1, c0, c1), so the key comes first here
    expect(hex(T.threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3))).toEqual(['c4923a9c', '483df7a0']);
    // and swapping key and counter gives something else
    expect(hex(T.threefry2x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344))).not.toEqual(['c4923a9c', '483df7a0']);
    // words are treated as uint32: -1 is 0xffffffff
    expect(T.threefry2x32(-1, -1, -1, -1)).toEqual(T.threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff));
  });

  it("randomKey / splitKey reproduce JAX's PRNGKey and classic split", () => {
    expect(T.randomKey(0).words).toEqual([0, 0]);
    expect(T.randomKey(42).words).toEqual([0, 42]); // jax.random.PRNGKey(42) == [0, 42]
    expect(T.randomKey(2 ** 32 + 5).words).toEqual([1, 5]);
    // jax.random.split(jax.random.PRNGKey(0)) == [[4146024105, 967050713], [2718843009, 1272950319]]
    expect(T.splitKey(T.randomKey(0)).map((k) => k.words)).toEqual([
      [4146024105, 967050713],
      [2718843009, 1272950319],
    ]);
    expect(T.splitKey(T.randomKey(0), 1)).toHaveLength(1);
    expect(T.splitKey(T.randomKey(0), 5)).toHaveLength(5);
  });

  it('splitKey / foldIn give distinct keys (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 2, max: 8 }), (seed, n) => {
        const k = T.randomKey(seed);
        const keys = [k, ...T.splitKey(k, n), T.foldIn(k, 0), T.foldIn(k, 1), T.foldIn(k, 2 ** 32 - 1)];
        const ids = new Set(keys.map((x) => x.words.join(',')));
        expect(ids.size).toBe(keys.length);
        // deterministic
        expect(T.splitKey(k, n).map((x) => x.words)).toEqual(T.splitKey(k, n).map((x) => x.words));
        expect(T.foldIn(k, 7).words).toEqual(T.foldIn(k, 7).words);
      }),
      fcParams(100),
    );
  });

  it('uniform numbers follow the documented derivation: (threefry(key, (j, 0))[0] >>> 8) / 2^24', async () => {
    const k = T.splitKey(T.randomKey(3))[1];
    const u = await sample('reference', () => T.randomUniform(k, [64]));
    const expected = Array.from({ length: 64 }, (_, j) => (T.threefry2x32(k.words[0], k.words[1], j, 0)[0] >>> 8) / 2 ** 24);
    expect(Array.from(u)).toEqual(expected);
    // a longer draw starts with the same numbers (counters are positions)
    const longer = await sample('reference', () => T.randomUniform(k, [4, 32]));
    expect(Array.from(longer.slice(0, 64))).toEqual(expected);
  });
});

describe('the same key gives the same numbers on every backend', () => {
  const key = T.foldIn(T.randomKey(2024), 11);
  const draws: [string, () => T.Tensor][] = [
    ['randomNormal', () => T.randomNormal(key, [4, 250])],
    ['randomNormal(mean 3, std 0.5)', () => T.randomNormal(key, [333], 3, 0.5)],
    ['randomUniform', () => T.randomUniform(key, [1000])],
    ['randomUniform(-3, 5)', () => T.randomUniform(key, [10, 10], -3, 5)],
    ['randomInt(-5, 1000)', () => T.randomInt(key, [777], -5, 1000)],
  ];
  for (const [name, f] of draws) {
    it(`${name}: bit-identical float32 on ${BACKENDS.join(', ')}${webgpuSkip ? ` (webgpu SKIPPED: ${webgpuSkip})` : ''}; the float32 rounding of the reference`, async () => {
      const ref = await sample('reference', f);
      const bits: Uint32Array[] = [];
      for (const b of BACKENDS) {
        const v = await sample32(b, f);
        expect(v.length).toBe(ref.length);
        bits.push(new Uint32Array(v.buffer, v.byteOffset, v.length));
        for (let i = 0; i < ref.length; i++) {
          if (v[i] !== Math.fround(ref[i])) throw new Error(`${name} on ${b}: element ${i} is ${v[i]}, expected fround(${ref[i]}) = ${Math.fround(ref[i])}`);
        }
      }
      for (let k = 1; k < bits.length; k++) expect(bits[k]).toEqual(bits[0]);
      // and again: nothing depends on state outside the key
      expect(new Uint32Array((await sample32('webasm', f)).buffer)).toEqual(bits[0]);
    });
  }
});

describe('distributions', () => {
  const N = 65536;

  it('randomNormal: mean, variance, skew and excess kurtosis within 5 standard errors (n = 65536)', async () => {
    // standard errors for n draws of N(0,1): mean 1/sqrt(n), variance sqrt(2/n),
    // skew sqrt(6/n), excess kurtosis sqrt(24/n)
    const se = { mean: 1 / Math.sqrt(N), variance: Math.sqrt(2 / N), skew: Math.sqrt(6 / N), exKurt: Math.sqrt(24 / N) };
    for (const key of [T.randomKey(0), T.randomKey(1), T.splitKey(T.randomKey(7), 3)[2]]) {
      const v = await sample('webasm', () => T.randomNormal(key, [N]));
      const m = moments(v);
      expect(Math.abs(m.mean), `mean (${key})`).toBeLessThan(5 * se.mean);
      expect(Math.abs(m.variance - 1), `variance (${key})`).toBeLessThan(5 * se.variance);
      expect(Math.abs(m.skew), `skew (${key})`).toBeLessThan(5 * se.skew);
      expect(Math.abs(m.exKurt), `excess kurtosis (${key})`).toBeLessThan(5 * se.exKurt);
      // lag-1 autocorrelation (neighbouring counters must be independent)
      let c = 0;
      for (let i = 1; i < N; i++) c += (v[i] - m.mean) * (v[i - 1] - m.mean);
      expect(Math.abs(c / (N - 1) / m.variance), `lag-1 autocorrelation (${key})`).toBeLessThan(5 / Math.sqrt(N));
    }
    // mean and std arguments
    const v = await sample('webasm', () => T.randomNormal(T.randomKey(5), [N], 3, 2));
    const m = moments(v);
    expect(Math.abs(m.mean - 3)).toBeLessThan((5 * 2) / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(m.variance) - 2)).toBeLessThan(5 * 2 * Math.sqrt(1 / (2 * N)));
    const zero = await sample('webasm', () => T.randomNormal(T.randomKey(5), [8], -1, 0));
    expect(Array.from(zero)).toEqual(new Array(8).fill(-1));
  });

  it('randomNormal: Kolmogorov-Smirnov distance to N(0,1) below the alpha = 0.001 critical value', async () => {
    const crit = 1.949 / Math.sqrt(N); // K-S critical value for alpha = 0.001
    for (const key of [T.randomKey(0), T.randomKey(99)]) {
      const v = await sample('webasm', () => T.randomNormal(key, [N]));
      expect(ksStatistic(v, normalCdf)).toBeLessThan(crit);
      // the same check rejects a mis-scaled normal: the test has power
      expect(ksStatistic(v.map((x) => x * 1.1), normalCdf)).toBeGreaterThan(crit);
    }
    // Box-Muller on 24-bit uniforms: finite, and tails out to about 5.7 sigma
    const v = await sample('webasm', () => T.randomNormal(T.randomKey(1), [N]));
    expect(v.every(Number.isFinite)).toBe(true);
    expect(Math.max(...v.map(Math.abs))).toBeLessThan(6);
  });

  it('randomUniform: values in [lo, hi), flat histogram (chi-square, 64 bins, p ~ 1e-6 bound), K-S to U(0,1)', async () => {
    const v = await sample('webasm', () => T.randomUniform(T.randomKey(0), [N]));
    expect(v.every((x) => x >= 0 && x < 1)).toBe(true);
    const counts = new Array(64).fill(0);
    for (const x of v) counts[Math.floor(x * 64)]++;
    expect(chiSquare(counts)).toBeLessThan(chiSquareQuantile(63, Z_1E6));
    expect(ksStatistic(v, (x) => Math.min(1, Math.max(0, x)))).toBeLessThan(1.949 / Math.sqrt(N));
    const w = await sample('webasm', () => T.randomUniform(T.randomKey(1), [N], -2, 6));
    expect(w.every((x) => x >= -2 && x < 6)).toBe(true);
    expect(Math.abs(moments(w).mean - 2)).toBeLessThan((5 * 8) / Math.sqrt(12 * N));
  });

  it('randomUniform never returns hi, also where float32 rounding of lo + (hi - lo) u would reach it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 24 }),
        fc.constantFrom(1, 0.5, 0.25, 3),
        fc.boolean(),
        fc.constantFrom<T.BackendName>('webasm', 'reference'),
        fc.nat(1000),
        async (e, width, negative, backend, seed) => {
          const lo = negative ? -(2 ** e) - width : 2 ** e;
          const hi = lo + width;
          // float32-exact bounds only: e.g. [-4194304.25, -4194304) holds no float32 number at all
          fc.pre(Math.fround(lo) === lo && Math.fround(hi) === hi);
          const v = await sample(backend, () => T.randomUniform(T.randomKey(seed), [2048], lo, hi));
          const bad = v.findIndex((x) => !(x >= lo && x < hi));
          if (bad >= 0) throw new Error(`randomUniform(lo=${lo}, hi=${hi}) on ${backend}: value ${v[bad]} at ${bad} is outside [lo, hi)`);
        },
      ),
      fcParams(40),
    );
  });

  it('randomInt: integers in [lo, hi), every value hit, flat (chi-square, p ~ 1e-6 bound)', async () => {
    const v = await sample('webasm', () => T.randomInt(T.randomKey(4), [20000], -3, 7));
    expect(v.every((x) => Number.isInteger(x) && x >= -3 && x < 7)).toBe(true);
    const counts = new Array(10).fill(0);
    for (const x of v) counts[x + 3]++;
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(chiSquare(counts)).toBeLessThan(chiSquareQuantile(9, Z_1E6));
    // a range of one value, and the widest range float32 holds exactly
    expect(Array.from(await sample('webasm', () => T.randomInt(T.randomKey(4), [5], 9, 10)))).toEqual([9, 9, 9, 9, 9]);
    const wide = await sample('webasm', () => T.randomInt(T.randomKey(4), [4096], -(2 ** 24), 2 ** 24));
    expect(wide.every((x) => Number.isInteger(x) && x >= -(2 ** 24) && x < 2 ** 24)).toBe(true);
    expect(new Set(wide).size).toBeGreaterThan(4000);
  });

  it('different keys give different streams; normal / uniform / int of one key are different streams', async () => {
    const n = 4096;
    const k = T.randomKey(0);
    const [k1, k2] = T.splitKey(k);
    const streams = [
      await sample('webasm', () => T.randomNormal(k, [n])),
      await sample('webasm', () => T.randomNormal(T.randomKey(1), [n])),
      await sample('webasm', () => T.randomNormal(k1, [n])),
      await sample('webasm', () => T.randomNormal(k2, [n])),
      await sample('webasm', () => T.randomNormal(T.foldIn(k, 1), [n])),
    ];
    for (let a = 0; a < streams.length; a++) {
      for (let b = a + 1; b < streams.length; b++) {
        const same = streams[a].filter((x, i) => x === streams[b][i]).length;
        expect(same, `streams ${a} and ${b} share ${same} values`).toBeLessThan(5);
        // and are uncorrelated
        let c = 0;
        for (let i = 0; i < n; i++) c += streams[a][i] * streams[b][i];
        expect(Math.abs(c / n), `correlation of streams ${a} and ${b}`).toBeLessThan(5 / Math.sqrt(n));
      }
    }
    // one key, three distributions: they use different counters, so uniform != Phi(normal)
    const u = await sample('webasm', () => T.randomUniform(k, [n]));
    const z = await sample('webasm', () => T.randomNormal(k, [n]));
    let c = 0;
    for (let i = 0; i < n; i++) c += (u[i] - 0.5) * z[i];
    expect(Math.abs(c / n / Math.sqrt(1 / 12))).toBeLessThan(5 / Math.sqrt(n));
    // same key twice: identical
    expect(await sample('webasm', () => T.randomNormal(k, [n]))).toEqual(streams[0]);
  });

  it('bad arguments throw, naming the op', () => {
    const k = T.randomKey(0);
    expect(() => T.randomNormal(1 as unknown as T.RandomKey, [2])).toThrow(/^randomNormal: expected a RandomKey/);
    expect(() => T.randomUniform(k, [2], 2, 1)).toThrow(/^randomUniform: expected finite bounds with lo < hi, got lo=2, hi=1/);
    expect(() => T.randomUniform(k, [2], NaN, 1)).toThrow(/^randomUniform: .*lo=NaN/);
    expect(() => T.randomInt(k, [2], 0.5, 3)).toThrow(/^randomInt: .*lo=0\.5/);
    expect(() => T.randomNormal(k, [2], 0, Infinity)).toThrow(/^randomNormal: .*std=Infinity/);
    expect(() => T.randomUniform(k, [1.5])).toThrow(/^randomUniform: shape must be an array of non-negative integers, got \[1\.5\]/);
    expect(() => T.randomInt(k, [2 ** 16, 2 ** 16], 0, 2)).toThrow(/^randomInt: shape \[65536,65536\] has too many elements for one key/);
    expect(() => T.randomKey(2 ** 53)).toThrow(/^randomKey: seed must be a non-negative safe integer, got 9007199254740992/);
    expect(() => T.splitKey(k, 1.5)).toThrow(/^splitKey: n must be a positive integer, got 1\.5/);
    expect(() => T.foldIn(k, -1)).toThrow(/^foldIn: data must be an integer in \[0, 2\^32\), got -1/);
    expect(() => T.foldIn('key' as unknown as T.RandomKey, 1)).toThrow(/^foldIn: expected a RandomKey .*got string/);
  });
});
