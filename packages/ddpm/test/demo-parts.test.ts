// The 2-D building blocks: data sets and MMD (the demo's PNG/font code moved to packages/cli as SVG plots).
import { describe, expect, it } from 'vitest';
import { randomKey } from '@tapegrad/tensor';
import { DATASETS, hostNormal, hostUniform, makeDataset } from '../src/data/toy2d.ts';
import { mmdRbf } from '../src/eval/mmd.ts';

describe('data sets', () => {
  for (const name of DATASETS) {
    it(`${name}: seeded, deterministic, roughly unit scale`, () => {
      const a = makeDataset(name, randomKey(1), 2000);
      expect(Array.from(a)).toEqual(Array.from(makeDataset(name, randomKey(1), 2000)));
      expect(Array.from(a.slice(0, 10))).not.toEqual(Array.from(makeDataset(name, randomKey(2), 2000).slice(0, 10)));
      for (let k = 0; k < 2; k++) {
        let m = 0, v = 0;
        for (let i = k; i < a.length; i += 2) m += a[i]!;
        m /= 2000;
        for (let i = k; i < a.length; i += 2) v += (a[i]! - m) ** 2;
        const sd = Math.sqrt(v / 1999);
        expect(Math.abs(m), `${name} mean ${k}`).toBeLessThan(0.35);
        expect(sd, `${name} sd ${k}`).toBeGreaterThan(0.5);
        expect(sd, `${name} sd ${k}`).toBeLessThan(1.3);
      }
    });
  }
  it('moons: the two half circles of sklearn make_moons (before scaling)', () => {
    const a = makeDataset('moons', randomKey(3), 4000);
    let near = 0;
    for (let i = 0; i < a.length; i += 2) {
      const x = a[i]! * 0.7 + 0.5, y = a[i + 1]! * 0.7 + 0.25;
      const dOuter = Math.abs(Math.hypot(x, y) - 1), dInner = Math.abs(Math.hypot(x - 1, y - 0.5) - 1);
      if (Math.min(dOuter, dInner) < 0.2) near++;
    }
    expect(near / 2000).toBeGreaterThan(0.99);
  });
  it('host uniforms and normals have the right moments', () => {
    const u = hostUniform(randomKey(4), 20000), z = hostNormal(randomKey(5), 20000);
    const mean = (v: Float64Array) => v.reduce((s, x) => s + x, 0) / v.length;
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.01);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(mean(z))).toBeLessThan(0.03);
    expect(Math.abs(mean(z.map((x) => x * x)) - 1)).toBeLessThan(0.04);
  });
  it('rejects unknown names', () => {
    expect(() => makeDataset('circles' as never, randomKey(0), 10)).toThrow("makeDataset: unknown data set 'circles', expected one of 'moons', 'swissroll', '8gaussians'");
  });
});

describe('mmdRbf', () => {
  const x = makeDataset('moons', randomKey(6), 300);
  const y = makeDataset('moons', randomKey(7), 300);
  const g = makeDataset('8gaussians', randomKey(8), 300);
  it('is 0 for identical samples, symmetric, small for same-distribution samples, larger otherwise', () => {
    expect(mmdRbf(x, x, 0.5)).toBeLessThan(1e-7);
    expect(Math.abs(mmdRbf(x, y, 0.5) - mmdRbf(y, x, 0.5))).toBeLessThan(1e-12);
    expect(mmdRbf(x, g, 0.5)).toBeGreaterThan(3 * mmdRbf(x, y, 0.5));
  });
  it('matches the closed form for two single points', () => {
    // MMD^2 = k(a,a) + k(b,b) - 2 k(a,b) = 2 - 2 exp(-d^2/(2h^2))
    expect(mmdRbf([0, 0], [3, 4], 2)).toBeCloseTo(Math.sqrt(2 - 2 * Math.exp(-25 / 8)), 12);
  });
  it('rejects bad input', () => {
    expect(() => mmdRbf([0, 0], [1, 1], 0)).toThrow('mmdRbf: bandwidth must be a finite number > 0, got 0');
    expect(() => mmdRbf([0, 0, 1], [1, 1], 1)).toThrow(/whole 2-D points/);
    expect(() => mmdRbf([0, NaN], [1, 1], 1)).toThrow(/non-finite coordinate NaN/);
  });
});
