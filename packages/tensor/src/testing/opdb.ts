// The op database (after PyTorch's OpInfo): one entry per public op of @tapegrad/tensor that
// the property suites test, saying what every suite needs to know about it:
// - `values`: the input arbitraries of the forward conformance suite (float32-exact values
//   inside the op's domain, for its float32-vs-float64 tolerance model);
// - `specials`: the IEEE special values the special-value pass mixes into those inputs
//   (README "Special values");
// - `tol`: the tolerance model of a float32 backend against the float64 reference;
// - `grad`: differentiability ('smooth', 'kinked' at isolated points, 'zero' by definition,
//   'none') and the gradient-check input domains (away from kinks by a margin gradcheck's
//   perturbation never crosses);
// - `derivative`: the float64 closed-form derivative (elementwise ops), an oracle for the
//   analytic gradient that does not go through finite differences.
//
// It describes; it runs nothing and imports no autograd. Consumers: the forward suite
// (packages/tensor/test/ops.suite.ts), the gradient cases (packages/autograd/test/cases.ts),
// and users through `gradientProperty(opInfo('gelu'))` in @tapegrad/autograd/testing.

import fc from 'fast-check';
import type { ConvOptions, FloatOptions, HostTensor, ShapeOptions } from '../testing.ts';
import type * as TestingModule from '../testing.ts';
import { floats, hostTensorOf as plainHostTensorOf, smallInts } from '../testing.ts';
import { erf64 } from '../backends/math64.ts';

// ------------------------------------------------------------------------------------------
// Float32 error model

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;
/** Spacing of float32 numbers in [1, 2). */
export const ULP32 = 2 ** -23;
/** gamma(n) = n u / (1 - n u): the classic bound on n float32 roundings. */
export const gamma32 = (n: number): number => (n * U32) / (1 - n * U32);
/** Absolute error of the float32 rational erf of the kernels (2e-7 plus its own roundings). */
export const ERF32_ABS = 2 ** -21;

/**
 * IEEE special values for conformance tests (README "Special values"): NaN, +-Infinity, -0,
 * huge (+-3e38, near the float32 maximum 3.4e38) and tiny (+-2e-38, just above the smallest
 * normal float32 1.18e-38, so no backend flushes the input itself).
 */
export const SPECIAL_VALUES: readonly number[] = [NaN, Infinity, -Infinity, -0, 3e38, -3e38, 2e-38, -2e-38].map(Math.fround);

const isHuge = (v: number) => Number.isFinite(v) && Math.abs(v) > 1e30;
/** Without huge magnitudes (sin / cos: WGSL's accuracy is promised on [-pi, pi] only). */
export const SPECIALS_NO_HUGE: readonly number[] = SPECIAL_VALUES.filter((v) => !isHuge(v));
/**
 * Huge magnitudes lowered to +-1e18, for ops that accumulate (sums of products, exp-sums):
 * their float32 intermediates overflow at ~3e38 where the float64 reference does not.
 */
export const SPECIALS_ACCUMULATING: readonly number[] = SPECIAL_VALUES.map((v) => (isHuge(v) ? Math.sign(v) * 1e18 : v));

// ------------------------------------------------------------------------------------------
// Gradient-check domains

/**
 * Value domains of gradient checks: grids of multiples of 1/64 (exact in float32), kept
 * 1/32 away from kinks (gradcheck perturbs by < 1e-3).
 */
export type GradDomain =
  | 'any' // [-2, 2]
  | 'wide' // [-3, 3]
  | 'pos' // [0.3125, 2.5]: log, sqrt, rsqrt, reciprocal, pow base
  | 'nonzero' // |x| in [1/16, 2]: abs, relu
  | 'denom' // |x| in [0.3125, 2]: divisors, negative pow bases
  | 'expo' // [-2, 2.5]: pow exponents
  | 'intExp' // integers -2..3: exponents for negative bases
  | 'odd' // odd multiples of 1/32 in (-2, 2)
  | 'even' // even multiples of 1/32 in [-2, 2] (never within 1/32 of an 'odd' value)
  | 'evenNeg' // even multiples of 1/32 in [-1, 0]
  | 'evenPos' // even multiples of 1/32 in [1/16, 1]
  | 'frac' // k + j/8, j in 1..7: at least 1/8 from an integer (floor)
  | 'distinct' // all values of the tensor distinct, at least 1/16 apart (max, maxPool2d)
  | 'ties' // small integers -2..2: ties of max/min are common
  | 'mask'; // 0 or 1 (conditions of where)

