// The demo's building blocks: data sets, MMD, PNG encoding, the 5x7 font.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { randomKey } from '@tapegrad/tensor';
import { DATASETS, hostNormal, hostUniform, makeDataset } from '../src/data/toy2d.ts';
import { mmdRbf } from '../src/eval/mmd.ts';
import { Canvas, writePng } from '../src/demo/png.ts';
import { grid, scatterPanel } from '../src/demo/plot.ts';
import { glyph } from '../src/demo/font.ts';

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
    expect(() => mmdRbf([0, 0], [1, 1], 0)).toThrow('mmdRbf: bandwidth must be > 0, got 0');
    expect(() => mmdRbf([0, 0, 1], [1, 1], 1)).toThrow(/whole 2-D points/);
    expect(() => mmdRbf([0, NaN], [1, 1], 1)).toThrow(/non-finite coordinate NaN/);
  });
});

describe('PNG output', () => {
  it('a scatter grid encodes to a valid PNG of the right size, with the points drawn', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddpm-png-'));
    try {
      const pts = makeDataset('moons', randomKey(9), 200);
      const panel = scatterPanel(pts, pts, { size: 120, title: ['TEST PANEL'] });
      const img = grid([panel, panel], 2, 'TITLE');
      const path = join(dir, 'sub', 'g.png');
      writePng(path, img);
      const png = PNG.sync.read(readFileSync(path));
      expect([png.width, png.height]).toEqual([img.width, img.height]);
      let coloured = 0;
      for (let i = 0; i < png.data.length; i += 4) if (png.data[i + 2]! > png.data[i]! + 40) coloured++; // blue-ish points
      expect(coloured).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('canvas primitives and the font', () => {
    const c = new Canvas(20, 10);
    c.dot(5, 5, 2, [255, 0, 0]);
    expect(Array.from(c.data.slice((5 * 20 + 5) * 4, (5 * 20 + 5) * 4 + 4))).toEqual([255, 0, 0, 255]);
    expect(c.text(0, 0, 'AB')).toBe(12);
    expect(glyph('a')).toEqual(glyph('A'));
    expect(glyph('~')).toEqual(glyph('?'));
    expect(() => new Canvas(0, 5)).toThrow('Canvas: width and height must be positive integers, got 0x5');
  });
});
