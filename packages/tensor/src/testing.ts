// fast-check arbitraries for tensor property tests: shapes, broadcast-compatible shape
// tuples, float data, axes, permutations, slice / pad / concat / gather specs, and
// convolution / pooling configurations whose attributes are always consistent.
//
// Everything here describes *host* data (plain arrays and Float32Arrays); creating tensors
// is left to the test, so the same arbitrary serves every backend and the reference oracle.
// Values are always exactly representable in float32 (no subnormals), so a float32
// backend and the float64 reference see bit-identical inputs and any difference in the
// outputs comes from the computation alone.
//
// Public as `@tapegrad/tensor/testing`; `@tapegrad/autograd/testing` re-exports them for users.
// Keep them generic (no backend, no
// tolerance logic) and keep every size small (a few hundred elements at most by default).

import fc from 'fast-check';
import { SPECIAL_VALUES } from './testing/opdb.ts';

// The op database (OpInfo): one entry per op with its input arbitraries, special values,
// tolerance model and differentiability.
export * from './testing/opdb.ts';

// ------------------------------------------------------------------------------------------
// Seeds and run counts: one place for every property suite

/**
 * The fast-check configuration of this process, from the environment:
 * - `FC_SEED=<integer>` replays a run (every property uses that seed); unset, one random seed
 *   is drawn per process. fast-check prints the seed (and the shrink path) of a failure, so
 *   `FC_SEED=<printed seed>` reproduces it.
 * - `FC_RUNS_SCALE=<k>` multiplies the run count of every property (default 1; e.g. 10 for a
 *   nightly soak, 0.2 for a quick look).
 * test/setup.ts installs it with `fc.configureGlobal`; suites with their own run counts pass
 * them through `fcRuns` / `fcParams`.
 */
export interface PropertyConfig {
  seed: number;
  /** Whether the seed came from FC_SEED. */
  fromEnv: boolean;
  runsScale: number;
}

let config: PropertyConfig | undefined;

export function propertyConfig(): PropertyConfig {
  if (config) return config;
  const env = typeof process !== 'undefined' ? process.env : {};
  const rawSeed = env.FC_SEED;
  const rawScale = env.FC_RUNS_SCALE;
  let seed: number;
  if (rawSeed !== undefined && rawSeed !== '') {
    seed = Number(rawSeed);
    if (!Number.isInteger(seed) || Math.abs(seed) > 2 ** 31) {
      throw new Error(`FC_SEED: got '${rawSeed}'; expected an integer in [-2^31, 2^31] (the seed fast-check printed with a failure)`);
    }
  } else {
    seed = (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
  }
  const runsScale = rawScale !== undefined && rawScale !== '' ? Number(rawScale) : 1;
  if (!(runsScale > 0) || !Number.isFinite(runsScale)) {
    throw new Error(`FC_RUNS_SCALE: got '${rawScale}'; expected a positive number (a multiplier of every property's run count)`);
  }
  config = { seed, fromEnv: rawSeed !== undefined && rawSeed !== '', runsScale };
  return config;
}

/** `numRuns` scaled by FC_RUNS_SCALE (at least 1). */
export function fcRuns(numRuns: number): number {
  return Math.max(1, Math.round(numRuns * propertyConfig().runsScale));
}

/** fast-check parameters of a property with `numRuns` runs: scaled run count and the process seed. */
export function fcParams(numRuns: number): { numRuns: number; seed: number } {
  return { numRuns: fcRuns(numRuns), seed: propertyConfig().seed };
}

// ------------------------------------------------------------------------------------------
// Helpers

/** Number of elements of a shape (1 for rank 0). */
export const sizeOfShape = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** Host-side tensor description: row-major float32 values and a shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** [0, 1, ..., n-1]. */
export const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Shrink the largest dimensions of `shape` until it has at most `maxSize` elements (never
 * below `minDim`). A deterministic map, so it keeps fast-check's shrinking intact.
 */
export function capShape(shape: readonly number[], maxSize: number, minDim = 1): number[] {
  const s = shape.slice();
  while (sizeOfShape(s) > maxSize) {
    let k = -1;
    for (let i = 0; i < s.length; i++) if (s[i] > minDim && (k < 0 || s[i] > s[k])) k = i;
    if (k < 0) break;
    s[k]--;
  }
  return s;
}

// ------------------------------------------------------------------------------------------
// Shapes

export interface ShapeOptions {
  /** Smallest rank (default 0). */
  minRank?: number;
  /** Largest rank (default 4). */
  maxRank?: number;
  /** Largest dimension (default 4). */
  maxDim?: number;
  /** Largest number of elements (default 256); larger draws are shrunk to fit. */
  maxSize?: number;
  /** Also produce size-0 dimensions (default false). */
  allowZero?: boolean;
}

/**
 * One dimension in [1, maxDim] (or [0, maxDim] with allowZero), with size 1 drawn often
 * (a quarter of the time) because size-1 dimensions are where broadcasting and coalescing
 * bugs live.
 */
export function dim(maxDim = 4, allowZero = false): fc.Arbitrary<number> {
  const parts: fc.WeightedArbitrary<number>[] = [
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: Math.max(1, maxDim) }), weight: 3 },
  ];
  if (allowZero) parts.push({ arbitrary: fc.constant(0), weight: 1 });
  return fc.oneof(...parts);
}

