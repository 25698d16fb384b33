// Sample grids as PNG (pngjs): N images (N x C x H x W, values in [-1, 1]) tiled in rows.

import { PNG } from 'pngjs';
import { writeFileAtomic } from '../fsx.ts';

export interface GridOptions {
  /** Images per row (default ceil(sqrt(n))). */
  cols?: number;
  /** Pixels between tiles and around the grid (default 2). */
  pad?: number;
  /** Nearest-neighbour up-scaling of each image pixel (default 1). */
  scale?: number;
  /** Grey level of the padding, 0..255 (default 255). */
  background?: number;
}

/** Encode the grid as PNG bytes (8-bit RGBA). Values are clamped to [-1, 1] and mapped to 0..255. */
export function imageGridPng(images: ArrayLike<number>, n: number, channels: number, height: number, width: number, opts: GridOptions = {}): Buffer {
  const op = 'imageGridPng';
  if (channels !== 1 && channels !== 3) throw new Error(`${op}: channels must be 1 or 3, got ${channels}`);
  if (!(n >= 1) || images.length !== n * channels * height * width) {
    throw new Error(`${op}: got ${images.length} values for ${n} images of ${channels}x${height}x${width}; expected ${n * channels * height * width}`);
  }
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const pad = opts.pad ?? 2;
  const s = opts.scale ?? 1;
  const tw = width * s, th = height * s;
  const W = cols * tw + (cols + 1) * pad, H = rows * th + (rows + 1) * pad;
  const png = new PNG({ width: W, height: H });
  png.data.fill(opts.background ?? 255);
  const plane = height * width;
  for (let i = 0; i < n; i++) {
    const ox = pad + (i % cols) * (tw + pad), oy = pad + Math.floor(i / cols) * (th + pad);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const p = Math.floor(y / s) * width + Math.floor(x / s);
        const o = ((oy + y) * W + ox + x) * 4;
        for (let c = 0; c < 3; c++) {
          const v = images[(i * channels + (channels === 1 ? 0 : c)) * plane + p]!;
          const clamped = Number.isFinite(v) ? Math.min(1, Math.max(-1, v)) : 0;
          png.data[o + c] = Math.round((clamped + 1) * 127.5);
        }
        png.data[o + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

export function writeImageGrid(path: string, images: ArrayLike<number>, n: number, channels: number, height: number, width: number, opts: GridOptions = {}): void {
  writeFileAtomic(path, imageGridPng(images, n, channels, height, width, opts));
}