/** `n` values of a gradient-check domain. */
export function gradValues(n: number, dom: GradDomain): fc.Arbitrary<number[]> {
  const int = (min: number, max: number) => fc.integer({ min, max });
  const arr = (a: fc.Arbitrary<number>) => fc.array(a, { minLength: n, maxLength: n });
  switch (dom) {
    case 'any':
      return arr(int(-128, 128).map((k) => k / 64));
    case 'wide':
      return arr(int(-192, 192).map((k) => k / 64));
    case 'pos':
      return arr(int(20, 160).map((k) => k / 64));
    case 'nonzero':
      return arr(int(-124, 124).map((k) => (k >= 0 ? k + 4 : k - 4) / 64));
    case 'denom':
      return arr(int(-108, 108).map((k) => (k >= 0 ? k + 20 : k - 20) / 64));
    case 'expo':
      return arr(int(-128, 160).map((k) => k / 64));
    case 'intExp':
      return arr(int(-2, 3));
    case 'odd':
      return arr(int(-32, 31).map((k) => (2 * k + 1) / 32));
    case 'even':
      return arr(int(-32, 32).map((k) => (2 * k) / 32));
    case 'evenNeg':
      return arr(int(-16, 0).map((k) => (2 * k) / 32));
    case 'evenPos':
      return arr(int(1, 16).map((k) => (2 * k) / 32));
    case 'frac':
      return arr(fc.tuple(int(-3, 2), int(1, 7)).map(([k, j]) => k + j / 8));
    case 'ties':
      return arr(int(-2, 2));
    case 'mask':
      return arr(fc.boolean().map((b) => (b ? 1 : 0)));
    case 'distinct':
      // ranks of random keys (ties broken by position), spaced 1/16 apart around 0
      return arr(int(0, 1 << 20)).map((keys) => {
        const order = keys.map((k, i) => [k, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        const out = new Array<number>(n);
        order.forEach(([, i], r) => (out[i] = (r - (n - 1) / 2) / 16));
        return out;
      });
  }
}

// ------------------------------------------------------------------------------------------
// Entries

export type OpKind = 'unary' | 'binary' | 'select' | 'reduction' | 'axis' | 'argReduction' | 'linalg' | 'movement' | 'conv' | 'pool' | 'creation';

/**
 * - smooth: differentiable on the whole domain;
 * - kinked: differentiable except at isolated points (relu, abs, maximum at ties, max);
 * - zero: piecewise constant, the documented gradient is 0 (comparisons, sign, floor, step,
 *   argmax);
 * - none: not differentiable in these inputs (indices, conditions).
 */
export type Differentiability = 'smooth' | 'kinked' | 'zero' | 'none';

/** `n` float32-exact input values. */
export type ValuesArb = (n: number) => fc.Arbitrary<Float32Array>;

/**
 * Forward tolerance: 'exact' (the op moves or compares float32 numbers), or the allowed
 * |float32 - float64| for the element-wise inputs `xs` and the float64 result `y`. Ops whose
 * budget depends on the whole input (sums: gamma(n) sum|x|) state it in `tolNote` and the
 * suite computes it.
 */
export type ToleranceModel = 'exact' | ((xs: number[], y: number) => number) | 'reduction';

export interface OpInfo {
  /** The public op of @tapegrad/tensor. */
  name: string;
  kind: OpKind;
  /** The primitives it records on an autograd tape. */
  primitives: string[];
  /** Forward conformance inputs, one per tensor argument (elementwise ops). */
  values?: ValuesArb[];
  /** IEEE special values the special-value pass mixes into the inputs. */
  specials: readonly number[];
  /** Float32 tolerance model against the float64 reference. */
  tol: ToleranceModel;
  /** How the budget is derived (for the non-elementwise models). */
  tolNote?: string;
  grad: {
    differentiable: Differentiability;
    /** Gradient-check domain of each input (kinks excluded with a margin). */
    domains?: GradDomain[];
    /** Inputs gradient checks differentiate (default all). */
    argnums?: number[];
  };
  /** Float64 closed-form partial derivatives at the inputs (elementwise ops). */
  derivative?: (...xs: number[]) => number[];
  /**
   * Forward-suite samples: host inputs plus the op's attributes (the record type of the
   * entry's kind, e.g. `ReduceSample`), drawn through `A` (this module's arbitraries, or the
   * special-value pass's wrapper of them that mixes `specials` into every tensor).
   */
  samples?: (A: Arbitraries, o: SampleOptions) => fc.Arbitrary<unknown>;
  /** Gradient-check samples: input shapes (values come from `grad.domains`) and attributes. */
  gradSamples?: () => fc.Arbitrary<GradSample>;
  /**
   * The arguments of the op for gradient-sample tensors and attributes (`gradientProperty`
   * calls `op(...call(tensors, attrs))`); entries with gradient samples but no `call` take
   * arguments a description cannot build (index tensors) and have their cases in the suites.
   */
  call?: (tensors: unknown[], attrs: Record<string, unknown>) => unknown[];
}

/** The arbitraries module (@tapegrad/tensor/testing), or a wrapper of it. */
export type Arbitraries = typeof TestingModule;

/** Sizes of forward-suite samples. */
export interface SampleOptions {
  shape: ShapeOptions;
  conv?: ConvOptions;
  /** The small configuration (maxSize <= 64). */
  small?: boolean;
}

/** A reduction over `axes` (sum, max, min, mean, variance, logsumexp). */
export interface ReduceSample {
  x: HostTensor;
  axes: number | number[] | undefined;
  keepDims: boolean;
}
/** A binary elementwise op: operands broadcast to `out`; a rank-0 operand may be passed as a number (`aNum`, `bNum`). */
export interface BinarySample {
  a: HostTensor;
  b: HostTensor;
  out: number[];
  aNum: boolean;
  bNum: boolean;
}
/** An op along one axis (softmax, logSoftmax). */
export interface AxisSample {
  x: HostTensor;
  axis: number;
}
/** argmax / argmin: an axis or none (the flattened tensor). */
export interface ArgSample {
  x: HostTensor;
  axis: number | undefined;
  keepDims: boolean;
}

/** A gradient-check sample: one shape per input (values from the entry's `grad.domains`), attributes. */
export interface GradSample<Attrs = Record<string, unknown>> {
  shapes: number[][];
  attrs: Attrs;
}

// ------------------------------------------------------------------------------------------
// Gradient-check shapes and attributes (small: gradcheck runs f dozens of times)

const gInt = (min: number, max: number) => fc.integer({ min, max });

/** Shapes of rank minRank..maxRank, dimensions 1..maxDim (size-1 dims are frequent). */
export function gradShape(minRank = 0, maxRank = 3, maxDim = 3): fc.Arbitrary<number[]> {
  return fc.array(gInt(1, maxDim), { minLength: minRank, maxLength: maxRank });
}

/** Axes to reduce over: undefined (all), or a subset, some written negative. */
export function gradAxes(rank: number): fc.Arbitrary<number[] | undefined> {
  const all = Array.from({ length: rank }, (_, i) => i);
  return fc.oneof(
    fc.constant(undefined),
    fc.tuple(fc.subarray(all), fc.array(fc.boolean(), { minLength: rank, maxLength: rank })).map(([ax, neg]) =>
      ax.map((a) => (neg[a] ? a - rank : a)),
    ),
  );
}

/** One axis in [-rank, rank - 1] (rank >= 1). */
export const gradAxis = (rank: number): fc.Arbitrary<number> => gInt(-rank, rank - 1);

// ------------------------------------------------------------------------------------------
// Sample generators by family

/** Reductions: any tensor, axes (or all), keepDims. */
const reduceSamples =
  (values?: ValuesArb) =>
  (A: Arbitraries, o: SampleOptions): fc.Arbitrary<ReduceSample> =>
    A.hostTensor(o.shape, values).chain((x) => fc.record({ x: fc.constant(x), axes: A.axes(x.shape.length), keepDims: fc.boolean() }));
/** max / min: half the draws are small integers, so ties of the extremum are common. */
const tiedReduceSamples = (A: Arbitraries, o: SampleOptions) => reduceSamples((n) => fc.oneof(A.floats(n), A.smallInts(n, -2, 2)))(A, o);
const axisSamples = (A: Arbitraries, o: SampleOptions): fc.Arbitrary<AxisSample> =>
  A.hostTensor({ ...o.shape, minRank: 1 }).chain((x) => fc.record({ x: fc.constant(x), axis: A.axis(x.shape.length) }));
/** argmax / argmin: small integers make ties common (the documented answer is the first). */
const argSamples = (A: Arbitraries, o: SampleOptions): fc.Arbitrary<ArgSample> =>
  A.hostTensor({ ...o.shape, minRank: 1 }, (n) => A.smallInts(n, -2, 2)).chain((x) =>
    fc.record({ x: fc.constant(x), axis: fc.option(A.axis(x.shape.length), { nil: undefined }), keepDims: fc.boolean() }),
  );

const reduceGradSamples = (): fc.Arbitrary<GradSample<{ axes: number[] | undefined; keepDims: boolean }>> =>
  gradShape(0, 3).chain((s) => fc.record({ shapes: fc.constant([s]), attrs: fc.record({ axes: gradAxes(s.length), keepDims: fc.boolean() }) }));
const axisGradSamples = (): fc.Arbitrary<GradSample<{ axis: number }>> =>
  gradShape(1, 3).chain((s) => fc.record({ shapes: fc.constant([s]), attrs: fc.record({ axis: gradAxis(s.length) }) }));

const f = (opts: FloatOptions = {}): ValuesArb => (n) => floats(n, opts);
const ints = (min: number, max: number): ValuesArb => (n) => smallInts(n, min, max);

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const sigmoid64 = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
// Unary budgets follow the WGSL accuracy table (the loosest platform the kernels target;
// webasm and cpu call the float64 Math functions and round once, far inside it): exp
// (3 + 2|x|) ulp, log 3 ulp or 2^-21 absolute near 1, sqrt / inverseSqrt / division 2.5 ulp
// each. sin/cos: WGSL promises only 2^-11 absolute on [-pi, pi]; we hold them to 4 ulp(1) +
// 2|x| u, what correct float32 argument reduction gives.
const unaryRel = (k: (x: number) => number) => (xs: number[], y: number) => k(xs[0]) * ULP32 * Math.abs(y);

function unary(
  name: string,
  values: FloatOptions,
  tol: ToleranceModel,
  grad: OpInfo['grad'],
  derivative?: (x: number) => number,
  specials: readonly number[] = SPECIAL_VALUES,
): OpInfo {
  const v = f(values);
  return {
    name, kind: 'unary', primitives: [name], values: [v], specials, tol, grad, ...(derivative ? { derivative: (x: number) => [derivative(x)] } : {}),
    samples: (A, o) => A.hostTensor(o.shape, v),
    gradSamples: () => gradShape().map((s) => one(s, {})),
    call: (t) => t,
  };
}

const UNARY: OpInfo[] = [
  unary('neg', { specials: [0] }, 'exact', { differentiable: 'smooth', domains: ['any'] }, () => -1),
  unary('abs', { specials: [0] }, 'exact', { differentiable: 'kinked', domains: ['nonzero'] }, (x) => Math.sign(x)),
  unary('sign', { specials: [0] }, 'exact', { differentiable: 'zero', domains: ['nonzero'] }, () => 0),
  unary('relu', { specials: [0] }, 'exact', { differentiable: 'kinked', domains: ['nonzero'] }, (x) => (x > 0 ? 1 : 0)),
  unary('step', { specials: [0] }, 'exact', { differentiable: 'zero', domains: ['nonzero'] }, () => 0),
  unary('floor', { min: -8, max: 8, gridBits: 6, specials: [0, -1, 1] }, 'exact', { differentiable: 'zero', domains: ['frac'] }, () => 0),
  // one rounding
  unary('square', {}, unaryRel(() => 1), { differentiable: 'smooth', domains: ['any'] }, (x) => 2 * x),
  unary('exp', { min: -20, max: 20, specials: [0] }, unaryRel((x) => 3 + 2 * Math.abs(x)), { differentiable: 'smooth', domains: ['any'] }, Math.exp),
  unary('log', { min: 1 / 1024, max: 1000, specials: [1] }, (_xs, y) => 2 ** -21 + 3 * ULP32 * Math.abs(y), { differentiable: 'smooth', domains: ['pos'] }, (x) => 1 / x),
  unary('sqrt', { min: 0, max: 100, specials: [0, 1, 4] }, unaryRel(() => 3), { differentiable: 'smooth', domains: ['pos'] }, (x) => 0.5 / Math.sqrt(x)),
  unary('rsqrt', { min: 1 / 1024, max: 100, specials: [1, 4] }, unaryRel(() => 6), { differentiable: 'smooth', domains: ['pos'] }, (x) => -0.5 * x ** -1.5),
  unary('reciprocal', { min: 1 / 64, max: 64, specials: [1] }, unaryRel(() => 3), { differentiable: 'smooth', domains: ['pos'] }, (x) => -1 / (x * x)),
  unary('sin', { min: -10, max: 10, specials: [0] }, ([x]) => 4 * ULP32 + 2 * Math.abs(x) * U32, { differentiable: 'smooth', domains: ['wide'] }, Math.cos, SPECIALS_NO_HUGE),
  unary('cos', { min: -10, max: 10, specials: [0] }, ([x]) => 4 * ULP32 + 2 * Math.abs(x) * U32, { differentiable: 'smooth', domains: ['wide'] }, (x) => -Math.sin(x), SPECIALS_NO_HUGE),
  // tanh from exponentials cancels near 0: absolute 4 ulp(1), plus 8 ulp relative
  unary('tanh', { min: -20, max: 20, specials: [0] }, (_xs, y) => 4 * ULP32 + 8 * ULP32 * Math.abs(y), { differentiable: 'smooth', domains: ['any'] }, (x) => 1 - Math.tanh(x) ** 2),
  // 1 / (1 + exp(-x)): exp's (3 + 2|x|) ulp, one add, one division
  unary('sigmoid', { min: -30, max: 30, specials: [0] }, ([x], y) => (9 + 2 * Math.abs(x)) * ULP32 * Math.abs(y) + 1e-30, { differentiable: 'smooth', domains: ['wide'] }, (x) => sigmoid64(x) * (1 - sigmoid64(x))),
  unary('silu', { min: -30, max: 30, specials: [0] }, ([x], y) => (10 + 2 * Math.abs(x)) * ULP32 * Math.abs(y) + 1e-30, { differentiable: 'smooth', domains: ['wide'] }, (x) => sigmoid64(x) * (1 + x * (1 - sigmoid64(x)))),
  unary('erf', { min: -5, max: 5, specials: [0, 4, -4] }, (_xs, y) => ERF32_ABS + 4 * ULP32 * Math.abs(y), { differentiable: 'smooth', domains: ['any'] }, (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x)),
  // 0.5 x (1 + erf(x / sqrt 2)): erf's absolute error scaled by |x| / 2
  unary('gelu', { min: -8, max: 8, specials: [0] }, ([x], y) => (0.5 * Math.abs(x) + 1) * ERF32_ABS + 4 * ULP32 * Math.abs(y), { differentiable: 'smooth', domains: ['wide'] }, (x) => 0.5 * (1 + erf64(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x)),
];

/** Small integers: equalities (ties) are common. */
const TIES = ints(-3, 3);

function binary(name: string, a: ValuesArb, b: ValuesArb, tol: ToleranceModel, grad: OpInfo['grad'], derivative?: (a: number, b: number) => number[]): OpInfo {
  return {
    name, kind: 'binary', primitives: [name], values: [a, b], specials: SPECIAL_VALUES, tol, grad, ...(derivative ? { derivative } : {}),
    samples: (A, o): fc.Arbitrary<BinarySample> =>
      A.broadcastPair(o.shape).chain(({ a: sa, b: sb, out }) =>
        // a rank-0 operand is sometimes passed as a JS number (the TensorLike path)
        fc.record({ a: A.hostTensorOf(sa, a), b: A.hostTensorOf(sb, b), out: fc.constant(out), aNum: fc.boolean(), bNum: fc.boolean() }),
      ),
    gradSamples: () => gradBroadcast(2).map((shapes) => ({ shapes, attrs: {} })),
    call: (t) => t,
  };
}
// one correctly rounded operation: half an ulp, allow one
const oneRounding: ToleranceModel = (_xs, z) => ULP32 * Math.abs(z);
const cmpGrad: OpInfo['grad'] = { differentiable: 'zero', domains: ['odd', 'even'] };

const BINARY: OpInfo[] = [
  binary('add', f(), f(), oneRounding, { differentiable: 'smooth', domains: ['any', 'any'] }, () => [1, 1]),
  binary('sub', f(), f(), oneRounding, { differentiable: 'smooth', domains: ['any', 'any'] }, () => [1, -1]),
  binary('mul', f(), f(), oneRounding, { differentiable: 'smooth', domains: ['any', 'any'] }, (a, b) => [b, a]),
  // WGSL division: 2.5 ulp; divisors kept away from 0, both signs
  binary('div', f(), (n) => floats(n, { min: 0.25, max: 8 }).map((v) => v.map((x, i) => (i % 2 ? -x : x))), (_xs, z) => 3 * ULP32 * Math.abs(z), { differentiable: 'smooth', domains: ['any', 'denom'] }, (a, b) => [1 / b, -a / (b * b)]),
  // pow = exp2(y log2 |x|): exp2's (3 + 2|y log2 x|) ulp plus log2's 2^-21 absolute times |y|
  binary(
    'pow',
    (n) => floats(n, { min: -4, max: 4, specials: [0, 1, -1, 2] }),
    (n) => floats(n, { min: -3, max: 3, gridBits: 4, specials: [0, 1, 2, 0.5] }),
    ([x, y], z) => ((3 + 2 * Math.abs(y * Math.log2(Math.abs(x) || 1))) * ULP32 + Math.abs(y) * 2 ** -21 * Math.LN2 * 2) * Math.abs(z) + 1e-30,
    { differentiable: 'smooth', domains: ['pos', 'expo'] },
    (a, b) => [b * a ** (b - 1), a > 0 ? a ** b * Math.log(a) : 0],
  ),
  // ties are common (small integers); at a tie each side gets half the cotangent
  binary('maximum', TIES, TIES, 'exact', { differentiable: 'kinked', domains: ['odd', 'even'] }, (a, b) => (a > b ? [1, 0] : a < b ? [0, 1] : [0.5, 0.5])),
  binary('minimum', TIES, TIES, 'exact', { differentiable: 'kinked', domains: ['even', 'odd'] }, (a, b) => (a < b ? [1, 0] : a > b ? [0, 1] : [0.5, 0.5])),
  ...(['greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual'] as const).map((n) => binary(n, TIES, TIES, 'exact', cmpGrad, () => [0, 0])),
];

// ------------------------------------------------------------------------------------------
// Forward samples of linear algebra and movement (exact ops: any float32 values)

/** Forward-suite sample generators of the movement and linalg entries, by entry name. */
export const MOVEMENT_SAMPLES = {
  matmul: (A: Arbitraries, o: SampleOptions) =>
    A.matmulSpec({ maxDim: o.small ? 3 : 5 }).chain((s) => fc.record({ s: fc.constant(s), a: A.hostTensorOf(s.a), b: A.hostTensorOf(s.b) })),
  transpose: (A: Arbitraries, o: SampleOptions) =>
    A.hostTensor(o.shape).chain((x) => fc.record({ x: fc.constant(x), perm: fc.option(A.permutation(x.shape.length), { nil: undefined }) })),
  /** reshape, flatten and clone share one property (`which`). */
  reshape: (A: Arbitraries, o: SampleOptions) =>
    A.hostTensor(o.shape).chain((x) => fc.record({ x: fc.constant(x), target: A.reshapeTarget(x.data.length), which: fc.constantFrom('reshape' as const, 'flatten' as const, 'clone' as const) })),
  expandDims: (A: Arbitraries, o: SampleOptions) => A.hostTensor({ ...o.shape, maxRank: 3 }).chain((x) => fc.record({ x: fc.constant(x), axis: A.axis(x.shape.length + 1) })),
  squeeze: (A: Arbitraries, o: SampleOptions) =>
    A.hostTensor(o.shape).chain((x) => {
      const ones = A.iota(x.shape.length).filter((i) => x.shape[i] === 1);
      return fc.record({ x: fc.constant(x), axes: fc.option(fc.subarray(ones), { nil: undefined }) });
    }),
  broadcastTo: (A: Arbitraries, o: SampleOptions) => A.broadcastPair(o.shape).chain(({ a, out }) => fc.record({ x: A.hostTensorOf(a), out: fc.constant(out) })),
  slice: (A: Arbitraries, o: SampleOptions) => A.hostTensor({ ...o.shape, minRank: 1 }).chain((x) => fc.record({ x: fc.constant(x), s: A.sliceSpec(x.shape) })),
  concat: (A: Arbitraries, o: SampleOptions) => A.concatSpec(o.shape).chain((s) => fc.record({ s: fc.constant(s), xs: fc.tuple(...s.shapes.map((sh) => A.hostTensorOf(sh))) })),
  stack: (A: Arbitraries, o: SampleOptions) =>
    A.shape({ ...o.shape, maxRank: 3 }).chain((sh) => fc.record({ xs: fc.array(A.hostTensorOf(sh), { minLength: 1, maxLength: 3 }), axis: A.axis(sh.length + 1) })),
  pad: (A: Arbitraries, o: SampleOptions) =>
    A.hostTensor({ ...o.shape, maxRank: 4 }).chain((x) => fc.record({ x: fc.constant(x), pads: A.padSpec(x.shape.length), value: A.float({ gridBits: 4, specials: [0] }) })),
  gather: (A: Arbitraries, o: SampleOptions) =>
    A.gatherSpec({ ...o.shape, maxRank: 3 }).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.shape), asArray: fc.boolean() })),
  scatterAdd: (A: Arbitraries, o: SampleOptions) =>
    A.hostTensor({ ...o.shape, minRank: 1, maxRank: 3 }).chain((g) =>
      fc.integer({ min: 1, max: 4 }).chain((dimSize) =>
        A.axis(g.shape.length).chain((axis) => {
          const a = axis < 0 ? axis + g.shape.length : axis;
          return fc.record({
            g: fc.constant(g),
            axis: fc.constant(axis),
            dimSize: fc.constant(dimSize),
            indices: fc.array(fc.nat(dimSize - 1), { minLength: g.shape[a], maxLength: g.shape[a] }),
            asArray: fc.boolean(),
          });
        }),
      ),
    ),
  /** Indices -1 and depth give all-zero rows; indices never carry special values (plain arbitraries). */
  oneHot: (A: Arbitraries) =>
    fc.integer({ min: 1, max: 5 }).chain((depth) =>
      A.shape({ maxRank: 2, maxDim: 4 }).chain((ishape) =>
        fc.record({ depth: fc.constant(depth), idx: plainHostTensorOf(ishape, (n) => A.smallInts(n, -1, depth)), asArray: fc.boolean() }),
      ),
    ),
};