/** A shape of rank minRank..maxRank with small dimensions and at most maxSize elements. */
export function shape(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, maxDim = 4, maxSize = 256, allowZero = false } = opts;
  return fc
    .array(dim(maxDim, allowZero), { minLength: minRank, maxLength: maxRank })
    .map((s) => capShape(s, maxSize, allowZero ? 0 : 1));
}

/**
 * `n` shapes that broadcast together (NumPy rules): an output shape is drawn, then each
 * operand drops some leading dimensions and replaces some others by 1. Returns
 * `{ shapes, out }` where `out` is the broadcast result (computed here, independently of
 * the library's broadcastShapes).
 */
export function broadcastShapes(n: number, opts: ShapeOptions = {}): fc.Arbitrary<{ shapes: number[][]; out: number[] }> {
  const maxRank = opts.maxRank ?? 4;
  const operand = fc.tuple(fc.nat(maxRank), fc.array(fc.boolean(), { minLength: maxRank, maxLength: maxRank }));
  return fc.tuple(shape(opts), fc.array(operand, { minLength: n, maxLength: n })).map(([full, ops]) => {
    const shapes = ops.map(([drop, ones]) => {
      const d = Math.min(drop, full.length);
      return full.slice(d).map((size, j) => (ones[j] ? 1 : size));
    });
    // The broadcast of the derived shapes (dimensions every operand set to 1 stay 1; a
    // rank dropped by every operand disappears).
    const rank = Math.max(0, ...shapes.map((s) => s.length));
    const out = iota(rank).map((j) => {
      let d = 1;
      for (const s of shapes) {
        const i = j - (rank - s.length);
        if (i >= 0 && s[i] !== 1) d = s[i];
      }
      return d;
    });
    return { shapes, out };
  });
}

/** Two broadcast-compatible shapes: `{ a, b, out }`. */
export function broadcastPair(opts: ShapeOptions = {}): fc.Arbitrary<{ a: number[]; b: number[]; out: number[] }> {
  return broadcastShapes(2, opts).map(({ shapes: [a, b], out }) => ({ a, b, out }));
}

/** Three broadcast-compatible shapes (e.g. for `where`): `{ a, b, c, out }`. */
export function broadcastTriple(opts: ShapeOptions = {}): fc.Arbitrary<{ a: number[]; b: number[]; c: number[]; out: number[] }> {
  return broadcastShapes(3, opts).map(({ shapes: [a, b, c], out }) => ({ a, b, c, out }));
}

// ------------------------------------------------------------------------------------------
// Values

