// The conformance suite of @tapegrad/tensor: one property per public op, run on a gpu.js
// backend and compared with the float64 'reference' backend (an independent
// implementation: ndarray loops in backends/reference.ts, no gpu.js code).
//
// Every property draws shapes, values and attributes, computes the op on the backend under
// test and on 'reference' from the *same* float32-exact inputs, and checks
//   1. the output shape equals a shape computed here, independently of the library;
//   2. the values agree: exactly for ops that only move or compare float32 numbers, and
//      within |got - want| <= atol + rtol * |want| + extra otherwise, where the budget of
//      each op family is stated next to it (float32: unit roundoff u = 2^-24, one ulp at 1
//      is 2^-23; gamma(n) = n u / (1 - n u) is the classic bound on n float32 roundings);
//   3. for composites whose reference value also comes from library code (mean, variance,
//      logsumexp, softmax, slice normalisation, oneHot, avgPool, upsample) the reference
//      agrees with a plain-JS float64 computation written here.
// Every op's inputs (its entry's `values` / `samples`: host tensors plus attributes), and the
// elementwise ops' budgets and special values, come from the op database
// (@tapegrad/tensor/testing OP_DB); the expected values and budgets of the other ops are
// computed here. A coverage test checks every entry has a property here and its inputs there.
// Long reductions run as fixed cases past 1024 and 4096 elements for every reducing op (a
// gpu.js loop cap left at its default 1000 fails them every run) and as a property.
// A deterministic test then checks IEEE special values (poles, overflow, +-Infinity inputs
// such as attention masks, NaN propagation and the limits of README "Special values"), and
// a second pass reruns every property with special values mixed into the generated inputs
// (`specialArbs`). The last test of the first pass asserts that every gpu.js kernel the suite
// built is of the backend's mode with no fallback (it relies on the earlier tests having
// built them, so run the suite whole rather than filtering to that test).
// Seeds and run counts: FC_SEED / FC_RUNS_SCALE (@tapegrad/tensor/testing propertyConfig).
// Set TAPEGRAD_TOL_REPORT=1 to print, per op, the largest |error| / allowance observed.

import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import * as A from '@tapegrad/tensor/testing';
import type { HostTensor } from '@tapegrad/tensor/testing';

export type SuiteBackend = 'webasm' | 'cpu' | 'webgpu';

export interface SuiteOptions {
  /** Largest number of elements of a generated operand. */
  maxSize: number;
  /** fast-check runs per property. */
  numRuns: number;
  /** fast-check runs per property of the special-value pass (default max(10, numRuns / 2)). */
  specialRuns?: number;
  /** When set, every test is registered as skipped and this reason is printed in the title. */
  skip?: string;
}

// ------------------------------------------------------------------------------------------
// Float32 error model

const U = 2 ** -24; // unit roundoff of float32
const ULP = 2 ** -23; // spacing of float32 numbers in [1, 2)
const gamma = (n: number) => (n * U) / (1 - n * U);

/**
 * Allowed error: atol + rtol * |want| + extra[i]. `extra` carries per-element budgets that
 * depend on the inputs (e.g. 2 gamma(n) sum|terms| for sums of n terms).
 */
interface Tol {
  atol?: number;
  rtol?: number;
  extra?: ArrayLike<number>;
}

interface Out {
  shape: number[];
  data: Float64Array;
}

const worst = new Map<string, number>();

// ------------------------------------------------------------------------------------------
// IEEE special values mixed into generated inputs

type Arbs = typeof A;
/** The property being run (set by propCase), so the special-value mix can depend on the op. */
let currentOp = '';
/** The arbitraries module with `hostTensor` / `hostTensorOf` mixing in specialsFor(currentOp). */
function specialArbs(): Arbs {
  const wrap = (values: (n: number) => fc.Arbitrary<Float32Array> = (n) => A.floats(n)) => (n: number) =>
    fc.constant(null).chain(() => A.withSpecials(values(n), A.specialsOf(currentOp)));
  return {
    ...A,
    hostTensorOf: (s, values) => A.hostTensorOf(s, wrap(values)),
    hostTensor: (o, values) => A.hostTensor(o, wrap(values)),
  };
}

/** The smallest positive normal float32: subnormal results may flush to zero on GPUs. */
const FLT_MIN = 2 ** -126;

function fmt(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

function multiIndex(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = shape[k] === 0 ? 0 : i % shape[k];
    i = shape[k] === 0 ? 0 : Math.floor(i / shape[k]);
  }
  return idx;
}

function describeInputs(inputs: HostTensor[]): string {
  return inputs.map((h) => `${fmt(h.shape)} ${JSON.stringify(Array.from(h.data.slice(0, 12)))}${h.data.length > 12 ? '...' : ''}`).join('; ');
}

/**
 * Elementwise comparison; throws a descriptive Error on the first violation. NaN must meet
 * NaN. With `special` (inputs hold special values): a non-finite value on either side must
 * equal the float32 rounding of the reference exactly (+-Inf, float32 overflow included);
 * finite values differing by at most FLT_MIN pass (flush of subnormals); otherwise the
 * op's budget applies, and where that budget is itself not finite (computed from
 * non-finite inputs) any finite value passes.
 */
function compare(what: string, got: Out, want: ArrayLike<number>, tol: Tol | 'exact', inputs: HostTensor[], special = false): void {
  let ratio = 0;
  for (let i = 0; i < got.data.length; i++) {
    const g = got.data[i];
    const w = want[i];
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) && Number.isNaN(w)) continue;
      throw new Error(`${what}: element ${i} (index ${fmt(multiIndex(i, got.shape))} of ${fmt(got.shape)}) is ${g}, expected ${w}\n  inputs: ${describeInputs(inputs)}`);
    }
    if (special) {
      const wf = Math.fround(w);
      if (!Number.isFinite(g) || !Number.isFinite(wf)) {
        if (g === wf) continue;
        throw new Error(`${what}: element ${i} (index ${fmt(multiIndex(i, got.shape))} of ${fmt(got.shape)}) is ${g}, expected ${wf}\n  inputs: ${describeInputs(inputs)}`);
      }
      if (Math.abs(g - w) <= FLT_MIN) continue;
      if (tol !== 'exact') {
        const allowed = (tol.atol ?? 0) + (tol.rtol ?? 0) * Math.abs(w) + (tol.extra ? tol.extra[i] : 0);
        if (!Number.isFinite(allowed)) continue;
      }
    }
    if (tol === 'exact') {
      if (g !== Math.fround(w)) {
        throw new Error(`${what}: element ${i} (index ${fmt(multiIndex(i, got.shape))} of ${fmt(got.shape)}) is ${g}, expected exactly ${Math.fround(w)}\n  inputs: ${describeInputs(inputs)}`);
      }
      continue;
    }
    if (g === w || g === Math.fround(w)) continue; // also equal infinities, and float32 overflow / underflow
    const allowed = (tol.atol ?? 0) + (tol.rtol ?? 0) * Math.abs(w) + (tol.extra ? tol.extra[i] : 0);
    const err = Math.abs(g - w);
    if (!(err <= allowed)) {
      throw new Error(
        `${what}: element ${i} (index ${fmt(multiIndex(i, got.shape))} of ${fmt(got.shape)}) is ${g}, expected ${w}: ` +
          `|error| ${err.toExponential(3)} > allowed ${allowed.toExponential(3)}\n  inputs: ${describeInputs(inputs)}`,
      );
    }
    if (allowed > 0) ratio = Math.max(ratio, err / allowed);
  }
  const key = what.split(/[( ]/)[0];
  worst.set(key, Math.max(worst.get(key) ?? 0, ratio));
}

// ------------------------------------------------------------------------------------------
// Running an op on a backend

type OpFn = (...ts: T.Tensor[]) => T.Tensor;

/** Upload `inputs` to `backend`, apply `f` there, read the result back; disposes everything. */
async function runOn(backend: T.BackendName, inputs: HostTensor[], f: OpFn): Promise<Out> {
  const t = T.useBackend(backend, () => T.tidy(() => f(...inputs.map((h) => T.tensor(h.data, h.shape)))));
  try {
    if (t.backend !== backend) throw new Error(`the result lives on backend '${t.backend}', expected '${backend}'`);
    const data = await t.data();
    if (data.length !== t.size) throw new Error(`data() returned ${data.length} values for shape ${fmt(t.shape)}`);
    return { shape: t.shape.slice(), data: Float64Array.from(data) };
  } finally {
    t.dispose();
  }
}

const absHost = (h: HostTensor): HostTensor => ({ shape: h.shape, data: h.data.map(Math.abs) });

/** Per-element 2 gamma(n) S, S = f applied on the reference backend to |inputs| (sum of |terms|). */
async function dotBudget(n: number, absInputs: HostTensor[], f: OpFn): Promise<Float64Array> {
  const s = await runOn('reference', absInputs, f);
  const g = 2 * gamma(n + 2);
  return s.data.map((v) => g * v);
}

