// Seeded 2-D toy data sets generated in code (no downloads): two moons, swiss roll, 8 Gaussians, ring.
// Randomness is host-side Threefry from @tapegrad/tensor keys (the derivations of random.ts),
// so a key gives the same points on every machine. Each set is scaled to roughly unit variance
// per axis with fixed constants, so the same model and MMD bandwidth suit all three.

import { foldIn, threefry2x32, type RandomKey } from '@tapegrad/tensor';

import { arraySource, type DataSource } from '../train/data.ts';
import { ddpmError } from '../process/coef.ts';

export type DatasetName = 'moons' | 'swissroll' | '8gaussians' | 'ring';
export const DATASETS: readonly DatasetName[] = ['moons', 'swissroll', '8gaussians', 'ring'];

const U24 = 2 ** -24;

/** n uniforms in [0, 1) (24 random bits each), as tensor's randomUniform derives them. */
export function hostUniform(key: RandomKey, n: number): Float64Array {
  const [k0, k1] = key.words;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = (threefry2x32(k0, k1, j, 0)[0] >>> 8) * U24;
  return out;
}

/** n standard normals (Box-Muller), as tensor's randomNormal derives them. */
export function hostNormal(key: RandomKey, n: number): Float64Array {
  const [k0, k1] = key.words;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const [a, b] = threefry2x32(k0, k1, j, 1);
    const u1 = ((a >>> 8) + 1) * U24;
    const u2 = (b >>> 8) * U24;
    out[j] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/**
 * sklearn.datasets.make_moons with random angles: each point picks a moon with probability 1/2
 * and an angle theta ~ U(0, pi); outer (cos theta, sin theta), inner (1 - cos theta, 0.5 - sin theta),
 * plus N(0, noise^2) per coordinate; then centred at (0.5, 0.25) and scaled by 1/0.7.
 */
export function twoMoons(key: RandomKey, n: number, noise = 0.05): Float64Array {
  const u = hostUniform(foldIn(key, 0), 2 * n);
  const z = hostNormal(foldIn(key, 1), 2 * n);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const th = Math.PI * u[2 * i]!;
    const inner = u[2 * i + 1]! < 0.5;
    const x = inner ? 1 - Math.cos(th) : Math.cos(th);
    const y = inner ? 0.5 - Math.sin(th) : Math.sin(th);
    out[2 * i] = (x + noise * z[2 * i]! - 0.5) / 0.7;
    out[2 * i + 1] = (y + noise * z[2 * i + 1]! - 0.25) / 0.7;
  }
  return out;
}

/**
 * The 2-D swiss roll (sklearn make_swiss_roll's (x, z) plane): t = 1.5 pi (1 + 2u),
 * (t cos t, t sin t) + N(0, noise^2), scaled by 1/7.5 (then |x| < ~2).
 */
export function swissRoll(key: RandomKey, n: number, noise = 0.5): Float64Array {
  const u = hostUniform(foldIn(key, 0), n);
  const z = hostNormal(foldIn(key, 1), 2 * n);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * u[i]!);
    out[2 * i] = (t * Math.cos(t) + noise * z[2 * i]!) / 7.5;
    out[2 * i + 1] = (t * Math.sin(t) + noise * z[2 * i + 1]!) / 7.5;
  }
  return out;
}

/**
 * Eight Gaussians (the WGAN-GP / FFJORD toy set): centres at radius 1.5 on the angles k pi/4,
 * standard deviation 0.1 (in the scaled units), each centre equally likely.
 */
export function eightGaussians(key: RandomKey, n: number, std = 0.1): Float64Array {
  const u = hostUniform(foldIn(key, 0), n);
  const z = hostNormal(foldIn(key, 1), 2 * n);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const k = Math.min(7, Math.floor(u[i]! * 8));
    const a = (k * Math.PI) / 4;
    out[2 * i] = 1.5 * Math.cos(a) + std * z[2 * i]!;
    out[2 * i + 1] = 1.5 * Math.sin(a) + std * z[2 * i + 1]!;
  }
  return out;
}

/**
 * A ring (annulus): angle theta ~ U(0, 2 pi), radius 1.5 + N(0, noise^2), so |x| ~ 1.5 like the
 * 8 Gaussians.
 */
export function ring(key: RandomKey, n: number, noise = 0.05): Float64Array {
  const u = hostUniform(foldIn(key, 0), n);
  const z = hostNormal(foldIn(key, 1), n);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const th = 2 * Math.PI * u[i]!;
    const r = 1.5 + noise * z[i]!;
    out[2 * i] = r * Math.cos(th);
    out[2 * i + 1] = r * Math.sin(th);
  }
  return out;
}

/** n points of the named data set as a flat [n, 2] row-major Float64Array. */
export function makeDataset(name: DatasetName, key: RandomKey, n: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw ddpmError('makeDataset', `n must be an integer >= 1, got ${n}`);
  switch (name) {
    case 'moons': return twoMoons(key, n);
    case 'swissroll': return swissRoll(key, n);
    case '8gaussians': return eightGaussians(key, n);
    case 'ring': return ring(key, n);
    default:
      throw ddpmError('makeDataset', `unknown data set '${String(name)}', expected one of ${DATASETS.map((d) => `'${d}'`).join(', ')}`);
  }
}

/** A fixed, seeded set of n points of the named data set as a DataSource (shape [2], no labels) for the train loop. */
export function toy2dSource(name: DatasetName, key: RandomKey, n: number): DataSource {
  return arraySource(Float32Array.from(makeDataset(name, key, n)), [2]);
}