export interface FloatOptions {
  /** Inclusive lower bound (default -10). */
  min?: number;
  /** Inclusive upper bound (default 10). */
  max?: number;
  /**
   * Values drawn on a grid of 2^k steps across [min, max] (default 20). Small k makes ties
   * (equal values) likely; large k makes them rare.
   */
  gridBits?: number;
  /** Extra values mixed in (one draw in eight), e.g. [0, 1, -1]; must lie in [min, max]. */
  specials?: readonly number[];
}

/**
 * One float32-exact number in [min, max]: a point of the grid min + k (max - min) / 2^gridBits
 * rounded to float32, so no subnormals unless the range itself is that small.
 */
export function float(opts: FloatOptions = {}): fc.Arbitrary<number> {
  const { min = -10, max = 10, gridBits = 20, specials = [] } = opts;
  if (!(min <= max)) throw new Error(`float arbitrary: min ${min} > max ${max}`);
  const steps = 2 ** gridBits;
  const grid = fc.integer({ min: 0, max: steps }).map((k) => {
    // float32 rounding may step a hair outside [min, max] when the bounds themselves are
    // not float32 numbers; use float32-exact bounds where that matters.
    return Math.fround(min + ((max - min) * k) / steps);
  });
  const sp = specials.filter((v) => v >= min && v <= max).map(Math.fround);
  if (sp.length === 0) return grid;
  return fc.oneof({ arbitrary: grid, weight: 7 }, { arbitrary: fc.constantFrom(...sp), weight: 1 });
}

/** `size` float32-exact values in [min, max], as a Float32Array. */
export function floats(size: number, opts: FloatOptions = {}): fc.Arbitrary<Float32Array> {
  return fc.array(float(opts), { minLength: size, maxLength: size }).map((v) => Float32Array.from(v));
}

/**
 * `size` pairwise-distinct float32 values in [min, max] (no ties: for arg-reductions or
 * max-pooling when a test wants a unique maximum). Needs 2^gridBits >= size.
 */
export function distinctFloats(size: number, opts: Omit<FloatOptions, 'specials'> = {}): fc.Arbitrary<Float32Array> {
  const { min = -10, max = 10, gridBits = 20 } = opts;
  const steps = 2 ** gridBits;
  return fc
    .uniqueArray(fc.integer({ min: 0, max: steps }), { minLength: size, maxLength: size })
    .map((ks) => Float32Array.from(ks, (k) => Math.fround(min + ((max - min) * k) / steps)))
    .filter((v) => new Set(v).size === v.length); // float32 rounding of a wide range may merge two
}

/** Small integers (as floats) in [min, max]: ties and exact equality are common. */
export function smallInts(size: number, min = -3, max = 3): fc.Arbitrary<Float32Array> {
  return fc.array(fc.integer({ min, max }), { minLength: size, maxLength: size }).map((v) => Float32Array.from(v));
}


/**
 * `values` with each element replaced, with probability `rate`, by one of `specials`
 * (default SPECIAL_VALUES). Shrinks towards the plain values.
 */
export function withSpecials(
  values: fc.Arbitrary<Float32Array>,
  specials: readonly number[] = SPECIAL_VALUES,
  rate = 0.25,
): fc.Arbitrary<Float32Array> {
  if (specials.length === 0 || rate <= 0) return values;
  const w = Math.max(1, Math.round((1 - rate) / rate));
  const cell = fc.oneof({ arbitrary: fc.constant(null), weight: w }, { arbitrary: fc.constantFrom(...specials), weight: 1 });
  return values.chain((v) =>
    fc.array(cell, { minLength: v.length, maxLength: v.length }).map((mask) => {
      const out = v.slice();
      mask.forEach((m, i) => {
        if (m !== null) out[i] = m;
      });
      return out;
    }),
  );
}

/** A host tensor of a given shape with values from `values(size)` (default: floats()). */
export function hostTensorOf(
  shp: readonly number[],
  values: (size: number) => fc.Arbitrary<Float32Array> = (n) => floats(n),
): fc.Arbitrary<HostTensor> {
  return values(sizeOfShape(shp)).map((data) => ({ shape: shp.slice(), data }));
}

