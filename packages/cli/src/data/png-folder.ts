// A folder of PNG images of one size as an ImageSet (pngjs decode). Grayscale images give one
// channel, colour images three (alpha is dropped); a folder mixing the two is promoted to RGB.
// Any non-PNG file, an undecodable PNG or a size different from the first image is an error that
// names the file.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { ImageSet } from './mnist.ts';

export function loadPngFolder(dir: string): ImageSet {
  const op = 'loadPngFolder';
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    names = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    throw new Error(`${op}: cannot read the folder '${dir}' (${(e as NodeJS.ErrnoException).code ?? String(e)}); expected a folder of .png files`);
  }
  if (names.length === 0) throw new Error(`${op}: the folder '${dir}' holds no images; expected .png files of one size`);
  const decoded: { file: string; png: PNG; gray: boolean }[] = [];
  for (const name of names) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) throw new Error(`${op}: '${file}' is not a file; expected only .png files in '${dir}'`);
    const bytes = readFileSync(file);
    const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) {
      throw new Error(`${op}: '${file}' is not a PNG file (no PNG signature); expected only .png files in '${dir}'`);
    }
    let png: PNG;
    try {
      png = PNG.sync.read(bytes);
    } catch (e) {
      throw new Error(`${op}: '${file}' cannot be decoded as PNG (${e instanceof Error ? e.message : String(e)})`);
    }
    // colorType bit 1 = colour; pngjs always hands back RGBA, so check the pixels too (a palette image may be gray).
    let gray = true;
    const d = png.data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) { gray = false; break; }
    }
    const first = decoded[0];
    if (first && (png.width !== first.png.width || png.height !== first.png.height)) {
      throw new Error(`${op}: '${file}' is ${png.width}x${png.height} but '${first.file}' is ${first.png.width}x${first.png.height}; expected every image in '${dir}' to have one size`);
    }
    decoded.push({ file, png, gray });
  }
  const channels = decoded.every((d) => d.gray) ? 1 : 3;
  const { width, height } = decoded[0]!.png;
  const n = decoded.length;
  const plane = width * height;
  const images = new Float32Array(n * channels * plane);
  decoded.forEach(({ png }, i) => {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) images[(i * channels + c) * plane + p] = png.data[4 * p + c]! / 127.5 - 1;
    }
  });
  return { images, labels: null, n, channels, height, width, numClasses: 0 };
}
