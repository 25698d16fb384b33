// Counter-based randomness with explicit keys, as in JAX: a key is two uint32 words,
// numbers are Threefry-2x32 (20 rounds, Salmon et al. 2011, "Random123") hashes of
// (key, counter) computed on the host in exact integer arithmetic, so a key gives the
// same numbers on every backend (float32 backends see the float64 values rounded once).
//
// Derivations (documented, stable):
//   randomKey(seed)        -> [hi32(seed), lo32(seed)]                       (JAX's PRNGKey)
//   splitKey(key, n)[i]    -> JAX's classic split: threefry(key, iota(2n)) as n pairs
//   bits(key, n)[j]        -> threefry(key, (j, 0)) word 0 for j < n
//   uniform                -> (bits >>> 8) / 2^24, in [0, 1) with 24 random bits
//   normal                 -> Box-Muller on two 24-bit uniforms from one hash (j, 1)/(j, 2)

import { checkSize } from './ops/creation.ts';
import { checkShape, fmtShape, opError, sizeOf } from './shape.ts';
import { currentBackend } from './engine.ts';
import { markIntegerValued, type Tensor } from './tensor.ts';
import { fromFlat } from './ops/creation.ts';

export class RandomKey {
  readonly words: readonly [number, number];
  constructor(hi: number, lo: number) {
    this.words = Object.freeze([hi >>> 0, lo >>> 0]) as readonly [number, number];
  }
  toString(): string {
    return `RandomKey(${this.words[0]}, ${this.words[1]})`;
  }
}

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

/** Threefry-2x32 with 20 rounds: the hash of counter (c0, c1) under key (k0, k1). */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (0x1bd11bda ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 4; j++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROT[(i % 2) * 4 + j]);
      x1 = (x1 ^ x0) >>> 0;
    }
    x0 = (x0 + ks[(i + 1) % 3]) >>> 0;
    x1 = (x1 + ks[(i + 2) % 3] + i + 1) >>> 0;
  }
  return [x0, x1];
}

function checkKey(op: string, key: unknown): RandomKey {
  if (!(key instanceof RandomKey)) {
    throw opError(op, `expected a RandomKey from randomKey(seed) or splitKey, got ${key === null ? 'null' : typeof key}`);
  }
  return key;
}

/** A key from an integer seed in [0, 2^53). */
export function randomKey(seed: number): RandomKey {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw opError('randomKey', `seed must be a non-negative safe integer, got ${seed}`);
  }
  return new RandomKey(Math.floor(seed / 2 ** 32), seed % 2 ** 32);
}

/** `n` independent keys derived from `key` (the same derivation as JAX's classic split). */
export function splitKey(key: RandomKey, n = 2): RandomKey[] {
  const k = checkKey('splitKey', key);
  if (!Number.isInteger(n) || n < 1) throw opError('splitKey', `n must be a positive integer, got ${n}`);
  // counts 0..2n-1, hashed as pairs (counts[i], counts[n + i]); output words laid out
  // [y0[0..n), y1[0..n)] and read back as n rows of two.
  const y0: number[] = [];
  const y1: number[] = [];
  for (let i = 0; i < n; i++) {
    const [a, b] = threefry2x32(k.words[0], k.words[1], i, n + i);
    y0.push(a);
    y1.push(b);
  }
  const flat = [...y0, ...y1];
  return Array.from({ length: n }, (_, i) => new RandomKey(flat[2 * i], flat[2 * i + 1]));
}

/** Fold an integer (a step number, a layer index) into a key. */
export function foldIn(key: RandomKey, data: number): RandomKey {
  const k = checkKey('foldIn', key);
  if (!Number.isInteger(data) || data < 0 || data >= 2 ** 32) throw opError('foldIn', `data must be an integer in [0, 2^32), got ${data}`);
  const [a, b] = threefry2x32(k.words[0], k.words[1], 0, data >>> 0);
  return new RandomKey(a, b);
}

const U24 = 2 ** -24;