/** A host tensor of a random shape (see `shape`) with values from `values`. */
export function hostTensor(
  shapeOpts: ShapeOptions = {},
  values: (size: number) => fc.Arbitrary<Float32Array> = (n) => floats(n),
): fc.Arbitrary<HostTensor> {
  return shape(shapeOpts).chain((s) => hostTensorOf(s, values));
}

// ------------------------------------------------------------------------------------------
// Axes and permutations

/** One axis of a rank-`rank` tensor (rank >= 1), sometimes written negatively. */
export function axis(rank: number): fc.Arbitrary<number> {
  if (rank < 1) throw new Error('axis arbitrary: rank must be >= 1');
  return fc.tuple(fc.nat(rank - 1), fc.boolean()).map(([a, neg]) => (neg ? a - rank : a));
}

/**
 * Axes for a reduction: `undefined` (all axes), a single number, or a list of distinct
 * axes (possibly empty, possibly negative, in any order).
 */
export function axes(rank: number): fc.Arbitrary<number | number[] | undefined> {
  const list = fc
    .tuple(fc.subarray(iota(rank)), fc.array(fc.boolean(), { minLength: rank, maxLength: rank }), fc.boolean())
    .map(([sub, negs, reverse]) => {
      const l = sub.map((a) => (negs[a] ? a - rank : a));
      return reverse ? l.reverse() : l;
    });
  const arbs: fc.Arbitrary<number | number[] | undefined>[] = [fc.constant(undefined), list];
  if (rank > 0) arbs.push(axis(rank));
  return fc.oneof(...arbs);
}

/** A permutation of [0, n). */
export function permutation(n: number): fc.Arbitrary<number[]> {
  return fc.shuffledSubarray(iota(n), { minLength: n, maxLength: n });
}

// ------------------------------------------------------------------------------------------
// Movement-op specs

/** TensorFlow.js-style slice arguments for `shape`: begin (maybe negative), size (-1 = to the end), positive step. */
export interface SliceSpec {
  begin: number[];
  size: number[];
  step: number[];
  /** The output shape, computed here. */
  out: number[];
}

export function sliceSpec(shp: readonly number[], maxStep = 3): fc.Arbitrary<SliceSpec> {
  const perAxis = shp.map((d) =>
    fc.tuple(fc.integer({ min: 0, max: d }), fc.boolean(), fc.integer({ min: 1, max: maxStep }), fc.nat(d), fc.boolean()).map(
      ([b, neg, step, n, toEnd]) => {
        const avail = Math.ceil((d - b) / step);
        const size = toEnd ? -1 : Math.min(n, avail);
        const begin = neg && b > 0 && b < d ? b - d : b; // same position written from the end (b = d has no negative form)
        return { begin, size, step, out: toEnd ? avail : size };
      },
    ),
  );
  return fc.tuple(...perAxis).map((ax) => ({
    begin: ax.map((a) => a.begin),
    size: ax.map((a) => a.size),
    step: ax.map((a) => a.step),
    out: ax.map((a) => a.out),
  }));
}

/**
 * A shape with `size` elements (rank 0..maxRank) to reshape a tensor of that size into;
 * with `allowInfer`, one dimension is sometimes written as -1. Returns the target as
 * written (`spec`) and as resolved (`out`).
 */
