// Picture writers: PNG grids decode back to the expected pixels; SVG plots are well-formed and
// carry their text; atomic writes and the folder creator.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { checkWritableDir, ensureDir, imageGridPng, lossCurveSvg, niceTicks, scatterSvg, writeFileAtomic } from '../src/index.ts';
import { tmp } from './helpers.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

describe('imageGridPng', () => {
  it('tiles images row-major with padding; each value v maps to round((v + 1) * 127.5) (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.constantFrom(1, 3), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 2 }),
      (n, c, h, w, cols, pad, scale) => {
        const vals = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i * 1.7) * 1.3); // some beyond [-1, 1]
        const png = PNG.sync.read(imageGridPng(vals, n, c, h, w, { cols, pad, scale }));
        const rows = Math.ceil(n / cols);
        expect(png.width).toBe(cols * w * scale + (cols + 1) * pad);
        expect(png.height).toBe(rows * h * scale + (rows + 1) * pad);
        for (let i = 0; i < n; i++) {
          for (let y = 0; y < h * scale; y++) for (let x = 0; x < w * scale; x++) {
            const px = pad + (i % cols) * (w * scale + pad) + x, py = pad + Math.floor(i / cols) * (h * scale + pad) + y;
            for (let k = 0; k < 3; k++) {
              const v = vals[(i * c + (c === 1 ? 0 : k)) * h * w + Math.floor(y / scale) * w + Math.floor(x / scale)]!;
              expect(png.data[(py * png.width + px) * 4 + k]).toBe(Math.round((Math.max(-1, Math.min(1, v)) + 1) * 127.5));
            }
          }
        }
        if (pad > 0) expect([...png.data.subarray(0, 4)]).toEqual([255, 255, 255, 255]);
      }), { numRuns: fcRuns(60) });
  });
  it('refuses a wrong number of values or channels', () => {
    expect(() => imageGridPng(new Float32Array(5), 2, 1, 2, 2)).toThrow('imageGridPng: got 5 values for 2 images of 1x2x2; expected 8');
    expect(() => imageGridPng(new Float32Array(8), 2, 2, 2, 1)).toThrow(/channels must be 1 or 3, got 2/);
  });
});

const wellFormed = (svg: string) => {
  // every tag opened is closed (a tiny check; the SVGs have no CDATA or comments)
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[1]) expect(stack.pop()).toBe(m[2]);
    else if (!m[3]) stack.push(m[2]!);
  }
  expect(stack).toEqual([]);
};

describe('SVG plots', () => {
  it('the loss curve has a title, axis labels and tick labels as text, and one point per loss', () => {
    const pts = Array.from({ length: 20 }, (_, i) => ({ step: (i + 1) * 50, loss: 1 / (i + 1) }));
    const svg = lossCurveSvg(pts, { title: 'loss <moons & co>' });
    wellFormed(svg);
    expect(svg).toContain('>loss &lt;moons &amp; co&gt;</text>');
    expect(svg).toContain('>step</text>');
    expect(svg).toContain('loss (log scale)');
    expect(svg).toMatch(/>0\.1<\/text>/);
    expect(svg).toMatch(/>1<\/text>/);
    const path = svg.match(/<path d="([^"]+)"/)![1]!;
    expect(path.split(' ').length).toBe(20);
  });
  it('the loss curve survives non-finite and non-positive values (linear axis then)', () => {
    const svg = lossCurveSvg([{ step: 1, loss: 0 }, { step: 2, loss: NaN }, { step: 3, loss: -1 }]);
    wellFormed(svg);
    expect(svg).not.toContain('log scale');
    expect(svg).not.toContain('NaN');
  });
  it('scatter panels draw in-range points as circles and count the rest', () => {
    const svg = scatterSvg([{ title: 'p', points: [0, 0, 1, 1, 9, 0, 0, -9, NaN, 0], reference: [0.5, 0.5] }], { lim: 2 });
    wellFormed(svg);
    expect(svg.match(/<circle/g)!.length).toBe(3); // 2 points + 1 reference
    expect(svg).toContain('>3 of 5 points off the plot</text>');
  });
  it('niceTicks: evenly spaced round values inside the range (property)', () => {
    fc.assert(fc.property(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (lo, span) => {
      const t = niceTicks(lo, lo + span, 5);
      expect(t.length).toBeGreaterThanOrEqual(2);
      expect(t.length).toBeLessThanOrEqual(11);
      for (const v of t) { expect(v).toBeGreaterThanOrEqual(lo - span * 1e-9); expect(v).toBeLessThanOrEqual(lo + span * (1 + 1e-9)); }
      const d = t[1]! - t[0]!;
      const mant = d / 10 ** Math.floor(Math.log10(d));
      expect([1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-6)).toBe(true);
    }), { numRuns: fcRuns(200) });
  });
});

describe('folders and atomic writes', () => {
  it('ensureDir creates nested folders and is idempotent', () => {
    const d = tmp('fs');
    const p = join(d, 'a', 'b', 'c');
    expect(ensureDir(p)).toBe(p);
    expect(statSync(p).isDirectory()).toBe(true);
    expect(ensureDir(p)).toBe(p);
    expect(checkWritableDir(join(d, 'a'))).toBe(join(d, 'a'));
    expect(readdirSync(join(d, 'a'))).toEqual(['b']); // the write probe is gone
  });
  it('ensureDir stops at a file or an uncreatable component instead of looping', () => {
    const d = tmp('fs');
    writeFileSync(join(d, 'f'), '');
    expect(() => ensureDir(join(d, 'f', 'x'), 'run folder')).toThrow(`run folder '${join(d, 'f', 'x')}': '${join(d, 'f')}' exists and is not a folder`);
    expect(() => ensureDir('/proc/tapegrad/x')).toThrow(/cannot create '\/proc\/tapegrad'/);
    expect(() => checkWritableDir('/proc/self')).toThrow(/cannot write files there/);
  });
  it('writeFileAtomic replaces the file and leaves no temporary behind', () => {
    const d = tmp('fs');
    const p = join(d, 'sub', 'x.json');
    writeFileAtomic(p, 'one');
    writeFileAtomic(p, new TextEncoder().encode('two'));
    expect(readFileSync(p, 'utf8')).toBe('two');
    expect(readdirSync(join(d, 'sub'))).toEqual(['x.json']);
    expect(existsSync(`${p}.${process.pid}.tmp`)).toBe(false);
  });
});