interface Case {
  /** Name shown in failures (op plus attributes). */
  what: string;
  inputs: HostTensor[];
  f: OpFn;
  /** The expected output shape, computed by the test. */
  out: readonly number[];
  tol: Tol | 'exact' | ((want: Out) => Tol);
  /** Independent plain-JS float64 values the reference result must match (1e-12 relative). */
  js?: ArrayLike<number>;
}

function checkShape(what: string, backend: string, got: Out, expected: readonly number[]): void {
  if (got.shape.length !== expected.length || got.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${what}: output shape on ${backend} is ${fmt(got.shape)}, expected ${fmt(expected)}`);
  }
}

// ------------------------------------------------------------------------------------------
// Plain-JS float64 helpers (second oracle for composites)

const stridesOf = (s: readonly number[]) => {
  const st = new Array<number>(s.length);
  let p = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = p;
    p *= s[i];
  }
  return st;
};

function normAxes(ax: number | number[] | undefined, rank: number): number[] {
  if (ax === undefined) return A.iota(rank);
  const l = typeof ax === 'number' ? [ax] : ax;
  return l.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
}

function reducedShape(shape: readonly number[], axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Group the values of `h` by output position of a reduction over `axes` (row-major output order). */
function groups(h: HostTensor, axes: number[]): number[][] {
  const outShape = h.shape.filter((_, i) => !axes.includes(i));
  const outSt = stridesOf(outShape);
  const res: number[][] = Array.from({ length: A.sizeOfShape(outShape) }, () => []);
  for (let i = 0; i < h.data.length; i++) {
    const idx = multiIndex(i, h.shape);
    let o = 0;
    for (let d = 0, k = 0; d < idx.length; d++) if (!axes.includes(d)) o += idx[d] * outSt[k++];
    res[o].push(h.data[i]);
  }
  return res;
}

/** f applied along one axis, returning a tensor of the input's shape. */
function alongAxis(h: HostTensor, axis: number, f: (v: number[]) => number[]): Float64Array {
  const out = new Float64Array(h.data.length);
  const st = stridesOf(h.shape);
  const n = h.shape[axis];
  for (let i = 0; i < h.data.length; i++) {
    const idx = multiIndex(i, h.shape);
    if (idx[axis] !== 0) continue;
    const pos = A.iota(n).map((r) => i + r * st[axis]);
    const r = f(pos.map((p) => h.data[p]));
    pos.forEach((p, k) => (out[p] = r[k]));
  }
  return out;
}

const lse64 = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
};

// ------------------------------------------------------------------------------------------
// The suite

export function opSuite(backend: SuiteBackend, opts: SuiteOptions): void {
  const { maxSize, numRuns } = opts;
  const specialRuns = opts.specialRuns ?? Math.max(10, Math.ceil(numRuns / 2));
  const small = maxSize <= 64;
  const title = opts.skip ? `ops on ${backend} (SKIPPED: ${opts.skip})` : `ops on ${backend} vs reference`;
  const suite = opts.skip ? describe.skip : describe;

  /**
   * Run a case on the backend and the reference and compare. With special values mixed into
   * the inputs the plain-JS second oracles (written for finite data) are not consulted and
   * the comparison follows `compare`'s special-value rules.
   */
  async function checkCase(c: Case, special: boolean): Promise<void> {
    const what = `${c.what} on ${backend}`;
    const want = await runOn('reference', c.inputs, c.f);
    const got = await runOn(backend, c.inputs, c.f);
    checkShape(c.what, 'reference', want, c.out);
    checkShape(c.what, backend, got, c.out);
    if (c.js && !special) compare(`${c.what} (reference vs plain JS)`, want, c.js, { rtol: 1e-12, atol: 1e-12 }, c.inputs);
    const tol = typeof c.tol === 'function' ? c.tol(want) : c.tol;
    compare(what, got, want.data, tol, c.inputs, special);
  }

  function propCase<V>(name: string, arb: fc.Arbitrary<V>, body: (v: V) => Promise<void>, runs: number, special: boolean): void {
    it(name, async () => {
      currentOp = name;
      await fc.assert(fc.asyncProperty(arb, body), A.fcParams(runs));
    });
  }

  const shapeOpts: A.ShapeOptions = { maxSize, maxDim: small ? 3 : 4 };
  const convOpts: A.ConvOptions = small
    ? { maxBatch: 1, maxGroups: 2, maxChannelsPerGroup: 2, maxExtent: 2 }
    : { maxBatch: 2, maxGroups: 3, maxChannelsPerGroup: 3, maxExtent: 4 };
  const sampleOpts: A.SampleOptions = { shape: shapeOpts, conv: convOpts, small };

  /**
   * Register one property per op. `A` is the arbitraries module, or (special = true) a
   * wrapper of it that mixes IEEE special values into every generated tensor.
   */
  const registered = new Set<string>();
  function registerOps(A: Arbs, special: boolean): void {
    const check = (c: Case) => checkCase(c, special);
    /** The op database entry's forward samples, drawn through this pass's arbitraries. */
    const samplesOf = <S>(op: string): fc.Arbitrary<S> => {
      const gen = A.opInfo(op).samples;
      if (!gen) throw new Error(`opSuite: the op database entry '${op}' has no samples`);
      return gen(A, sampleOpts) as fc.Arbitrary<S>;
    };
    const mvSamples = <K extends keyof typeof A.MOVEMENT_SAMPLES>(op: K) => samplesOf<A.MovementSample<K>>(op);
    const cvSamples = <K extends keyof typeof A.CONV_SAMPLES>(op: K) => samplesOf<A.ConvSample<K>>(op);
    const prop = <V>(name: string, arb: fc.Arbitrary<V>, body: (v: V) => Promise<void>, runs = special ? specialRuns : numRuns) => {
      for (const n of name.split(' / ')) registered.add(n); // 'reshape / flatten / clone' covers three
      propCase(name, arb, body, runs, special);
    };

    // ---------------------------------------------------------------- unary elementwise
    //
    // Input values, tolerance model and special values of each elementwise op come from the
    // op database (@tapegrad/tensor/testing OP_DB, see its comments for the budgets).
    // Negative inputs for the positive-domain ops are their own definitions (NaN): the
    // special-value pass covers them.
    for (const info of A.opsOfKind('unary')) {
      const op = info.name;
      const tolf = info.tol;
      prop(op, samplesOf<HostTensor>(op), async (x) => {
        const f = (T as unknown as Record<string, (t: T.Tensor) => T.Tensor>)[op];
        await check({
          what: `${op}(${fmt(x.shape)})`,
          inputs: [x],
          f: (t) => f(t),
          out: x.shape,
          tol: typeof tolf !== 'function' ? 'exact' : (want) => ({ extra: want.data.map((y, i) => tolf([x.data[i]], y)) }),
        });
      });
    }

    // ---------------------------------------------------------------- binary elementwise
    // (maximum, minimum and the comparisons draw small integers: ties are common)
    for (const info of A.opsOfKind('binary')) {
      const op = info.name;
      const tolf = info.tol;
      const arb = samplesOf<A.BinarySample>(op).filter(({ a, b }) => {
        if (op !== 'pow' || special) return true; // with specials: NaN results are compared too
        // real results only: negative bases need integer exponents (0^negative is +-Infinity: allowed)
        const bs = broadcastPairs(a, b);
        return bs.every(([x, y]) => x >= 0 || Number.isInteger(y));
      });
      // closed form of the selections and comparisons (exact), a second oracle next to the reference
      const closed: Record<string, (x: number, y: number) => number> = {
        maximum: (x, y) => Math.max(x, y), minimum: (x, y) => Math.min(x, y), greater: (x, y) => +(x > y), greaterEqual: (x, y) => +(x >= y),
        less: (x, y) => +(x < y), lessEqual: (x, y) => +(x <= y), equal: (x, y) => +(x === y), notEqual: (x, y) => +(x !== y),
      };
      prop(op, arb, async ({ a, b, out, aNum, bNum }) => {
        const f = (T as unknown as Record<string, (x: T.TensorLike, y: T.TensorLike) => T.Tensor>)[op];
        const useA = aNum && a.shape.length === 0 && !(bNum && b.shape.length === 0);
        const useB = bNum && b.shape.length === 0 && !useA;
        const pairs = broadcastPairs(a, b);
        await check({
          what: `${op}(${useA ? a.data[0] : fmt(a.shape)}, ${useB ? b.data[0] : fmt(b.shape)})`,
          inputs: [a, b],
          f: (ta, tb) => f(useA ? a.data[0] : ta, useB ? b.data[0] : tb),
          out,
          tol: typeof tolf !== 'function' ? 'exact' : (want) => ({ extra: want.data.map((z, i) => tolf(pairs[i], z)) }),
          ...(closed[op] ? { js: pairs.map(([x, y]) => closed[op](x, y)) } : {}),
        });
      });
    }

    prop(
      'where',
      samplesOf<A.SelectSample<'where'>>('where'),
      async ({ c, a, b, out }) => {
        await check({ what: `where(${fmt(c.shape)}, ${fmt(a.shape)}, ${fmt(b.shape)})`, inputs: [c, a, b], f: (tc, ta, tb) => T.where(tc, ta, tb), out, tol: 'exact' });
      },
    );

    prop(
      'clip',
      samplesOf<A.SelectSample<'clip'>>('clip'),
      async ({ x, lo, width }) => {
        const hi = lo + width;
        await check({ what: `clip(${fmt(x.shape)}, ${lo}, ${hi})`, inputs: [x], f: (t) => T.clip(t, lo, hi), out: x.shape, tol: 'exact', js: x.data.map((v) => Math.min(Math.max(v, lo), hi)) });
      },
    );

    // ---------------------------------------------------------------- reductions
    // (inputs and attributes: the op database's samples, `samplesOf`)
    const reduceArb = (op: string) => samplesOf<A.ReduceSample>(op);
    const reduceCase = (x: HostTensor, axes: number | number[] | undefined) => {
      const ax = normAxes(axes, x.shape.length);
      const n = ax.reduce((p, a) => p * x.shape[a], 1);
      return { ax, n, grp: groups(x, ax) };
    };

    // sum: any float32 summation order of n terms is within gamma(n-1) sum|x| (blocked or not)
    prop('sum', reduceArb('sum'), async ({ x, axes, keepDims }) => {
      const { ax, n, grp } = reduceCase(x, axes);
      await check({
        what: `sum(${fmt(x.shape)}, ${JSON.stringify(axes)}, keepDims=${keepDims})`,
        inputs: [x],
        f: (t) => T.sum(t, axes, keepDims),
        out: reducedShape(x.shape, ax, keepDims),
        tol: { extra: grp.map((g) => 2 * gamma(n + 1) * g.reduce((s, v) => s + Math.abs(v), 0)) },
        js: grp.map((g) => g.reduce((s, v) => s + v, 0)),
      });
    });
    // max / min: half the draws are small integers, so ties of the extremum are common
    for (const op of ['max', 'min'] as const) {
      prop(op, reduceArb(op), async ({ x, axes, keepDims }) => {
        const { ax, grp } = reduceCase(x, axes);
        await check({
          what: `${op}(${fmt(x.shape)}, ${JSON.stringify(axes)}, keepDims=${keepDims})`,
          inputs: [x],
          f: (t) => T[op](t, axes, keepDims),
          out: reducedShape(x.shape, ax, keepDims),
          tol: 'exact',
          js: grp.map((g) => (op === 'max' ? Math.max(...g) : Math.min(...g))),
        });
      });
    }
    // mean = sum * (1/n): the sum's gamma(n) plus two roundings
    prop('mean', reduceArb('mean'), async ({ x, axes, keepDims }) => {
      const { ax, n, grp } = reduceCase(x, axes);
      await check({
        what: `mean(${fmt(x.shape)}, ${JSON.stringify(axes)}, keepDims=${keepDims})`,
        inputs: [x],
        f: (t) => T.mean(t, axes, keepDims),
        out: reducedShape(x.shape, ax, keepDims),
        tol: { extra: grp.map((g) => (2 * gamma(n + 3) * g.reduce((s, v) => s + Math.abs(v), 0)) / n) },
        js: grp.map((g) => g.reduce((s, v) => s + v, 0) / n),
      });
    });
    // variance = mean((x - mean)^2): the rounding of the centre cancels to first order; the
    // remaining roundings are bounded by gamma(n + 6) mean(x^2), doubled
    prop('variance', reduceArb('variance'), async ({ x, axes, keepDims }) => {
      const { ax, n, grp } = reduceCase(x, axes);
      await check({
        what: `variance(${fmt(x.shape)}, ${JSON.stringify(axes)}, keepDims=${keepDims})`,
        inputs: [x],
        f: (t) => T.variance(t, axes, keepDims),
        out: reducedShape(x.shape, ax, keepDims),
        tol: { extra: grp.map((g) => (4 * gamma(n + 6) * g.reduce((s, v) => s + v * v, 0)) / n) },
        js: grp.map((g) => {
          const m = g.reduce((s, v) => s + v, 0) / n;
          return g.reduce((s, v) => s + (v - m) ** 2, 0) / n;
        }),
      });
    });
    // logsumexp = m + log(sum exp(x - m)): exp's (3 + 2 range) ulp and gamma(n) on the sum
    // become absolute errors after the log (sum >= 1), plus log's 2^-21 and the final add
    const lseTol = (g: number[], n: number) => {
      const range = Math.max(...g) - Math.min(...g);
      return (3 + 2 * range) * ULP + gamma(n) + 2 ** -21 + 3 * ULP * Math.log(n);
    };
    prop('logsumexp', reduceArb('logsumexp'), async ({ x, axes, keepDims }) => {
      const { ax, n, grp } = reduceCase(x, axes);
      await check({
        what: `logsumexp(${fmt(x.shape)}, ${JSON.stringify(axes)}, keepDims=${keepDims})`,
        inputs: [x],
        f: (t) => T.logsumexp(t, axes, keepDims),
        out: reducedShape(x.shape, ax, keepDims),
        tol: { rtol: 2 * ULP, extra: grp.map((g) => lseTol(g, n)) },
        js: grp.map(lse64),
      });
    });

    const axisTol = (x: HostTensor, axis: number, f: (g: number[]) => number) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      return alongAxis(x, a, (v) => v.map(() => f(v)));
    };
    // softmax: relative error of exp (twice: the element and the largest term of the sum),
    // gamma(n) of the sum, one division
    prop('softmax', samplesOf<A.AxisSample>('softmax'), async ({ x, axis }) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      const n = x.shape[a];
      const rel = axisTol(x, axis, (g) => (2 * (3 + 2 * (Math.max(...g) - Math.min(...g))) + 3) * ULP + gamma(n));
      await check({
        what: `softmax(${fmt(x.shape)}, ${axis})`,
        inputs: [x],
        f: (t) => T.softmax(t, axis),
        out: x.shape,
        tol: (want) => ({ atol: 1e-30, extra: want.data.map((y, i) => rel[i] * Math.abs(y)) }),
        js: alongAxis(x, a, (v) => {
          const l = lse64(v);
          return v.map((u) => Math.exp(u - l));
        }),
      });
    });
    // logSoftmax = x - logsumexp: logsumexp's budget plus one rounding of each term
    prop('logSoftmax', samplesOf<A.AxisSample>('logSoftmax'), async ({ x, axis }) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      const lt = axisTol(x, axis, (g) => lseTol(g, x.shape[a]) + 2 * ULP * Math.abs(lse64(g)));
      await check({
        what: `logSoftmax(${fmt(x.shape)}, ${axis})`,
        inputs: [x],
        f: (t) => T.logSoftmax(t, axis),
        out: x.shape,
        tol: { rtol: 2 * ULP, extra: Float64Array.from(lt, (v, i) => v + 2 * ULP * Math.abs(x.data[i])) },
        js: alongAxis(x, a, (v) => {
          const l = lse64(v);
          return v.map((u) => u - l);
        }),
      });
    });

    // argmax / argmin: small integer values make ties common; the documented answer is the
    // first extreme index, so the result is exact.
    for (const op of ['argmax', 'argmin'] as const) {
      prop(
        op,
        samplesOf<A.ArgSample>(op),
        async ({ x, axis, keepDims }) => {
          const flat: HostTensor = { shape: [x.data.length], data: x.data };
          const a = axis === undefined ? 0 : axis < 0 ? axis + x.shape.length : axis;
          const src = axis === undefined ? flat : x;
          const grp = groups(src, [a]);
          const pick = (g: number[]) => g.indexOf(op === 'argmax' ? Math.max(...g) : Math.min(...g));
          await check({
            what: `${op}(${fmt(x.shape)}, ${axis}, keepDims=${keepDims})`,
            inputs: [x],
            f: (t) => T[op](t, axis, keepDims),
            // NumPy: over the flattened tensor, keepdims keeps the rank as ones
            out: axis === undefined ? (keepDims ? x.shape.map(() => 1) : []) : reducedShape(x.shape, [a], keepDims),
            tol: 'exact',
            js: grp.map(pick),
          });
        },
      );
    }

    // Long reductions. gpu.js caps every argument-bounded loop at loopMaxIterations (default
    // 1000, raised by gpujs.ts); the sum kernel works in blocks of 256, every other reduction
    // loops over the whole axis. First one fixed case per reducing op at lengths past 1024 and
    // past 4096 (so a cap left at 1000 fails every run), then a property over 200..5000.
    const lcg = (seed: number) => {
      let st = seed >>> 0;
      return () => ((st = (Math.imul(st, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    };
    type LongOp = 'sum' | 'mean' | 'max' | 'min' | 'variance' | 'logsumexp' | 'argmax' | 'argmin' | 'softmax' | 'logSoftmax' | 'matmul' | 'conv2d' | 'conv2dFilterGrad' | 'scatterAdd';
    const LONG_OPS: LongOp[] = ['sum', 'mean', 'max', 'min', 'variance', 'logsumexp', 'argmax', 'argmin', 'softmax', 'logSoftmax', 'matmul', 'conv2d', 'conv2dFilterGrad', 'scatterAdd'];
    /** One long case: the reduced length is R (axis length, inner dimension, taps or rows). */
    async function longCase(which: LongOp, R: number, outer: number, inner: number, seed: number, plant = false): Promise<void> {
      const next = lcg(seed);
      const host = (shape: number[]): HostTensor => ({ shape, data: Float32Array.from({ length: A.sizeOfShape(shape) }, next) });
      if (which === 'matmul') {
        // the k loop is unrolled by 4: K / 4 iterations
        const a = host([2, R]);
        const b = host([R, 3]);
        const extra = await dotBudget(R, [absHost(a), absHost(b)], (x, y) => T.matmul(x, y));
        await check({ what: `matmul([2,${R}], [${R},3])`, inputs: [a, b], f: (x, y) => T.matmul(x, y), out: [2, 3], tol: { extra } });
        return;
      }
      if (which === 'conv2d') {
        // R input channels of a 1x1 kernel: the channel loop runs R times
        const x = host([1, R, 1, 2]);
        const w = host([2, R, 1, 1]);
        const f: OpFn = (tx, tw) => T.conv2d(tx, tw);
        const extra = await dotBudget(R, [absHost(x), absHost(w)], f);
        await check({ what: `conv2d(x [1,${R},1,2], w [2,${R},1,1])`, inputs: [x, w], f, out: [1, 2, 1, 2], tol: { extra } });
        return;
      }
      if (which === 'conv2dFilterGrad') {
        // R output columns: the x loop runs R times
        const x = host([1, 1, 1, R]);
        const dy = host([1, 2, 1, R]);
        const f: OpFn = (tx, td) => T.conv2dFilterGrad(tx, td, [2, 1, 1, 1]);
        const extra = await dotBudget(R, [absHost(x), absHost(dy)], f);
        await check({ what: `conv2dFilterGrad(x [1,1,1,${R}], dy [1,2,1,${R}])`, inputs: [x, dy], f, out: [2, 1, 1, 1], tol: { extra } });
        return;
      }
      if (which === 'scatterAdd') {
        // R rows scattered into 3: the row loop runs R times
        const g = host([R, 2]);
        const idx: HostTensor = { shape: [R], data: Float32Array.from({ length: R }, (_, i) => (i * 7) % 3) };
        const f: OpFn = (tg, ti) => T.scatterAdd(tg, ti, 0, 3);
        const extra = await dotBudget(R, [absHost(g), idx], f);
        await check({ what: `scatterAdd([${R},2] into 3 rows)`, inputs: [g, idx], f, out: [3, 2], tol: { extra } });
        return;
      }
      const x = host([outer, R, inner]);
      if (plant) {
        // the extremes of every slice near its end, past any loop cap below R - 11
        for (let o = 0; o < outer; o++)
          for (let n = 0; n < inner; n++) {
            x.data[(o * R + R - 7) * inner + n] = 1.5;
            x.data[(o * R + R - 11) * inner + n] = -1.5;
          }
      }
      const grp = groups(x, [1]);
      const sumAbs = grp.map((g) => g.reduce((acc, v) => acc + Math.abs(v), 0));
      const what = `${which}([${outer},${R},${inner}], 1)`;
      switch (which) {
        case 'max': case 'min': case 'argmax': case 'argmin': {
          const ext = (g: number[]) => (which === 'max' || which === 'argmax' ? Math.max(...g) : Math.min(...g));
          const js = which === 'max' || which === 'min' ? grp.map(ext) : grp.map((g) => g.indexOf(ext(g)));
          await check({ what, inputs: [x], f: (t) => T[which](t, 1), out: [outer, inner], tol: 'exact', js });
          return;
        }
        case 'sum': case 'mean': {
          const d = which === 'mean' ? R : 1;
          await check({ what, inputs: [x], f: (t) => T[which](t, 1), out: [outer, inner], tol: { extra: sumAbs.map((v) => (2 * gamma(R + 3) * v) / d) }, js: grp.map((g) => g.reduce((a, v) => a + v, 0) / d) });
          return;
        }
        case 'variance': {
          const js = grp.map((g) => {
            const m = g.reduce((a, v) => a + v, 0) / R;
            return g.reduce((a, v) => a + (v - m) ** 2, 0) / R;
          });
          await check({ what, inputs: [x], f: (t) => T.variance(t, 1), out: [outer, inner], tol: { extra: grp.map((g) => (4 * gamma(R + 6) * g.reduce((a, v) => a + v * v, 0)) / R) }, js });
          return;
        }
        case 'logsumexp':
          await check({ what, inputs: [x], f: (t) => T.logsumexp(t, 1), out: [outer, inner], tol: { rtol: 2 * ULP, extra: grp.map((g) => lseTol(g, R)) }, js: grp.map(lse64) });
          return;
        case 'softmax': {
          const rel = axisTol(x, 1, (g) => (2 * (3 + 2 * (Math.max(...g) - Math.min(...g))) + 3) * ULP + gamma(R));
          const js = alongAxis(x, 1, (v) => {
            const l = lse64(v);
            return v.map((u) => Math.exp(u - l));
          });
          await check({ what, inputs: [x], f: (t) => T.softmax(t, 1), out: x.shape, tol: (want) => ({ atol: 1e-30, extra: want.data.map((y, i) => rel[i] * Math.abs(y)) }), js });
          return;
        }
        case 'logSoftmax': {
          const lt = axisTol(x, 1, (g) => lseTol(g, R) + 2 * ULP * Math.abs(lse64(g)));
          const js = alongAxis(x, 1, (v) => {
            const l = lse64(v);
            return v.map((u) => u - l);
          });
          await check({ what, inputs: [x], f: (t) => T.logSoftmax(t, 1), out: x.shape, tol: { rtol: 2 * ULP, extra: Float64Array.from(lt, (v, i) => v + 2 * ULP * Math.abs(x.data[i])) }, js });
          return;
        }
      }
    }
    if (!special) {
      for (const R of [1100, 4200]) {
        it(`long reductions past ${R > 4096 ? 4096 : 1024} elements: ${LONG_OPS.join(', ')} (length ${R})`, async () => {
          const failures: string[] = [];
          for (const [k, which] of LONG_OPS.entries()) {
            // matmul's k loop runs K / 4 times: give it 4R
            const len = which === 'matmul' ? 4 * R : R;
            await longCase(which, len, 1, 2, 1000 * R + k, true).catch((e: Error) => failures.push(e.message.split('\n')[0]));
          }
          expect(failures).toEqual([]);
        });
      }
    }
    if (!special) prop(
      'long reductions (every reducing op over 200..5000 elements; matmul K up to 20000)',
      fc.record({
        outer: fc.integer({ min: 1, max: 2 }),
        R: fc.integer({ min: 200, max: 5000 }),
        inner: fc.integer({ min: 1, max: 2 }),
        which: fc.constantFrom(...LONG_OPS),
        seed: fc.integer(),
      }),
      // deterministic pseudo-random data from the drawn seed (fast-check arrays of 5000 are slow to shrink)
      ({ outer, R, inner, which, seed }) => longCase(which, which === 'matmul' ? 4 * R : R, outer, inner, seed),
      Math.max(4, Math.ceil(numRuns / 6)),
    );

    // ---------------------------------------------------------------- matmul
    // a dot product of K terms: 2 gamma(K + 2) (|A| @ |B|) per element
    prop(
      'matmul',
      mvSamples('matmul'),
      async ({ s, a, b }) => {
        const K = s.a[s.a.length - 1];
        const extra = await dotBudget(K, [absHost(a), absHost(b)], (x, y) => T.matmul(x, y));
        await check({ what: `matmul(${fmt(s.a)}, ${fmt(s.b)})`, inputs: [a, b], f: (x, y) => T.matmul(x, y), out: s.out, tol: { extra } });
      },
    );

    // ---------------------------------------------------------------- movement (exact)
    prop(
      'transpose',
      mvSamples('transpose'),
      async ({ x, perm }) => {
        const p = perm ?? A.iota(x.shape.length).reverse();
        await check({ what: `transpose(${fmt(x.shape)}, ${JSON.stringify(perm)})`, inputs: [x], f: (t) => T.transpose(t, perm), out: p.map((k) => x.shape[k]), tol: 'exact' });
      },
    );
    prop(
      'reshape / flatten / clone',
      mvSamples('reshape'),
      async ({ x, target, which }) => {
        const f: OpFn = which === 'reshape' ? (t) => T.reshape(t, target.spec) : which === 'flatten' ? (t) => T.flatten(t) : (t) => T.clone(t);
        const out = which === 'reshape' ? target.out : which === 'flatten' ? [x.data.length] : x.shape;
        await check({ what: `${which}(${fmt(x.shape)}${which === 'reshape' ? `, ${fmt(target.spec)}` : ''})`, inputs: [x], f, out, tol: 'exact', js: x.data });
      },
    );
    prop(
      'expandDims',
      mvSamples('expandDims'),
      async ({ x, axis }) => {
        const a = axis < 0 ? axis + x.shape.length + 1 : axis;
        const out = [...x.shape.slice(0, a), 1, ...x.shape.slice(a)];
        await check({ what: `expandDims(${fmt(x.shape)}, ${axis})`, inputs: [x], f: (t) => T.expandDims(t, axis), out, tol: 'exact', js: x.data });
      },
    );
    prop(
      'squeeze',
      mvSamples('squeeze'),
      async ({ x, axes }) => {
        const drop = axes ?? A.iota(x.shape.length).filter((i) => x.shape[i] === 1);
        await check({ what: `squeeze(${fmt(x.shape)}, ${JSON.stringify(axes)})`, inputs: [x], f: (t) => T.squeeze(t, axes), out: x.shape.filter((_, i) => !drop.includes(i)), tol: 'exact', js: x.data });
      },
    );
    prop(
      'broadcastTo',
      mvSamples('broadcastTo'),
      async ({ x, out }) => {
        await check({ what: `broadcastTo(${fmt(x.shape)}, ${fmt(out)})`, inputs: [x], f: (t) => T.broadcastTo(t, out), out, tol: 'exact' });
      },
    );
    prop(
      'slice',
      mvSamples('slice'),
      async ({ x, s }) => {
        // plain-JS: out[idx] = x[begin + idx * step] with negative begin counted from the end
        const st = stridesOf(x.shape);
        const begin = s.begin.map((b, k) => (b < 0 ? b + x.shape[k] : b));
        const js = A.iota(A.sizeOfShape(s.out)).map((i) => {
          const idx = multiIndex(i, s.out);
          return x.data[idx.reduce((o, j, k) => o + (begin[k] + j * s.step[k]) * st[k], 0)];
        });
        await check({
          what: `slice(${fmt(x.shape)}, begin ${JSON.stringify(s.begin)}, size ${JSON.stringify(s.size)}, step ${JSON.stringify(s.step)})`,
          inputs: [x],
          f: (t) => T.slice(t, s.begin, s.size, s.step),
          out: s.out,
          tol: 'exact',
          js,
        });
      },
    );
    prop(
      'concat',
      mvSamples('concat'),
      async ({ s, xs }) => {
        await check({ what: `concat(${s.shapes.map(fmt).join(', ')}, axis ${s.axis})`, inputs: xs, f: (...ts) => T.concat(ts, s.axis), out: s.out, tol: 'exact' });
      },
    );
    prop(
      'stack',
      mvSamples('stack'),
      async ({ xs, axis }) => {
        const sh = xs[0].shape;
        const a = axis < 0 ? axis + sh.length + 1 : axis;
        await check({ what: `stack(${xs.length} x ${fmt(sh)}, axis ${axis})`, inputs: xs, f: (...ts) => T.stack(ts, axis), out: [...sh.slice(0, a), xs.length, ...sh.slice(a)], tol: 'exact' });
      },
    );
    prop(
      'pad',
      mvSamples('pad'),
      async ({ x, pads, value }) => {
        await check({ what: `pad(${fmt(x.shape)}, ${JSON.stringify(pads)}, ${value})`, inputs: [x], f: (t) => T.pad(t, pads, value), out: x.shape.map((d, k) => d + pads[k][0] + pads[k][1]), tol: 'exact' });
      },
    );
    prop(
      'gather',
      mvSamples('gather'),
      async ({ s, x, asArray }) => {
        const useArray = asArray && s.indexShape.length === 1;
        const idx: HostTensor = { shape: s.indexShape, data: Float32Array.from(s.indices) };
        await check({
          what: `gather(${fmt(s.shape)}, indices ${fmt(s.indexShape)} ${JSON.stringify(s.indices)}${useArray ? ' (array)' : ''}, axis ${s.axis})`,
          inputs: [x, idx],
          f: (t, ti) => T.gather(t, useArray ? s.indices : ti, s.axis),
          out: s.out,
          tol: 'exact',
        });
      },
    );
    // scatterAdd: each output is a sum of the rows sharing its index: gamma(#rows) sum|g|
    prop(
      'scatterAdd',
      mvSamples('scatterAdd'),
      async ({ g, axis, dimSize, indices, asArray }) => {
        const a = axis < 0 ? axis + g.shape.length : axis;
        const idx: HostTensor = { shape: [indices.length], data: Float32Array.from(indices) };
        const out = g.shape.map((d, k) => (k === a ? dimSize : d));
        const extra = await dotBudget(indices.length, [absHost(g), idx], (tg, ti) => T.scatterAdd(tg, ti, axis, dimSize));
        await check({
          what: `scatterAdd(${fmt(g.shape)}, ${JSON.stringify(indices)}, axis ${axis}, dimSize ${dimSize})`,
          inputs: [g, idx],
          f: (tg, ti) => T.scatterAdd(tg, asArray ? indices : ti, axis, dimSize),
          out,
          tol: { extra },
        });
      },
    );
    prop(
      'oneHot',
      mvSamples('oneHot'),
      async ({ depth, idx, asArray }) => {
        const useArray = asArray && idx.shape.length === 1;
        const js = Array.from(idx.data).flatMap((v) => A.iota(depth).map((c) => (v === c ? 1 : 0)));
        await check({ what: `oneHot(${fmt(idx.shape)} ${JSON.stringify(Array.from(idx.data))}, ${depth})`, inputs: [idx], f: (t) => T.oneHot(useArray ? Array.from(idx.data) : t, depth), out: [...idx.shape, depth], tol: 'exact', js });
      },
    );

    // ---------------------------------------------------------------- convolution & pooling
    // conv2d: each output is a dot product of Cg*KH*KW terms: 2 gamma(n + 2) conv(|x|, |w|)
    prop(
      'conv2d',
      cvSamples('conv2d'),
      async ({ s, x, w }) => {
        const o = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const f: OpFn = (tx, tw) => T.conv2d(tx, tw, o);
        const extra = await dotBudget(s.wShape[1] * s.wShape[2] * s.wShape[3], [absHost(x), absHost(w)], f);
        await check({ what: `conv2d(x ${fmt(s.xShape)}, w ${fmt(s.wShape)}, ${JSON.stringify(o)})`, inputs: [x, w], f, out: s.out, tol: { extra } });
      },
    );
    // convTranspose2d: every output sums at most Cin/groups * KH * KW products
    prop(
      'convTranspose2d',
      // weights stay finite (the db's samples draw them with the plain arbitraries): a
      // non-finite weight meets the zeros that the kernels insert between strided input
      // pixels (0 * Inf = NaN) where the scatter-form reference adds nothing; README
      // "Special values" leaves that case unspecified
      cvSamples('convTranspose2d'),
      async ({ s, x, w }) => {
        const o = { stride: s.stride, padding: s.padding, outputPadding: s.outputPadding, dilation: s.dilation, groups: s.groups };
        const f: OpFn = (tx, tw) => T.convTranspose2d(tx, tw, o);
        const extra = await dotBudget((s.xShape[1] / s.groups) * s.wShape[2] * s.wShape[3], [absHost(x), absHost(w)], f);
        await check({ what: `convTranspose2d(x ${fmt(s.xShape)}, w ${fmt(s.wShape)}, ${JSON.stringify(o)})`, inputs: [x, w], f, out: s.out, tol: { extra } });
      },
    );
    // conv2dFilterGrad: each weight gradient sums N*Ho*Wo products
    prop(
      'conv2dFilterGrad',
      cvSamples('conv2dFilterGrad'),
      async ({ s, x, dy }) => {
        const o = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const f: OpFn = (tx, td) => T.conv2dFilterGrad(tx, td, s.wShape, o);
        const extra = await dotBudget(s.out[0] * s.out[2] * s.out[3], [absHost(x), absHost(dy)], f);
        await check({ what: `conv2dFilterGrad(x ${fmt(s.xShape)}, dy ${fmt(s.out)}, wShape ${fmt(s.wShape)}, ${JSON.stringify(o)})`, inputs: [x, dy], f, out: s.wShape, tol: { extra } });
      },
    );

    // groupNorm: per element |gamma_c| (rel (1 + |h|) + 4 ulp(max|x|) rstd) + 4u (|gamma h| + |beta|):
    // the statistics are blocked sums of ~HW/4 + Cg terms (rel), and the float32 mean of the
    // group is off by ~ulp(max|x|), which rstd scales (norm-kernels.ts)
    prop('groupNorm', samplesOf<A.GroupNormSample>('groupNorm'), async ({ k, x, gamma, beta }) => {
      const [N, C] = k.xShape;
      const HW = x.data.length / (N * C);
      const Cg = C / k.groups;
      const M = Cg * HW;
      const rel = 16 * (HW / 4 + Cg + 16) * (2 ** -24);
      const ulp = (v: number) => (v === 0 ? 0 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23));
      const extra = new Array<number>(x.data.length).fill(0);
      for (let r = 0; r < N * k.groups; r++) {
        const xs = Array.from(x.data.subarray(r * M, (r + 1) * M));
        const mean = xs.reduce((a, b) => a + b, 0) / M;
        const rstd = 1 / Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / M + k.eps);
        const meanErr = 4 * ulp(Math.max(...xs.map(Math.abs))) * rstd;
        xs.forEach((v, j) => {
          const c = (r % k.groups) * Cg + Math.floor(j / HW);
          const h = (v - mean) * rstd;
          const ga = k.gamma ? gamma.data[c] : 1;
          extra[r * M + j] = Math.abs(ga) * (rel * (1 + Math.abs(h)) + meanErr) + 4 * 2 ** -24 * (Math.abs(ga * h) + (k.beta ? Math.abs(beta.data[c]) : 0));
        });
      }
      const f: OpFn = (tx, tg, tb) => T.groupNorm(tx, k.groups, { eps: k.eps, ...(k.gamma ? { gamma: tg } : {}), ...(k.beta ? { beta: tb } : {}) });
      await check({ what: `groupNorm(x ${fmt(k.xShape)}, groups ${k.groups}, eps ${k.eps}, gamma ${k.gamma}, beta ${k.beta})`, inputs: [x, gamma, beta], f, out: k.xShape, tol: { extra } });
    });

    // max pooling moves values: exact. Small-integer inputs make ties common; the first
    // maximum of a window (row-major) wins on both sides.
    prop(
      'maxPool2d',
      cvSamples('maxPool2d'),
      async ({ s, x }) => {
        await check({ what: `maxPool2d(${fmt(s.xShape)}, k ${s.kernel}, s ${s.stride}, p ${s.padding})`, inputs: [x], f: (t) => T.maxPool2d(t, s.kernel, { stride: s.stride, padding: s.padding }), out: s.out, tol: 'exact' });
      },
    );
    prop(
      'maxPool2dGather',
      cvSamples('maxPool2dGather'),
      async ({ s, x, v }) => {
        await check({ what: `maxPool2dGather(${fmt(s.xShape)}, k ${s.kernel}, s ${s.stride}, p ${s.padding})`, inputs: [x, v], f: (tx, tv) => T.maxPool2dGather(tx, tv, s.kernel, { stride: s.stride, padding: s.padding }), out: s.out, tol: 'exact' });
      },
    );
    // maxPool2dScatter: overlapping windows may route up to KH*KW gradients to one pixel
    prop(
      'maxPool2dScatter',
      cvSamples('maxPool2dScatter'),
      async ({ s, x, g }) => {
        const po = { stride: s.stride, padding: s.padding };
        const f: OpFn = (tx, tg) => T.maxPool2dScatter(tx, tg, s.kernel, po);
        const extra = await dotBudget(s.kernel[0] * s.kernel[1], [x, absHost(g)], f);
        await check({ what: `maxPool2dScatter(${fmt(s.xShape)}, g ${fmt(s.out)}, k ${s.kernel}, s ${s.stride}, p ${s.padding})`, inputs: [x, g], f, out: s.xShape, tol: { extra } });
      },
    );
    // avgPool2d (zero padding counted): KH*KW terms, plus the float32 rounding of 1/(KH*KW)
    prop(
      'avgPool2d',
      cvSamples('avgPool2d'),
      async ({ s, x }) => {
        const [N, C, H, W] = s.xShape;
        const [kh, kw] = s.kernel;
        const js = A.iota(A.sizeOfShape(s.out)).map((i) => {
          const [n, c, yo, xo] = multiIndex(i, s.out);
          let acc = 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = yo * s.stride[0] - s.padding[0] + ky;
              const ix = xo * s.stride[1] - s.padding[1] + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += x.data[((n * C + c) * H + iy) * W + ix];
            }
          return acc / (kh * kw);
        });
        void N;
        const f: OpFn = (t) => T.avgPool2d(t, s.kernel, { stride: s.stride, padding: s.padding });
        const extra = await dotBudget(kh * kw + 1, [absHost(x)], f);
        await check({ what: `avgPool2d(${fmt(s.xShape)}, k ${s.kernel}, s ${s.stride}, p ${s.padding})`, inputs: [x], f, out: s.out, tol: { extra }, js });
      },
    );
    prop(
      'upsampleNearest2d',
      cvSamples('upsampleNearest2d'),
      async ({ x, scale }) => {
        const [sh, sw] = typeof scale === 'number' ? [scale, scale] : scale;
        const [N, C, H, W] = x.shape;
        const out = [N, C, H * sh, W * sw];
        const js = A.iota(A.sizeOfShape(out)).map((i) => {
          const [n, c, y, xx] = multiIndex(i, out);
          return x.data[((n * C + c) * H + Math.floor(y / sh)) * W + Math.floor(xx / sw)];
        });
        await check({ what: `upsampleNearest2d(${fmt(x.shape)}, ${JSON.stringify(scale)})`, inputs: [x], f: (t) => T.upsampleNearest2d(t, scale), out, tol: 'exact', js });
      },
    );

    if (special) return; // the rest has no generated tensor values

    // ---------------------------------------------------------------- creation
    // Host-computed values uploaded once: the backend holds their float32 rounding exactly.
    prop(
      'creation: full / zeros / ones / *Like / scalar / arange / linspace',
      fc.record({
        shape: A.shape(shapeOpts),
        value: A.float({ specials: [0, 1] }),
        start: fc.integer({ min: -20, max: 20 }).map((v) => v / 4),
        stop: fc.integer({ min: -20, max: 20 }).map((v) => v / 3),
        step: fc.constantFrom(0.5, 1, 1.5, -0.75, -1, 2, 0.1),
        num: fc.nat(9),
        which: fc.constantFrom('full', 'zeros', 'ones', 'zerosLike', 'onesLike', 'fullLike', 'scalar', 'arange', 'linspace'),
      }),
      async ({ shape, value, start, stop, step, num, which }) => {
        const sz = A.sizeOfShape(shape);
        let f: OpFn;
        let out: number[] = shape;
        let js: number[];
        const likeIn: HostTensor[] = [{ shape, data: new Float32Array(sz).fill(7) }];
        let inputs: HostTensor[] = [];
        switch (which) {
          case 'full': f = () => T.full(shape, value); js = new Array(sz).fill(value); break;
          case 'zeros': f = () => T.zeros(shape); js = new Array(sz).fill(0); break;
          case 'ones': f = () => T.ones(shape); js = new Array(sz).fill(1); break;
          case 'zerosLike': inputs = likeIn; f = (t) => T.zerosLike(t); js = new Array(sz).fill(0); break;
          case 'onesLike': inputs = likeIn; f = (t) => T.onesLike(t); js = new Array(sz).fill(1); break;
          case 'fullLike': inputs = likeIn; f = (t) => T.fullLike(t, value); js = new Array(sz).fill(value); break;
          case 'scalar': f = () => T.scalar(value); out = []; js = [value]; break;
          case 'arange': {
            const n = Math.max(0, Math.ceil((stop - start) / step));
            f = () => T.arange(start, stop, step);
            out = [n];
            js = A.iota(n).map((i) => start + i * step);
            break;
          }
          default: {
            f = () => T.linspace(start, stop, num);
            out = [num];
            js = A.iota(num).map((i) => (num === 1 ? start : i === num - 1 ? stop : start + (i * (stop - start)) / (num - 1)));
          }
        }
        await check({ what: `${which}(${fmt(shape)}, value ${value}, start ${start}, stop ${stop}, step ${step}, num ${num})`, inputs, f, out, tol: 'exact', js });
      },
    );

    // ---------------------------------------------------------------- size-0 tensors
    prop(
      'size-0 tensors (elementwise, reductions, movement, matmul with K = 0)',
      fc.record({
        shape: A.shape({ minRank: 1, maxRank: 3, maxDim: 3, allowZero: true }).filter((s) => s.includes(0)),
        which: fc.constantFrom('exp', 'add', 'sum', 'sumAll', 'transpose', 'slice', 'concat', 'reshape', 'matmulK0', 'pad', 'scatterAdd', 'conv2dC0'),
      }),
      async ({ shape, which }) => {
        const x: HostTensor = { shape, data: new Float32Array(0) };
        const z = shape.indexOf(0);
        let f: OpFn;
        let out: number[];
        let inputs = [x];
        switch (which) {
          case 'exp': f = (t) => T.exp(t); out = shape; break;
          case 'add': f = (t) => T.add(t, 1); out = shape; break;
          case 'sum': f = (t) => T.sum(t, z); out = shape.filter((_, i) => i !== z); break; // sums over nothing: zeros
          case 'sumAll': f = (t) => T.sum(t); out = []; break;
          case 'transpose': f = (t) => T.transpose(t); out = shape.slice().reverse(); break;
          case 'slice': f = (t) => T.slice(t, shape.map(() => 0), shape.map(() => -1)); out = shape; break;
          case 'concat': f = (t) => T.concat([t, t], z); out = shape; break;
          case 'reshape': f = (t) => T.reshape(t, [...shape].reverse()); out = [...shape].reverse(); break;
          case 'pad': f = (t) => T.pad(t, shape.map(() => [1, 0] as [number, number]), 3); out = shape.map((d) => d + 1); break;
          case 'scatterAdd': {
            // no rows to scatter: zeros with dimSize rows
            const g: HostTensor = { shape: [0, 2], data: new Float32Array(0) };
            inputs = [g];
            f = (t) => T.scatterAdd(t, [], 0, 3);
            out = [3, 2];
            break;
          }
          case 'conv2dC0': {
            // no input channels: zeros
            inputs = [{ shape: [1, 0, 3, 2], data: new Float32Array(0) }, { shape: [2, 0, 1, 1], data: new Float32Array(0) }];
            f = (a, b) => T.conv2d(a, b);
            out = [1, 2, 3, 2];
            break;
          }
          default: {
            // [M, 0] @ [0, N] = zeros [M, N]
            const M = shape[0] || 2;
            inputs = [{ shape: [M, 0], data: new Float32Array(0) }, { shape: [0, 3], data: new Float32Array(0) }];
            f = (a, b) => T.matmul(a, b);
            out = [M, 3];
          }
        }
        await check({ what: `${which}(${fmt(shape)})`, inputs, f, out, tol: 'exact' });
      },
      Math.max(10, Math.ceil(numRuns / 2)),
    );
  }

  suite(title, () => {
    afterAll(() => {
      if (process.env.TAPEGRAD_TOL_REPORT) {
        const rows = [...worst].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.padEnd(24)} ${v.toFixed(3)}`);
        console.log(`largest |error| / allowance per op on ${backend}:\n${rows.join('\n')}`);
      }
    });
    registerOps(A, false);

    it('coverage: every op of the op database has a conformance property and its inputs in the db, every elementwise primitive an entry', () => {
      const missing = A.OP_DB.map((o) => o.name).filter((n) => !registered.has(n));
      expect(missing, 'ops of OP_DB without a property here').toEqual([]);
      const names = new Set(A.OP_DB.map((o) => o.name));
      // Records over the backend's op unions: a new elementwise primitive fails to compile here until listed
      const unary: Record<T.UnaryOp, 1> = { neg: 1, abs: 1, sign: 1, exp: 1, log: 1, sqrt: 1, rsqrt: 1, square: 1, reciprocal: 1, sin: 1, cos: 1, tanh: 1, sigmoid: 1, relu: 1, silu: 1, gelu: 1, erf: 1, floor: 1, step: 1 };
      const binary: Record<T.BinaryOp, 1> = { add: 1, sub: 1, mul: 1, div: 1, pow: 1, maximum: 1, minimum: 1, greater: 1, greaterEqual: 1, less: 1, lessEqual: 1, equal: 1, notEqual: 1 };
      expect([...Object.keys(unary), ...Object.keys(binary)].filter((n) => !names.has(n))).toEqual([]);
      for (const o of A.OP_DB) {
        expect(o.specials.length > 0 || o.grad.differentiable === 'none', `${o.name} has special values`).toBe(true);
        if (o.kind === 'unary' || o.kind === 'binary') expect(typeof o.derivative, `${o.name} has a closed-form derivative`).toBe('function');
        // the inputs come from the db: value arbitraries (elementwise) or samples (the rest)
        if (o.kind === 'unary' || o.kind === 'binary') expect(o.values?.length, `${o.name} has input values`).toBe(o.kind === 'unary' ? 1 : 2);
        else expect(typeof o.samples, `${o.name} has forward samples`).toBe('function');
      }
    });
    // ---------------------------------------------------------------- IEEE special values
    // Poles, overflow / underflow and +-Infinity inputs (tensor() keeps them: attention masks
    // are -Infinity). Expected values are JS Math semantics, written out here; the reference
    // must agree too (after float32 rounding). Finite results: 8 ulp relative (plus 1e-30
    // for sigmoid / silu, whose float32 kernels clamp the argument at +-80); zeros and
    // non-finite results: exact; NaN must meet NaN. The second group is README "Special
    // values" (issue 8 section 1), each expected value written out by hand.
    it('IEEE special values: poles, overflow, +-Infinity inputs, masked softmax, NaN propagation and limits', async () => {
      const inf = Infinity;
      const cases: { what: string; inputs: HostTensor[]; f: OpFn; want: number[] }[] = [];
      const t1 = (v: number[]): HostTensor => ({ shape: [v.length], data: Float32Array.from(v) });
      const un = (op: 'log' | 'sqrt' | 'rsqrt' | 'reciprocal' | 'exp' | 'relu' | 'abs' | 'neg' | 'sign' | 'sigmoid' | 'tanh' | 'step' | 'floor' | 'silu' | 'gelu' | 'erf' | 'sin' | 'cos' | 'square', xs: number[], want: number[]) =>
        cases.push({ what: `${op}(${xs})`, inputs: [t1(xs)], f: (t) => (T[op] as (t: T.Tensor) => T.Tensor)(t), want });
      const bin = (op: 'pow' | 'div' | 'maximum' | 'minimum' | 'add' | 'sub' | 'mul' | 'greater' | 'greaterEqual' | 'less' | 'lessEqual' | 'equal' | 'notEqual', a: number[], b: number[], want: number[]) =>
        cases.push({ what: `${op}(${a}; ${b})`, inputs: [t1(a), t1(b)], f: (x, y) => (T[op] as (x: T.Tensor, y: T.Tensor) => T.Tensor)(x, y), want });
      bin('pow', [0, 0, 0, 0, 0, 0, 2, -2, -2, 0.5, 3], [-3, -2, -0.5, 0, 0.5, 2, -1, 3, -2, 0, -inf], [inf, inf, inf, 1, 0, 0, 0.5, -8, 0.25, 1, 0]);
      bin('div', [1, -1, 3, -3, 0], [0, 0, inf, inf, 5], [inf, -inf, 0, -0, 0]);
      bin('maximum', [-inf, inf, 1, -inf], [1, 1, inf, -inf], [1, inf, inf, -inf]);
      bin('minimum', [-inf, inf, 1], [1, 1, -inf], [-inf, 1, -inf]);
      bin('add', [inf, -inf, 1], [1, 2, -inf], [inf, -inf, -inf]);
      bin('mul', [inf, -inf, 3e38], [2, 2, 10], [inf, -inf, inf]);
      bin('greater', [inf, -inf, 1], [1e38, -1e38, inf], [1, 0, 0]);
      bin('equal', [inf, -inf, inf], [inf, -inf, -inf], [1, 1, 0]);
      un('log', [0, 1, inf], [-inf, 0, inf]);
      un('sqrt', [0, inf], [0, inf]);
      un('rsqrt', [0, inf], [inf, 0]);
      un('reciprocal', [0, inf, -inf], [inf, 0, -0]);
      un('exp', [-inf, -200, 0, 200, inf], [0, 0, 1, inf, inf]);
      un('relu', [-inf, inf], [0, inf]);
      un('step', [-inf, inf], [0, 1]);
      un('abs', [-inf, inf], [inf, inf]);
      un('neg', [-inf, inf], [inf, -inf]);
      un('sign', [-inf, inf, 0], [-1, 1, 0]);
      un('floor', [-inf, inf, -0.5], [-inf, inf, -1]);
      un('sigmoid', [-inf, -200, 200, inf], [0, 0, 1, 1]);
      un('silu', [-200, 200], [-0, 200]);
      un('tanh', [-inf, -50, 50, inf], [-1, -1, 1, 1]);
      const row = t1([0, -inf, 1, -inf]);
      const e = Math.E;
      cases.push({ what: 'softmax([0,-inf,1,-inf])', inputs: [row], f: (t) => T.softmax(t), want: [1 / (1 + e), 0, e / (1 + e), 0] });
      cases.push({ what: 'logSoftmax([0,-inf,1,-inf])', inputs: [row], f: (t) => T.logSoftmax(t), want: [-Math.log(1 + e), -inf, 1 - Math.log(1 + e), -inf] });
      cases.push({ what: 'logsumexp([0,-inf,1,-inf])', inputs: [row], f: (t) => T.logsumexp(t, 0, true), want: [Math.log(1 + e)] });
      cases.push({ what: 'max([-inf,-inf,-3])', inputs: [t1([-inf, -inf, -3])], f: (t) => T.max(t), want: [-3] });
      cases.push({ what: 'sum([1,inf,2])', inputs: [t1([1, inf, 2])], f: (t) => T.sum(t), want: [inf] });
      cases.push({ what: 'argmax([-inf,inf,5])', inputs: [t1([-inf, inf, 5])], f: (t) => T.argmax(t), want: [1] });
      cases.push({ what: 'where(mask, x, -inf)', inputs: [t1([1, 0, 1]), t1([4, 5, 6])], f: (m, x) => T.where(m, x, -inf), want: [4, -inf, 6] });
      cases.push({ what: 'pad(value -inf)', inputs: [t1([1, 2])], f: (t) => T.pad(t, [[1, 1]], -inf), want: [-inf, 1, 2, -inf] });
      // NaN propagates: arithmetic, selections (both sides), reductions, pooling
      const nan = NaN;
      un('exp', [nan], [nan]);
      un('log', [-1, nan, -inf], [nan, nan, nan]);
      un('sqrt', [-1, nan], [nan, nan]);
      un('square', [nan, -inf], [nan, inf]);
      un('sin', [inf, -inf, nan], [nan, nan, nan]);
      un('cos', [inf, nan], [nan, nan]);
      un('relu', [nan, -0], [nan, 0]);
      un('step', [nan], [nan]);
      un('abs', [nan, -0], [nan, 0]);
      un('floor', [nan], [nan]);
      un('sign', [nan, -0, 0], [nan, 0, 0]);
      un('sigmoid', [nan], [nan]);
      un('tanh', [nan], [nan]);
      un('erf', [-inf, inf, nan], [-1, 1, nan]);
      un('silu', [-inf, inf, nan], [0, inf, nan]);
      un('gelu', [-inf, inf, nan], [0, inf, nan]);
      bin('maximum', [nan, 0, nan, -inf], [0, nan, nan, nan], [nan, nan, nan, nan]);
      bin('minimum', [nan, 0, inf], [0, nan, nan], [nan, nan, nan]);
      bin('add', [nan, inf, 1], [1, -inf, nan], [nan, nan, nan]);
      bin('sub', [inf], [inf], [nan]);
      bin('mul', [inf, 0, nan], [0, -inf, 0], [nan, nan, nan]);
      bin('div', [0, inf, nan], [0, inf, 1], [nan, nan, nan]);
      // comparisons with NaN are false, notEqual true
      bin('greater', [nan, 1, nan], [1, nan, nan], [0, 0, 0]);
      bin('greaterEqual', [nan, 1], [1, nan], [0, 0]);
      bin('less', [nan, 1], [1, nan], [0, 0]);
      bin('lessEqual', [nan, nan], [1, nan], [0, 0]);
      bin('equal', [nan, nan, -0], [1, nan, 0], [0, 0, 1]);
      bin('notEqual', [nan, nan, 1, -0], [1, nan, 1, 0], [1, 1, 0, 0]);
      // pow follows C99 (NumPy, PyTorch), not JS Math.pow, at 1^y, x^0, (-1)^+-Inf
      bin('pow', [1, 1, nan, -1, -1, nan, -inf, -inf, -0, -0, -8, 0, -0, 2], [nan, inf, 0, inf, -inf, 1, 3, 0.5, -1, 3, 1 / 3, nan, nan, nan], [1, 1, 1, 1, 1, nan, -inf, inf, -inf, -0, nan, nan, nan, nan]);
      cases.push({ what: 'max([1,NaN,2])', inputs: [t1([1, nan, 2])], f: (t) => T.max(t), want: [nan] });
      cases.push({ what: 'min([1,2,NaN])', inputs: [t1([1, 2, nan])], f: (t) => T.min(t), want: [nan] });
      cases.push({ what: 'sum([1,NaN])', inputs: [t1([1, nan])], f: (t) => T.sum(t), want: [nan] });
      cases.push({ what: 'sum([inf,-inf])', inputs: [t1([inf, -inf])], f: (t) => T.sum(t), want: [nan] });
      cases.push({ what: 'mean([2,NaN])', inputs: [t1([2, nan])], f: (t) => T.mean(t), want: [nan] });
      cases.push({ what: 'variance([2,NaN,1])', inputs: [t1([2, nan, 1])], f: (t) => T.variance(t), want: [nan] });
      cases.push({ what: 'softmax([1,NaN,0])', inputs: [t1([1, nan, 0])], f: (t) => T.softmax(t), want: [nan, nan, nan] });
      cases.push({ what: 'argmax([1,NaN,2,NaN])', inputs: [t1([1, nan, 2, nan])], f: (t) => T.argmax(t), want: [1] });
      cases.push({ what: 'argmin([3,1,NaN])', inputs: [t1([3, 1, nan])], f: (t) => T.argmin(t), want: [2] });
      cases.push({ what: 'argmax([NaN,5])', inputs: [t1([nan, 5])], f: (t) => T.argmax(t), want: [0] });
      cases.push({ what: 'relu(NaN), clip(NaN, -1, 1)', inputs: [t1([nan, nan])], f: (t) => T.concat([T.relu(T.slice(t, [0], [1])), T.clip(T.slice(t, [1], [1]), -1, 1)], 0), want: [nan, nan] });
      // maxPool2d: a NaN anywhere in the window wins (window of 4, NaN third)
      cases.push({ what: 'maxPool2d([[1,2],[NaN,0]], 2)', inputs: [{ shape: [1, 1, 2, 2], data: Float32Array.from([1, 2, nan, 0]) }], f: (t) => T.maxPool2d(t, 2), want: [nan] });
      // where: a NaN condition is nonzero (selects a); the unselected side does not leak
      cases.push({ what: 'where([NaN,0,1], [1,2,3], [NaN,5,NaN])', inputs: [t1([nan, 0, 1]), t1([1, 2, 3]), t1([nan, 5, nan])], f: (c, a, b) => T.where(c, a, b), want: [1, 5, 3] });
      // limits where the math defines them
      cases.push({ what: 'logsumexp([-inf,-inf])', inputs: [t1([-inf, -inf])], f: (t) => T.logsumexp(t), want: [-inf] });
      cases.push({ what: 'logsumexp([inf,1])', inputs: [t1([inf, 1])], f: (t) => T.logsumexp(t), want: [inf] });
      cases.push({ what: 'logsumexp([NaN,1])', inputs: [t1([nan, 1])], f: (t) => T.logsumexp(t), want: [nan] });
      cases.push({ what: 'logSoftmax([-inf,-inf])', inputs: [t1([-inf, -inf])], f: (t) => T.logSoftmax(t), want: [nan, nan] });
      const failures: string[] = [];
      for (const c of cases) {
        for (const b of [backend, 'reference'] as T.BackendName[]) {
          const got = await runOn(b, c.inputs, c.f);
          c.want.forEach((w, i) => {
            const g = Math.fround(got.data[i]);
            const atol = /^(sigmoid|silu)/.test(c.what) ? 1e-30 : 0;
            const ok = Number.isNaN(w)
              ? Number.isNaN(g)
              : Number.isFinite(w) && w !== 0
                ? Math.abs(g - w) <= 8 * ULP * Math.abs(w) + atol
                : g === w || Math.abs(g - w) <= atol;
            if (!ok) failures.push(`${c.what} on ${b}: element ${i} is ${g}, expected ${w}`);
          });
        }
      }
      expect(failures).toEqual([]);
    });

    // ---------------------------------------------------------------- the backend that ran
    it(`ran on '${backend}': every gpu.js kernel built is of mode '${backend}' without fallback`, () => {
      const be = T.findBackend(backend) as T.Backend & { kernelClasses?: () => { key: string; mode: string; fallbackReason: string | null }[] };
      expect(be.name).toBe(backend);
      T.useBackend(backend, () => {
        expect(T.getBackend()).toBe(backend);
        const t = T.zeros([2]);
        try {
          expect(t.backend).toBe(backend);
        } finally {
          t.dispose();
        }
      });
      expect(typeof be.kernelClasses).toBe('function');
      const classes = be.kernelClasses!();
      // every op family above built at least one kernel
      expect(classes.length).toBeGreaterThan(30);
      for (const k of classes) {
        expect(k.fallbackReason, `kernel ${k.key}`).toBeNull();
        expect(k.mode, `kernel ${k.key}`).toBe(backend);
      }
      for (const family of ['unary:exp', 'binary:add', 'where', 'reduce:sum', 'argreduce:argmax', 'matmul', 'strided', 'pad', 'concat2', 'gather', 'scatterAdd', 'conv2d', 'conv2dFilterGrad', 'dilatePad', 'maxPoolGather', 'maxPoolScatter']) {
        expect(classes.some((k) => k.key.startsWith(family)), `a '${family}' kernel was built`).toBe(true);
      }
    });
  });

  // The same properties with IEEE special values mixed into every generated tensor (README
  // "Special values"): NaN == NaN, infinities exact, -0 == +0, finite values within the op's
  // budget where that budget is finite.
  suite(opts.skip ? title : `ops on ${backend} vs reference, with IEEE special values in the inputs`, () => {
    registerOps(specialArbs(), true);
  });
}


/** The (a, b) value pairs of a broadcast binary op, in output order (plain JS). */
function broadcastPairs(a: HostTensor, b: HostTensor): [number, number][] {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...new Array(rank - b.shape.length).fill(1), ...b.shape];
  const out = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const sa = stridesOf(pa);
  const sb = stridesOf(pb);
  return A.iota(A.sizeOfShape(out)).map((i) => {
    const idx = multiIndex(i, out);
    let oa = 0;
    let ob = 0;
    idx.forEach((j, k) => {
      if (pa[k] !== 1) oa += j * sa[k];
      if (pb[k] !== 1) ob += j * sb[k];
    });
    return [a.data[oa], b.data[ob]];
  });
}