export function reshapeTarget(size: number, maxRank = 4, allowInfer = true): fc.Arbitrary<{ spec: number[]; out: number[] }> {
  const primes: number[] = [];
  let n = size;
  for (let p = 2; p * p <= n; p++) while (n % p === 0) { primes.push(p); n /= p; }
  if (n > 1) primes.push(n);
  const minRank = primes.length === 0 ? 0 : 1;
  return fc
    .tuple(
      fc.integer({ min: minRank, max: Math.max(minRank, maxRank) }),
      fc.array(fc.nat(maxRank), { minLength: primes.length, maxLength: primes.length }),
      fc.nat(maxRank),
      fc.boolean(),
    )
    .map(([rank, bins, inferAt, infer]) => {
      const out = new Array<number>(rank).fill(1);
      if (rank > 0) primes.forEach((p, i) => (out[bins[i] % rank] *= p));
      const spec = out.slice();
      if (allowInfer && infer && rank > 0) spec[inferAt % rank] = -1;
      return { spec, out };
    });
}

/** Constant-padding widths `[before, after]` per axis in [0, maxPad]. */
export function padSpec(rank: number, maxPad = 2): fc.Arbitrary<[number, number][]> {
  return fc.array(fc.tuple(fc.nat(maxPad), fc.nat(maxPad)), { minLength: rank, maxLength: rank });
}

/** Shapes for concat: 1-3 parts that agree except along `axis`, plus the output shape. */
export interface ConcatSpec {
  shapes: number[][];
  axis: number;
  out: number[];
}

export function concatSpec(opts: ShapeOptions = {}, maxParts = 3): fc.Arbitrary<ConcatSpec> {
  const maxDim = opts.maxDim ?? 4;
  return shape({ ...opts, minRank: Math.max(1, opts.minRank ?? 1) }).chain((base) =>
    fc
      .tuple(axis(base.length), fc.array(fc.integer({ min: opts.allowZero ? 0 : 1, max: maxDim }), { minLength: 1, maxLength: maxParts }))
      .map(([ax, sizes]) => {
        const a = ax < 0 ? ax + base.length : ax;
        const shapes = sizes.map((n) => base.map((d, i) => (i === a ? n : d)));
        const out = base.map((d, i) => (i === a ? sizes.reduce((s, n) => s + n, 0) : d));
        return { shapes, axis: ax, out };
      }),
  );
}

/** A gather: input shape, axis, and an index array (rank 0-2) of valid indices along it. */
export interface GatherSpec {
  shape: number[];
  axis: number;
  indexShape: number[];
  indices: number[];
  /** shape[:axis] + indexShape + shape[axis+1:], computed here. */
  out: number[];
}

export function gatherSpec(opts: ShapeOptions = {}): fc.Arbitrary<GatherSpec> {
  return shape({ ...opts, minRank: Math.max(1, opts.minRank ?? 1) }).chain((s) =>
    axis(s.length).chain((ax) => {
      const a = ax < 0 ? ax + s.length : ax;
      return shape({ minRank: 0, maxRank: 2, maxDim: 4 }).chain((ishape) =>
        fc.array(fc.nat(s[a] - 1), { minLength: sizeOfShape(ishape), maxLength: sizeOfShape(ishape) }).map((indices) => ({
          shape: s,
          axis: ax,
          indexShape: ishape,
          indices,
          out: [...s.slice(0, a), ...ishape, ...s.slice(a + 1)],
        })),
      );
    }),
  );
}

/** Shapes for matmul: batch broadcasting and optional 1-D operands, with the NumPy output shape. */
export interface MatmulSpec {
  a: number[];
  b: number[];
  out: number[];
}

export function matmulSpec(opts: { maxDim?: number; maxBatchRank?: number } = {}): fc.Arbitrary<MatmulSpec> {
  const { maxDim = 5, maxBatchRank = 2 } = opts;
  const d = fc.integer({ min: 1, max: maxDim });
  return fc
    .tuple(broadcastPair({ maxRank: maxBatchRank, maxDim: 3, maxSize: 12 }), d, d, d, fc.boolean(), fc.nat(4))
    .map(([batch, M, K, N, both, mode]) => {
      // mode 0..2: both operands batched matrices; 3: a is 1-D; 4: b is 1-D (and, with
      // `both`, a too: a dot product of two vectors, output shape [])
      const a1 = mode === 3 || (mode === 4 && both);
      const b1 = mode === 4;
      const a = a1 ? [K] : [...batch.a, M, K];
      const b = b1 ? [K] : [...batch.b, K, N];
      const ba = a1 ? [] : batch.a;
      const bb = b1 ? [] : batch.b;
      const rank = Math.max(ba.length, bb.length);
      const bout = iota(rank).map((j) => {
        const x = ba[j - (rank - ba.length)] ?? 1;
        const y = bb[j - (rank - bb.length)] ?? 1;
        return x === 1 ? y : x;
      });
      const out = [...bout, ...(a1 ? [] : [M]), ...(b1 ? [] : [N])];
      return { a, b, out };
    });
}

