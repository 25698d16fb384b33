// An RGBA raster with the few drawing primitives the demo needs (filled rectangles, alpha-
// blended dots, lines, 5x7 text), encoded as PNG with pngjs and written atomically.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import { glyph, GLYPH_H, GLYPH_W } from './font.ts';

export type RGB = readonly [number, number, number];

export class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: RGB = [255, 255, 255]) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Error(`Canvas: width and height must be positive integers, got ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** Blend colour `c` with opacity `alpha` into pixel (x, y); pixels outside are ignored. */
  blend(x: number, y: number, c: RGB, alpha = 1): void {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(this.data[i + k]! * (1 - alpha) + c[k]! * alpha);
    this.data[i + 3] = 255;
  }

  fillRect(x: number, y: number, w: number, h: number, c: RGB, alpha = 1): void {
    for (let yy = Math.max(0, Math.round(y)); yy < Math.min(this.height, Math.round(y + h)); yy++) {
      for (let xx = Math.max(0, Math.round(x)); xx < Math.min(this.width, Math.round(x + w)); xx++) this.blend(xx, yy, c, alpha);
    }
  }

  /** An outlined rectangle, 1 px. */
  strokeRect(x: number, y: number, w: number, h: number, c: RGB): void {
    this.fillRect(x, y, w, 1, c); this.fillRect(x, y + h - 1, w, 1, c);
    this.fillRect(x, y, 1, h, c); this.fillRect(x + w - 1, y, 1, h, c);
  }

  /** A filled disc of radius r (pixels) centred at (cx, cy). */
  dot(cx: number, cy: number, r: number, c: RGB, alpha = 1): void {
    const r2 = r * r;
    for (let dy = Math.floor(-r); dy <= Math.ceil(r); dy++) {
      for (let dx = Math.floor(-r); dx <= Math.ceil(r); dx++) {
        if (dx * dx + dy * dy <= r2 + 0.25) this.blend(cx + dx, cy + dy, c, alpha);
      }
    }
  }

  /** Text in the 5x7 font at (x, y) (top-left), each font pixel `scale` x `scale`. Returns the width drawn. */
  text(x: number, y: number, s: string, c: RGB = [0, 0, 0], scale = 1): number {
    let cx = x;
    for (const ch of s) {
      const rows = glyph(ch);
      for (let r = 0; r < GLYPH_H; r++) {
        for (let k = 0; k < GLYPH_W; k++) if (rows[r]![k] === '1') this.fillRect(cx + k * scale, y + r * scale, scale, scale, c);
      }
      cx += (GLYPH_W + 1) * scale;
    }
    return cx - x;
  }

  /** Copy another canvas in at (x, y). */
  draw(src: Canvas, x: number, y: number): void {
    for (let yy = 0; yy < src.height; yy++) {
      for (let xx = 0; xx < src.width; xx++) {
        const i = (yy * src.width + xx) * 4;
        this.blend(x + xx, y + yy, [src.data[i]!, src.data[i + 1]!, src.data[i + 2]!], 1);
      }
    }
  }

  /** The PNG file bytes (8-bit RGBA). */
  encode(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }
}

/** Write bytes atomically: a temporary file in the same directory, then rename over `path`. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

export function writePng(path: string, canvas: Canvas): void {
  writeFileAtomic(path, canvas.encode());
}