/** The value type of a forward sample generator of MOVEMENT_SAMPLES. */
export type MovementSample<K extends keyof typeof MOVEMENT_SAMPLES> = ReturnType<(typeof MOVEMENT_SAMPLES)[K]> extends fc.Arbitrary<infer V> ? V : never;

// ------------------------------------------------------------------------------------------
// Gradient samples of linear algebra and movement (gradcheck sizes; values on 'any')

/** `n` shapes that broadcast together: each drops some leading dimensions of a common shape and sets some of the rest to 1. */
export function gradBroadcast(n: number, maxRank = 3, maxDim = 3): fc.Arbitrary<number[][]> {
  return gradShape(0, maxRank, maxDim).chain((out) =>
    fc.tuple(
      ...Array.from({ length: n }, () =>
        fc.tuple(
          fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: gInt(0, out.length) }),
          fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
        ),
      ),
    ).map((specs) => specs.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)))),
  );
}

const gradSizeOf = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const one = <Attrs>(shape: number[], attrs: Attrs): GradSample<Attrs> => ({ shapes: [shape], attrs });

/** Gradient-check sample generators of the movement and linalg entries, by entry name. */
export const MOVEMENT_GRAD_SAMPLES = {
  matmul: () =>
    fc.tuple(gradBroadcast(2, 2), gInt(1, 3), gInt(1, 3), gInt(1, 3)).map(([[ba, bb], M, K, N]): GradSample<Record<string, never>> => ({ shapes: [[...ba, M, K], [...bb, K, N]], attrs: {} })),
  transpose: () =>
    gradShape(0, 4).chain((s) =>
      fc.shuffledSubarray(Array.from({ length: s.length }, (_, i) => i), { minLength: s.length, maxLength: s.length }).map((perm) => one(s, { perm })),
    ),
  reshape: () =>
    gradShape(0, 3).chain((s) =>
      fc
        .constantFrom<(t: number[]) => number[]>(
          (t) => [gradSizeOf(t)],
          (t) => t.slice().reverse(),
          (t) => [1, ...t, 1],
          (t) => (t.length >= 2 ? [t[0] * t[1], ...t.slice(2)] : [-1]),
        )
        .map((to) => one(s, { target: to(s) })),
    ),
  clone: () => gradShape().map((s) => one(s, {})),
  /** An axis of expandDims (rank + 1 places, some negative). */
  expandDims: () => gradShape(0, 3).chain((s) => gInt(-(s.length + 1), s.length).map((axis) => one(s, { axis }))),
  broadcastTo: () =>
    gradBroadcast(1).chain(([s]) =>
      // the target: s with leading dims and its 1s filled in
      fc.tuple(gradShape(0, 2), fc.array(gInt(1, 3), { minLength: s.length, maxLength: s.length })).map(([lead, fill]) => one(s, { target: [...lead, ...s.map((d, i) => (d === 1 ? fill[i] : d))] })),
    ),
  slice: () =>
    gradShape(1, 3, 5).chain((s) =>
      fc
        .tuple(
          ...s.map((d) =>
            fc.tuple(gInt(1, 3), gInt(0, d - 1), fc.boolean(), fc.boolean()).chain(([step, b, negBegin, toEnd]) => {
              const avail = Math.ceil((d - b) / step);
              return gInt(1, avail).map((n) => ({ begin: negBegin ? b - d : b, size: toEnd ? -1 : n, step }));
            }),
          ),
        )
        .map((ax) => one(s, { begin: ax.map((a) => a.begin), size: ax.map((a) => a.size), step: ax.map((a) => a.step) })),
    ),
  pad: () =>
    gradShape(1, 3).chain((s) =>
      fc.tuple(fc.array(fc.tuple(gInt(0, 2), gInt(0, 2)), { minLength: s.length, maxLength: s.length }), gInt(-2, 2)).map(([pads, v]) => one(s, { pads, value: v / 2 })),
    ),
  /** Three parts along one axis. */
  concat: () =>
    gradShape(1, 3).chain((s) =>
      fc.tuple(gradAxis(s.length), fc.tuple(gInt(1, 3), gInt(1, 3), gInt(1, 3))).map(([axis, ns]): GradSample<{ axis: number }> => {
        const a = axis < 0 ? axis + s.length : axis;
        return { shapes: ns.map((n) => s.map((d, i) => (i === a ? n : d))), attrs: { axis } };
      }),
    ),
  stack: () =>
    fc.tuple(gradShape(0, 2), gInt(2, 3)).chain(([s, n]) => gInt(-(s.length + 1), s.length).map((axis): GradSample<{ axis: number }> => ({ shapes: Array.from({ length: n }, () => s), attrs: { axis } }))),
  /** Indices (host numbers and their shape) with a repeat: the gradient must accumulate. */
  gather: () =>
    gradShape(1, 3, 4).chain((s) =>
      fc.tuple(gradAxis(s.length), fc.oneof(gradShape(1, 1, 4), gradShape(2, 2, 3))).chain(([axis, indexShape]) => {
        const d = s[axis < 0 ? axis + s.length : axis];
        const n = gradSizeOf(indexShape);
        return fc.array(gInt(0, d - 1), { minLength: n, maxLength: n }).map((indices) => {
          if (indices.length >= 2) indices[indices.length - 1] = indices[0];
          return one(s, { axis, indexShape, indices });
        });
      }),
    ),
  /** Indices as a host array, or as a tensor of shape [rows, 1] or [1, rows] (`form`). */
  scatterAdd: () =>
    fc
      .tuple(gradShape(1, 3), gInt(1, 4))
      .chain(([s, dimSize]) => gradAxis(s.length).map((axis) => [s, axis, dimSize] as const))
      .chain(([s, axis, dimSize]) => {
        const a = axis < 0 ? axis + s.length : axis;
        return fc
          .tuple(fc.array(gInt(0, dimSize - 1), { minLength: s[a], maxLength: s[a] }), fc.constantFrom<'array' | 'column' | 'row'>('array', 'column', 'row'))
          .map(([indices, form]) => one(s, { axis, dimSize, indices, form }));
      }),
};