// ------------------------------------------------------------------------------------------
// Convolution and pooling

export type PairN = [number, number];

/** A conv2d problem: x [N, C, H, W], w [O, C/groups, KH, KW], options and output shape. */
export interface ConvSpec {
  xShape: number[];
  wShape: number[];
  stride: PairN;
  /** Numeric symmetric padding, or 'same' (only drawn when stride is 1 and the effective kernel is odd). */
  padding: PairN | 'same';
  dilation: PairN;
  groups: number;
  /** [N, O, Ho, Wo], computed here from the PyTorch formula. */
  out: number[];
}

export interface ConvOptions {
  maxBatch?: number;
  maxGroups?: number;
  /** Max channels per group (input and output). */
  maxChannelsPerGroup?: number;
  maxKernel?: number;
  maxStride?: number;
  maxPadding?: number;
  maxDilation?: number;
  /** Extra rows/cols beyond the smallest input that fits the kernel. */
  maxExtent?: number;
}

/** Two independent integers in [lo, hi] (a (height, width) attribute). */
const pairOf = (lo: number, hi: number) => fc.tuple(fc.integer({ min: lo, max: hi }), fc.integer({ min: lo, max: hi }));

const convOut = (n: number, k: number, s: number, p: number, d: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

export function convSpec(opts: ConvOptions = {}): fc.Arbitrary<ConvSpec> {
  const { maxBatch = 2, maxGroups = 3, maxChannelsPerGroup = 3, maxKernel = 3, maxStride = 2, maxPadding = 2, maxDilation = 2, maxExtent = 4 } = opts;
  return fc
    .record({
      N: fc.integer({ min: 1, max: maxBatch }),
      groups: fc.integer({ min: 1, max: maxGroups }),
      Cg: fc.integer({ min: 1, max: maxChannelsPerGroup }),
      Og: fc.integer({ min: 1, max: maxChannelsPerGroup }),
      k: pairOf(1, maxKernel),
      stride: pairOf(1, maxStride),
      padding: pairOf(0, maxPadding),
      dilation: pairOf(1, maxDilation),
      extent: pairOf(0, maxExtent),
      same: fc.boolean(),
    })
    .map((r) => {
      const eff = [0, 1].map((i) => r.dilation[i] * (r.k[i] - 1));
      const useSame = r.same && eff[0] % 2 === 0 && eff[1] % 2 === 0;
      const stride: PairN = useSame ? [1, 1] : r.stride;
      const pad: PairN = useSame ? [eff[0] / 2, eff[1] / 2] : r.padding;
      // smallest input with at least one output, plus extra extent
      const [H, W] = [0, 1].map((i) => Math.max(1, eff[i] + 1 - 2 * pad[i]) + r.extent[i]);
      const C = r.Cg * r.groups;
      const O = r.Og * r.groups;
      const Ho = convOut(H, r.k[0], stride[0], pad[0], r.dilation[0]);
      const Wo = convOut(W, r.k[1], stride[1], pad[1], r.dilation[1]);
      return {
        xShape: [r.N, C, H, W],
        wShape: [O, r.Cg, r.k[0], r.k[1]],
        stride,
        padding: useSame ? ('same' as const) : pad,
        dilation: r.dilation,
        groups: r.groups,
        out: [r.N, O, Ho, Wo],
      };
    });
}

/** A convTranspose2d problem: x [N, Cin, H, W], w [Cin, Cout/groups, KH, KW]. */
export interface ConvTransposeSpec {
  xShape: number[];
  wShape: number[];
  stride: PairN;
  padding: PairN;
  outputPadding: PairN;
  dilation: PairN;
  groups: number;
  /** [N, Cout, Ho, Wo] with Ho = (H-1)s - 2p + d(K-1) + outputPadding + 1. */
  out: number[];
}

export function convTransposeSpec(opts: ConvOptions = {}): fc.Arbitrary<ConvTransposeSpec> {
  const { maxBatch = 2, maxGroups = 3, maxChannelsPerGroup = 3, maxKernel = 3, maxStride = 3, maxPadding = 2, maxDilation = 2, maxExtent = 3 } = opts;
  return fc
    .record({
      N: fc.integer({ min: 1, max: maxBatch }),
      groups: fc.integer({ min: 1, max: maxGroups }),
      Cg: fc.integer({ min: 1, max: maxChannelsPerGroup }),
      Og: fc.integer({ min: 1, max: maxChannelsPerGroup }),
      k: pairOf(1, maxKernel),
      stride: pairOf(1, maxStride),
      padding: pairOf(0, maxPadding),
      dilation: pairOf(1, maxDilation),
      opad: pairOf(0, 2),
      HW: pairOf(1, 1 + maxExtent),
    })
    .map((r) => {
      // output padding must be < max(stride, dilation) (PyTorch's rule)
      const outputPadding = [0, 1].map((i) => Math.min(r.opad[i], Math.max(r.stride[i], r.dilation[i]) - 1)) as PairN;
      const size = (i: number, p: number) => (r.HW[i] - 1) * r.stride[i] - 2 * p + r.dilation[i] * (r.k[i] - 1) + outputPadding[i] + 1;
      // shrink padding until the output is non-empty
      const padding = [0, 1].map((i) => {
        let p = r.padding[i];
        while (p > 0 && size(i, p) < 1) p--;
        return p;
      }) as PairN;
      const Cin = r.Cg * r.groups;
      return {
        xShape: [r.N, Cin, r.HW[0], r.HW[1]],
        wShape: [Cin, r.Og, r.k[0], r.k[1]],
        stride: r.stride,
        padding,
        outputPadding,
        dilation: r.dilation,
        groups: r.groups,
        out: [r.N, r.Og * r.groups, size(0, padding[0]), size(1, padding[1])],
      };
    });
}

/** A 2-D pooling problem: x [N, C, H, W], kernel, stride, padding (<= kernel/2), output shape. */
export interface PoolSpec {
  xShape: number[];
  kernel: PairN;
  stride: PairN;
  padding: PairN;
  out: number[];
}

export function poolSpec(opts: { maxBatch?: number; maxChannels?: number; maxKernel?: number; maxStride?: number; maxExtent?: number } = {}): fc.Arbitrary<PoolSpec> {
  const { maxBatch = 2, maxChannels = 3, maxKernel = 3, maxStride = 3, maxExtent = 4 } = opts;
  return fc
    .record({
      N: fc.integer({ min: 1, max: maxBatch }),
      C: fc.integer({ min: 1, max: maxChannels }),
      k: pairOf(1, maxKernel),
      stride: pairOf(1, maxStride),
      pad: pairOf(0, 2),
      extent: pairOf(0, maxExtent),
    })
    .map((r) => {
      const padding = [0, 1].map((i) => Math.min(r.pad[i], Math.floor(r.k[i] / 2))) as PairN;
      const [H, W] = [0, 1].map((i) => Math.max(1, r.k[i] - 2 * padding[i]) + r.extent[i]);
      const out = [r.N, r.C, ...[0, 1].map((i) => Math.floor(([H, W][i] + 2 * padding[i] - r.k[i]) / r.stride[i]) + 1)];
      return { xShape: [r.N, r.C, H, W], kernel: r.k, stride: r.stride, padding, out };
    });
}