/** @internal n uniforms in [0, 1) with 24 random bits each (exact in float32). */
export function uniform01(key: RandomKey, n: number): Float64Array {
  const out = new Float64Array(n);
  const [k0, k1] = key.words;
  for (let j = 0; j < n; j++) out[j] = (threefry2x32(k0, k1, j, 0)[0] >>> 8) * U24;
  return out;
}

function shapeArg(op: string, shape: readonly number[]): number[] {
  const s = checkShape(op, shape);
  if (sizeOf(s) >= 2 ** 32) throw opError(op, `shape ${fmtShape(s)} has too many elements for one key`);
  // before hashing and allocating on the host: a size the backend refuses anyway
  checkSize(op, currentBackend(), sizeOf(s), `shape ${fmtShape(s)}`);
  return s;
}

function finitePair(op: string, lo: number, hi: number): void {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw opError(op, `expected finite bounds with lo < hi, got lo=${lo}, hi=${hi}`);
  }
}

/** The largest float32 (`f32`) or float64 number below `x`. */
function below(x: number, f32: boolean): number {
  if (f32) {
    const r = Math.fround(x);
    if (r < x) return r;
    const f = new Float32Array([r]);
    const i = new Int32Array(f.buffer);
    if (r === 0) i[0] = 0x80000001; // -min subnormal
    else i[0] += r > 0 ? -1 : 1;
    return f[0];
  }
  const f = new Float64Array([x]);
  const i = new BigInt64Array(f.buffer);
  if (x === 0) return -Number.MIN_VALUE;
  i[0] += x > 0 ? -1n : 1n;
  return f[0];
}

/** Uniform samples in [lo, hi). */
export function randomUniform(key: RandomKey, shape: readonly number[], lo = 0, hi = 1): Tensor {
  const op = 'randomUniform';
  const k = checkKey(op, key);
  const s = shapeArg(op, shape);
  finitePair(op, lo, hi);
  const u = uniform01(k, sizeOf(s));
  // lo + (hi - lo) u can round up to hi, in float64 and above all in the float32 the
  // backend stores (e.g. [2^20, 2^20 + 1)): such values become the largest number below hi.
  const backend = currentBackend();
  const f32 = backend.bytesPerElement === 4;
  const top = Math.max(lo, below(hi, f32));
  for (let i = 0; i < u.length; i++) {
    const v = lo + (hi - lo) * u[i];
    u[i] = (f32 ? Math.fround(v) : v) >= hi ? top : v;
  }
  return fromFlat(backend, u, s);
}

/** Standard normal samples (Box-Muller), times `std` plus `mean`. */
export function randomNormal(key: RandomKey, shape: readonly number[], mean = 0, std = 1): Tensor {
  const op = 'randomNormal';
  const k = checkKey(op, key);
  const s = shapeArg(op, shape);
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
    throw opError(op, `expected finite mean and std >= 0, got mean=${mean}, std=${std}`);
  }
  const n = sizeOf(s);
  const out = new Float64Array(n);
  const [k0, k1] = k.words;
  for (let j = 0; j < n; j++) {
    const [a, b] = threefry2x32(k0, k1, j, 1);
    const u1 = ((a >>> 8) + 1) * U24; // (0, 1]: log is finite
    const u2 = (b >>> 8) * U24;
    out[j] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return fromFlat(currentBackend(), out, s);
}

/** Integers uniform in [lo, hi) (as float32 values; |lo|, |hi| <= 2^24). */
export function randomInt(key: RandomKey, shape: readonly number[], lo: number, hi: number): Tensor {
  const op = 'randomInt';
  const k = checkKey(op, key);
  const s = shapeArg(op, shape);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || !(lo < hi) || Math.abs(lo) > 2 ** 24 || Math.abs(hi) > 2 ** 24) {
    throw opError(op, `expected integers lo < hi within +-2^24, got lo=${lo}, hi=${hi}`);
  }
  const n = sizeOf(s);
  const out = new Float64Array(n);
  const [k0, k1] = k.words;
  const range = hi - lo;
  for (let j = 0; j < n; j++) out[j] = lo + Math.floor((threefry2x32(k0, k1, j, 2)[0] / 2 ** 32) * range);
  return markIntegerValued(fromFlat(currentBackend(), out, s));
}