/** The attribute type of a gradient sample generator of MOVEMENT_GRAD_SAMPLES. */
export type MovementGradAttrs<K extends keyof typeof MOVEMENT_GRAD_SAMPLES> = ReturnType<(typeof MOVEMENT_GRAD_SAMPLES)[K]> extends fc.Arbitrary<GradSample<infer V>> ? V : never;

// ------------------------------------------------------------------------------------------
// Convolution and pooling: forward samples

/** Forward-suite sample generators of the convolution and pooling entries, by entry name. */
export const CONV_SAMPLES = {
  conv2d: (A: Arbitraries, o: SampleOptions) => A.convSpec(o.conv).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape), w: A.hostTensorOf(s.wShape) })),
  // weights stay finite (plain arbitraries): a non-finite weight meets the zeros that the
  // kernels insert between strided input pixels (0 * Inf = NaN) where the scatter-form
  // reference adds nothing; README "Special values" leaves that case unspecified
  convTranspose2d: (A: Arbitraries, o: SampleOptions) =>
    A.convTransposeSpec(o.conv).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape), w: plainHostTensorOf(s.wShape) })),
  conv2dFilterGrad: (A: Arbitraries, o: SampleOptions) => A.convSpec(o.conv).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape), dy: A.hostTensorOf(s.out) })),
  /** Small-integer inputs make ties common (the first maximum of a window wins). */
  maxPool2d: (A: Arbitraries, o: SampleOptions) => A.poolSpec(poolOptions(o)).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape, (n) => A.smallInts(n, -3, 3)) })),
  maxPool2dGather: (A: Arbitraries, o: SampleOptions) =>
    A.poolSpec(poolOptions(o)).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape, (n) => A.smallInts(n, -3, 3)), v: A.hostTensorOf(s.xShape) })),
  maxPool2dScatter: (A: Arbitraries, o: SampleOptions) =>
    A.poolSpec(poolOptions(o)).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape, (n) => A.smallInts(n, -3, 3)), g: A.hostTensorOf(s.out) })),
  avgPool2d: (A: Arbitraries, o: SampleOptions) => A.poolSpec(poolOptions(o)).chain((s) => fc.record({ s: fc.constant(s), x: A.hostTensorOf(s.xShape) })),
  upsampleNearest2d: (A: Arbitraries, o: SampleOptions) =>
    fc.record({
      x: A.hostTensor({ minRank: 4, maxRank: 4, maxDim: 3, maxSize: o.small ? 24 : 72 }),
      scale: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))),
    }),
};
const poolOptions = (o: SampleOptions) => (o.small ? { maxBatch: 1, maxChannels: 2, maxExtent: 3 } : {});

