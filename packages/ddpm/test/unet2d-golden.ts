// Shared by the unet2d tests: the fixture written by scripts/make-unet-golden.py (diffusers'
// own UNet2DModel) and the weight generator it uses, recomputed here bit for bit.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as T from '@tapegrad/tensor';
import type { UNet2DConfig } from '../src/models/unet2d-config.ts';
import { treeFromEntries, type UNet2DParams } from '../src/models/unet2d.ts';

export interface GoldenCase {
  config: UNet2DConfig;
  diffusers_config: Record<string, unknown>;
  params: [string, number[]][];
  x_shape: number[];
  x: number[];
  t: number[];
  class_labels: number[] | null;
  out_shape: number[];
  out_f32: number[];
  out_f64: number[];
}

export interface Golden {
  diffusers_version: string;
  cases: Record<string, GoldenCase>;
  tiny_pipeline: {
    x_shape: number[]; x: number[]; t: number[]; class_labels: number[]; out_shape: number[]; out_f32: number[]; alphas_cumprod: number[];
  };
}

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const GOLDEN: Golden = JSON.parse(readFileSync(`${FIXTURES}unet2d-golden.json`, 'utf8'));
export const TINY_PIPELINE_DIR = `${FIXTURES}diffusers-tiny`;

/** The script's 32-bit hash of (tensor index j, element index i). */
export function hashU32(j: number, i: number): number {
  let x = (Math.imul(i, 0x9e3779b1) + Math.imul(j, 0x85ebca77) + 0x27d4eb2f) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x2c1b3c6d) >>> 0;
  x = (x ^ (x >>> 12)) >>> 0;
  x = Math.imul(x, 0x297a2d39) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  return x;
}

export function hashUniform(j: number, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => hashU32(j, i) / 2147483648 - 1);
}

/** The script's golden_tensor: float64 arithmetic, one rounding to float32. */
export function goldenValues(j: number, name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = hashUniform(j, n);
  let out: Float64Array;
  if (name.endsWith('class_embedding.weight')) out = v;
  else if (shape.length >= 2) {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const s = 1.5 / Math.sqrt(fanIn);
    out = v.map((u) => u * s);
  } else if (name.includes('norm') && name.endsWith('.weight')) out = v.map((u) => 1 + 0.25 * u);
  else out = v.map((u) => 0.25 * u);
  return Float32Array.from(out);
}

/** The golden weights of a case, as a params tree on the current backend. */
export function goldenParams(c: GoldenCase): UNet2DParams {
  const entries = c.params.map(([name, shape], j) => [name, T.tensor(goldenValues(j, name, shape), shape)] as [string, T.Tensor]);
  return treeFromEntries(entries) as unknown as UNet2DParams;
}

/** max |a - b| and max |b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}