/** The value type of a forward sample generator of CONV_SAMPLES. */
export type ConvSample<K extends keyof typeof CONV_SAMPLES> = ReturnType<(typeof CONV_SAMPLES)[K]> extends fc.Arbitrary<infer V> ? V : never;

// ------------------------------------------------------------------------------------------
// Convolution and pooling: gradient-check configurations (small: gradcheck runs f dozens of times)

export interface ConvConfig {
  N: number;
  C: number;
  O: number;
  groups: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  stride: [number, number];
  padding: [number, number] | 'same';
  dilation: [number, number];
  /** conv2d output size. */
  Ho: number;
  Wo: number;
}

export interface ConvConstraints {
  groups?: number;
  same?: boolean;
  stride?: number;
  dilation?: number;
  maxHW?: number;
}

const convOutSize = (n: number, k: number, s: number, p: number, d: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/** conv2d configurations: N <= 2, C, O <= 4, H, W <= 6, kernels <= 3, every attribute varied. */
export function gradConvConfig(c: ConvConstraints = {}): fc.Arbitrary<ConvConfig> {
  const maxHW = c.maxHW ?? 6;
  return fc
    .record({
      N: gInt(1, 2),
      groups: c.groups !== undefined ? fc.constant(c.groups) : gInt(1, 2),
      cg: gInt(1, 2),
      og: gInt(1, 2),
      KH: gInt(1, 3),
      KW: gInt(1, 3),
      sH: c.stride !== undefined ? fc.constant(c.stride) : gInt(1, 2),
      sW: c.stride !== undefined ? fc.constant(c.stride) : gInt(1, 2),
      dH: c.dilation !== undefined ? fc.constant(c.dilation) : gInt(1, 2),
      dW: c.dilation !== undefined ? fc.constant(c.dilation) : gInt(1, 2),
      pH: gInt(0, 1),
      pW: gInt(0, 1),
      H: gInt(1, maxHW),
      W: gInt(1, maxHW),
    })
    .map((r) => {
      const same = c.same === true;
      const stride: [number, number] = same ? [1, 1] : [r.sH, r.sW];
      // 'same' needs an odd effective kernel: make d(K-1) even
      const KH = same && (r.dH * (r.KH - 1)) % 2 ? r.KH + 1 : r.KH;
      const KW = same && (r.dW * (r.KW - 1)) % 2 ? r.KW + 1 : r.KW;
      const pad: [number, number] = same ? [(r.dH * (KH - 1)) / 2, (r.dW * (KW - 1)) / 2] : [r.pH, r.pW];
      const Ho = convOutSize(r.H, KH, stride[0], pad[0], r.dH);
      const Wo = convOutSize(r.W, KW, stride[1], pad[1], r.dW);
      return {
        N: r.N, C: r.groups * r.cg, O: r.groups * r.og, groups: r.groups, H: r.H, W: r.W, KH, KW, stride,
        padding: same ? ('same' as const) : pad, dilation: [r.dH, r.dW] as [number, number], Ho, Wo,
      };
    })
    .filter((k) => k.Ho >= 1 && k.Wo >= 1);
}

export interface ConvTConfig {
  N: number;
  Cin: number;
  Og: number;
  groups: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  outputPadding: [number, number];
}

/** convTranspose2d configurations; `withOutputPadding` forces a non-zero outputPadding. */
export function gradConvTConfig(withOutputPadding = false, maxHW = 4): fc.Arbitrary<ConvTConfig> {
  return fc
    .record({
      N: gInt(1, 2),
      groups: gInt(1, 2),
      cg: gInt(1, 2),
      Og: gInt(1, 2),
      KH: gInt(1, 3),
      KW: gInt(1, 3),
      sH: gInt(1, 2),
      sW: gInt(1, 2),
      dH: gInt(1, 2),
      dW: gInt(1, 2),
      pH: gInt(0, 1),
      pW: gInt(0, 1),
      oH: gInt(0, 1),
      oW: gInt(0, 1),
      H: gInt(1, maxHW),
      W: gInt(1, maxHW),
    })
    .map((r) => {
      // outputPadding must be below max(stride, dilation)
      const lim = (s: number, d: number, o: number) => Math.min(o, Math.max(s, d) - 1);
      let sH = r.sH;
      let oH = lim(r.sH, r.dH, r.oH);
      const oW = lim(r.sW, r.dW, r.oW);
      if (withOutputPadding && oH === 0 && oW === 0) {
        sH = 2;
        oH = 1;
      }
      return {
        N: r.N, Cin: r.groups * r.cg, Og: r.Og, groups: r.groups, H: r.H, W: r.W, KH: r.KH, KW: r.KW,
        stride: [sH, r.sW] as [number, number], padding: [r.pH, r.pW] as [number, number],
        dilation: [r.dH, r.dW] as [number, number], outputPadding: [oH, oW] as [number, number],
      };
    })
    .filter((k) => {
      const Ho = (k.H - 1) * k.stride[0] - 2 * k.padding[0] + k.dilation[0] * (k.KH - 1) + k.outputPadding[0] + 1;
      const Wo = (k.W - 1) * k.stride[1] - 2 * k.padding[1] + k.dilation[1] * (k.KW - 1) + k.outputPadding[1] + 1;
      return Ho >= 1 && Wo >= 1;
    });
}

export interface PoolConfig {
  N: number;
  C: number;
  H: number;
  W: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

export function gradPoolConfig(): fc.Arbitrary<PoolConfig> {
  return fc
    .record({
      N: gInt(1, 2), C: gInt(1, 3), H: gInt(1, 6), W: gInt(1, 6),
      kH: gInt(1, 3), kW: gInt(1, 3), sH: gInt(1, 3), sW: gInt(1, 3), pH: gInt(0, 1), pW: gInt(0, 1),
    })
    .map((r) => ({
      N: r.N, C: r.C, H: r.H, W: r.W,
      kernel: [r.kH, r.kW] as [number, number],
      stride: [r.sH, r.sW] as [number, number],
      padding: [Math.min(r.pH, r.kH >> 1), Math.min(r.pW, r.kW >> 1)] as [number, number],
    }))
    .filter((k) => convOutSize(k.H, k.kernel[0], k.stride[0], k.padding[0], 1) >= 1 && convOutSize(k.W, k.kernel[1], k.stride[1], k.padding[1], 1) >= 1);
}


const convOptsOf = (k: ConvConfig) => ({ stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups });
const convTOptsOf = (k: ConvTConfig) => ({ stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups, outputPadding: k.outputPadding });
const poolOptsOf = (k: PoolConfig) => ({ stride: k.stride, padding: k.padding });
const poolX = (k: PoolConfig) => [k.N, k.C, k.H, k.W];

/** Gradient samples of the convolution and pooling entries; their `attrs` are the configuration. */
export const CONV_GRAD_SAMPLES = {
  conv2d: (c: ConvConstraints = {}) =>
    gradConvConfig(c).map((k): GradSample<ConvConfig> => ({ shapes: [[k.N, k.C, k.H, k.W], [k.O, k.C / k.groups, k.KH, k.KW]], attrs: k })),
  conv2dFilterGrad: (c: ConvConstraints = {}) =>
    gradConvConfig(c).map((k): GradSample<ConvConfig> => ({ shapes: [[k.N, k.C, k.H, k.W], [k.N, k.O, k.Ho, k.Wo]], attrs: k })),
  convTranspose2d: (withOutputPadding = false, maxHW = 4) =>
    gradConvTConfig(withOutputPadding, maxHW).map((k): GradSample<ConvTConfig> => ({ shapes: [[k.N, k.Cin, k.H, k.W], [k.Cin, k.Og, k.KH, k.KW]], attrs: k })),
  maxPool2d: () => gradPoolConfig().map((k): GradSample<PoolConfig> => ({ shapes: [poolX(k)], attrs: k })),
  maxPool2dGather: () => gradPoolConfig().map((k): GradSample<PoolConfig> => ({ shapes: [poolX(k), poolX(k)], attrs: k })),
  maxPool2dScatter: () =>
    gradPoolConfig().map((k): GradSample<PoolConfig> => ({
      shapes: [poolX(k), [k.N, k.C, convOutSize(k.H, k.kernel[0], k.stride[0], k.padding[0], 1), convOutSize(k.W, k.kernel[1], k.stride[1], k.padding[1], 1)]],
      attrs: k,
    })),
  avgPool2d: () => gradPoolConfig().map((k): GradSample<PoolConfig> => ({ shapes: [poolX(k)], attrs: k })),
  upsampleNearest2d: () =>
    fc.tuple(gInt(1, 2), gInt(1, 2), gInt(1, 3), gInt(1, 3), gInt(1, 3), gInt(1, 3)).map(([N, C, H, W, sh, sw]): GradSample<{ scale: [number, number] }> => ({ shapes: [[N, C, H, W]], attrs: { scale: [sh, sw] } })),
};

/** Samples of a convolution / pooling entry: forward, gradient (default configuration), domains and call. */
function cv(name: keyof typeof CONV_SAMPLES, domains: GradDomain[], call: OpInfo['call']): Extra {
  const grd = (CONV_GRAD_SAMPLES as unknown as Record<string, () => fc.Arbitrary<GradSample>>)[name];
  return { samples: CONV_SAMPLES[name], gradSamples: () => grd(), grad: { domains }, call };
}
type Cfg = Record<string, unknown>;

// ------------------------------------------------------------------------------------------
// Selections: where and clip

/** Forward-suite sample generators of where and clip. */
export const SELECT_SAMPLES = {
  /** A condition of -1, 0, 1 (non-zero is true) and two operands, broadcast together. */
  where: (A: Arbitraries, o: SampleOptions) =>
    A.broadcastTriple(o.shape).chain(({ a, b, c, out }) =>
      fc.record({ c: A.hostTensorOf(c, (n) => A.smallInts(n, -1, 1)), a: A.hostTensorOf(a), b: A.hostTensorOf(b), out: fc.constant(out) }),
    ),
  /** Bounds on a 1/16 grid, lo <= hi (the values on a 1/64 grid: ties with the bounds occur). */
  clip: (A: Arbitraries, o: SampleOptions) =>
    fc.record({
      x: A.hostTensor(o.shape, (n) => A.floats(n, { gridBits: 6 })),
      lo: A.float({ min: -6, max: 0, gridBits: 4 }),
      width: A.float({ min: 0, max: 8, gridBits: 4 }),
    }),
};

/** The value type of a forward sample generator of SELECT_SAMPLES. */
export type SelectSample<K extends keyof typeof SELECT_SAMPLES> = ReturnType<(typeof SELECT_SAMPLES)[K]> extends fc.Arbitrary<infer V> ? V : never;

/** Gradient samples of where (broadcast shapes) and clip (number bounds on a 1/16 grid, x on the odd 1/32 grid: never at a bound). */
export const SELECT_GRAD_SAMPLES = {
  where: () => gradBroadcast(3).map((shapes): GradSample<Record<string, never>> => ({ shapes, attrs: {} })),
  clip: () => fc.tuple(gradShape(), gInt(-16, 0), gInt(1, 16)).map(([s, lo, hi]) => one(s, { lo: lo / 16, hi: hi / 16 })),
};

/** Samples of a movement / linalg entry; `call` only where the op takes its tensors then host attributes. */
function mv(name: string, call?: OpInfo['call']): Extra {
  const fwd = (MOVEMENT_SAMPLES as Record<string, OpInfo['samples']>)[name];
  const grd = (MOVEMENT_GRAD_SAMPLES as Record<string, OpInfo['gradSamples']>)[name];
  return { ...(fwd ? { samples: fwd } : {}), ...(grd ? { gradSamples: grd, grad: { domains: ['any', 'any', 'any'] } } : {}), ...(call ? { call } : {}) };
}

/**
 * Non-elementwise ops: specials, tolerance model, differentiability, and (where `extra` gives
 * them) forward samples, gradient samples and domains. Entries without samples still have
 * their input arbitraries in the suites.
 */
const other = (name: string, kind: OpKind, primitives: string[], specials: readonly number[], tol: ToleranceModel, differentiable: Differentiability, tolNote?: string, extra: Extra = {}): OpInfo => ({
  name, kind, primitives, specials, tol, grad: { differentiable, ...extra.grad }, ...(tolNote ? { tolNote } : {}), ...omitGrad(extra),
});
/** What an entry adds beyond the common fields: samples, and gradient domains (its differentiability is `other`'s). */
type Extra = Omit<Partial<OpInfo>, 'grad'> & { grad?: Partial<OpInfo['grad']> };
const omitGrad = ({ grad: _g, ...rest }: Extra): Partial<OpInfo> => rest;
/** Samples and gradient domain of a reduction-family entry. */
const red = (dom: GradDomain, samples: OpInfo['samples'] = reduceSamples(), gradSamples: OpInfo['gradSamples'] = reduceGradSamples): Extra => ({
  samples, gradSamples, grad: { domains: [dom] }, call: gradSamples === reduceGradSamples ? (t, a) => [...t, a.axes, a.keepDims] : (t, a) => [...t, a.axis],
});
const SUM_NOTE = 'any float32 summation order of n terms is within gamma(n - 1) sum|x| (blocked or not)';
const DOT_NOTE = 'a dot product of n terms: 2 gamma(n + 2) (|a| . |b|) per element';

// ------------------------------------------------------------------------------------------
// Normalization: the fused groupNorm

/** A groupNorm configuration: x [N, groups * Cg, ...spatial], optional gamma / beta [C]. */
export interface GroupNormConfig {
  xShape: number[];
  groups: number;
  eps: number;
  gamma: boolean;
  beta: boolean;
}

const groupNormConfig = (maxCg: number, maxSp: number, maxSpRank: number) =>
  fc.record({
    N: gInt(1, 2),
    groups: gInt(1, 3),
    Cg: gInt(1, maxCg),
    sp: fc.array(gInt(1, maxSp), { minLength: 0, maxLength: maxSpRank }),
    eps: fc.constantFrom(1e-5, 1e-3, 0.25),
    affine: fc.constantFrom('gb', 'g', 'b', ''),
  }).map(({ N, groups, Cg, sp, eps, affine }): GroupNormConfig => ({
    xShape: [N, groups * Cg, ...sp], groups, eps, gamma: affine.includes('g'), beta: affine.includes('b'),
  }));

/** Forward-suite samples of groupNorm: x (specials mixed in by the special-value pass), gamma, beta. */
export const NORM_SAMPLES = {
  groupNorm: (A: Arbitraries, o: SampleOptions) =>
    groupNormConfig(o.small ? 2 : 3, o.small ? 3 : 5, 2).chain((k) =>
      fc.record({
        k: fc.constant(k),
        x: A.hostTensorOf(k.xShape),
        // specials in x only: gamma = Inf times an h that is 0 in float64 but 1e-8 in float32 is NaN vs Inf
        gamma: plainHostTensorOf([k.xShape[1]]),
        beta: plainHostTensorOf([k.xShape[1]]),
      }),
    ),
};

/** The value type of NORM_SAMPLES.groupNorm. */
export type GroupNormSample = ReturnType<(typeof NORM_SAMPLES)['groupNorm']> extends fc.Arbitrary<infer V> ? V : never;

/**
 * Gradient samples of groupNorm: [x, gamma, beta] with at least 2 elements per group and
 * eps >= 1e-3 (a finite-difference check of 1 / sqrt(var + eps) near var = 0 needs eps).
 */
export const NORM_GRAD_SAMPLES = {
  groupNorm: () =>
    groupNormConfig(2, 3, 2)
      .filter((k) => k.xShape.slice(2).reduce((a, b) => a * b, 1) * (k.xShape[1] / k.groups) >= 2)
      .map((k): GradSample<{ groups: number; eps: number }> => ({
        shapes: [k.xShape, [k.xShape[1]], [k.xShape[1]]],
        attrs: { groups: k.groups, eps: Math.max(k.eps, 1e-3) },
      })),
};

const OTHER: OpInfo[] = [
  { name: 'where', kind: 'select', primitives: ['where'], values: [ints(-1, 1), f(), f()], specials: SPECIAL_VALUES, tol: 'exact', grad: { differentiable: 'smooth', domains: ['mask', 'any', 'any'], argnums: [1, 2] }, samples: SELECT_SAMPLES.where, gradSamples: SELECT_GRAD_SAMPLES.where, call: (t) => t },
  // clip(x, lo, hi) with number bounds (tensor bounds: a case of cases.ts)
  { name: 'clip', kind: 'select', primitives: ['maximum', 'minimum'], values: [f({ gridBits: 6 })], specials: SPECIAL_VALUES, tol: 'exact', grad: { differentiable: 'kinked', domains: ['odd'] }, samples: SELECT_SAMPLES.clip, gradSamples: SELECT_GRAD_SAMPLES.clip, call: (t, a) => [...t, a.lo, a.hi] },
  other('sum', 'reduction', ['sum'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', SUM_NOTE, red('any')),
  other('max', 'reduction', ['max'], SPECIAL_VALUES, 'exact', 'kinked', 'exact; ties share the cotangent equally', red('distinct', tiedReduceSamples)),
  other('min', 'reduction', ['min'], SPECIAL_VALUES, 'exact', 'kinked', 'exact; ties share the cotangent equally', red('distinct', tiedReduceSamples)),
  other('mean', 'reduction', ['sum', 'mul'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', 'the sum budget gamma(n + 3) sum|x| / n', red('any')),
  other('variance', 'reduction', ['sum', 'sub', 'square', 'mul'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', '4 gamma(n + 6) mean(x^2)', red('any')),
  other('logsumexp', 'reduction', ['max', 'sub', 'exp', 'sum', 'log', 'add'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', '(3 + 2 range) ulp + gamma(n) + 2^-21 + 3 ulp log n, plus 2 ulp relative', red('wide')),
  other('softmax', 'axis', ['max', 'sub', 'exp', 'sum', 'div'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', '(2 (3 + 2 range) + 3) ulp + gamma(n), relative', red('wide', axisSamples, axisGradSamples)),
  other('logSoftmax', 'axis', ['max', 'sub', 'exp', 'sum', 'log', 'add'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', "logsumexp's budget plus one rounding of each term", red('wide', axisSamples, axisGradSamples)),
  other('argmax', 'argReduction', ['argmax'], SPECIAL_VALUES, 'exact', 'zero', undefined, red('distinct', argSamples, axisGradSamples)),
  other('argmin', 'argReduction', ['argmin'], SPECIAL_VALUES, 'exact', 'zero', undefined, red('distinct', argSamples, axisGradSamples)),
  other('matmul', 'linalg', ['matmul'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', DOT_NOTE, mv('matmul', (t) => t)),
  other('transpose', 'movement', ['transpose'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('transpose', (t, a) => [...t, a.perm])),
  other('reshape', 'movement', ['reshape'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('reshape', (t, a) => [...t, a.target])),
  other('clone', 'movement', ['clone'], SPECIAL_VALUES, 'exact', 'smooth', undefined, { ...mv('clone', (t) => t), samples: MOVEMENT_SAMPLES.reshape }),
  other('expandDims', 'movement', ['reshape'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('expandDims', (t, a) => [...t, a.axis])),
  other('squeeze', 'movement', ['reshape'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('squeeze')),
  other('broadcastTo', 'movement', ['broadcastTo'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('broadcastTo', (t, a) => [...t, a.target])),
  other('slice', 'movement', ['slice'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('slice', (t, a) => [...t, a.begin, a.size, a.step])),
  other('concat', 'movement', ['concat'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('concat', (t, a) => [t, a.axis])),
  other('stack', 'movement', ['concat', 'reshape'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('stack', (t, a) => [t, a.axis])),
  other('pad', 'movement', ['pad'], SPECIAL_VALUES, 'exact', 'smooth', undefined, mv('pad', (t, a) => [...t, a.pads, a.value])),
  other('gather', 'movement', ['gather'], SPECIAL_VALUES, 'exact', 'smooth', 'exact; indices are not differentiable', mv('gather')),
  other('scatterAdd', 'movement', ['scatterAdd'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', 'gamma(#rows) sum|g|', mv('scatterAdd')),
  other('oneHot', 'creation', [], [], 'exact', 'none', 'indices only: no special values', mv('oneHot')),
  other('conv2d', 'conv', ['conv2d'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', DOT_NOTE + ', n = Cg KH KW; zero padding is multiplied', cv('conv2d', ['any', 'any'], (t, a) => [...t, convOptsOf(a as unknown as ConvConfig)])),
  other('convTranspose2d', 'conv', ['convTranspose2d'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', DOT_NOTE + ', n = Cin/groups KH KW; specials in x only (a non-finite weight is unspecified)', cv('convTranspose2d', ['any', 'any'], (t, a) => [...t, convTOptsOf(a as unknown as ConvTConfig)])),
  other('conv2dFilterGrad', 'conv', ['conv2dFilterGrad'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', DOT_NOTE + ', n = N Ho Wo', cv('conv2dFilterGrad', ['any', 'any'], (t, a: Cfg) => { const k = a as unknown as ConvConfig; return [...t, [k.O, k.C / k.groups, k.KH, k.KW], convOptsOf(k)]; })),
  other('maxPool2d', 'pool', ['maxPool2dGather'], SPECIAL_VALUES, 'exact', 'kinked', 'exact; the first maximum (or first NaN) of each window', cv('maxPool2d', ['distinct'], (t, a) => [...t, (a as unknown as PoolConfig).kernel, poolOptsOf(a as unknown as PoolConfig)])),
  other('maxPool2dGather', 'pool', ['maxPool2dGather'], SPECIAL_VALUES, 'exact', 'kinked', undefined, cv('maxPool2dGather', ['distinct', 'any'], (t, a) => [...t, (a as unknown as PoolConfig).kernel, poolOptsOf(a as unknown as PoolConfig)])),
  other('maxPool2dScatter', 'pool', ['maxPool2dScatter'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', 'KH KW gradients may meet at one pixel', cv('maxPool2dScatter', ['distinct', 'any'], (t, a) => [...t, (a as unknown as PoolConfig).kernel, poolOptsOf(a as unknown as PoolConfig)])),
  other('avgPool2d', 'pool', ['conv2d'], SPECIALS_ACCUMULATING, 'reduction', 'smooth', 'KH KW terms plus the rounding of 1 / (KH KW)', cv('avgPool2d', ['any'], (t, a) => [...t, (a as unknown as PoolConfig).kernel, poolOptsOf(a as unknown as PoolConfig)])),
  // groupNorm's VJP is the primitives groupNormGrad / groupNormParamGrad (recorded by derivatives of order 2+)
  other('groupNorm', 'axis', ['groupNorm', 'groupNormGrad', 'groupNormParamGrad'], SPECIALS_ACCUMULATING, 'reduction', 'smooth',
    'statistics are blocked sums of ~HW/4 + Cg terms; the float32 mean is off by ~ulp(max|x|), which rstd scales', {
      samples: NORM_SAMPLES.groupNorm,
      gradSamples: NORM_GRAD_SAMPLES.groupNorm,
      grad: { domains: ['any', 'any', 'any'] },
      call: (t, a) => [t[0], a.groups, { gamma: t[1], beta: t[2], eps: a.eps }],
    }),
  other('upsampleNearest2d', 'pool', ['reshape', 'broadcastTo'], SPECIAL_VALUES, 'exact', 'smooth', undefined, cv('upsampleNearest2d', ['any'], (t, a) => [...t, a.scale])),
];

/** Every entry of the database. */
export const OP_DB: readonly OpInfo[] = [...UNARY, ...BINARY, ...OTHER];

const byName = new Map(OP_DB.map((o) => [o.name, o]));

/** The entry of a public op; throws (naming the known ops) for an unknown name. */
export function opInfo(name: string): OpInfo {
  const o = byName.get(name);
  if (!o) throw new Error(`opInfo: no entry '${name}'; expected one of ${[...byName.keys()].join(', ')}`);
  return o;
}

/** Entries of one kind (e.g. every unary op). */
export const opsOfKind = (kind: OpKind): OpInfo[] => OP_DB.filter((o) => o.kind === kind);

/** The special values of an op's special-value pass ([] for unknown names). */
export const specialsOf = (name: string): readonly number[] => byName.get(name)?.specials ?? SPECIAL_VALUES;
