// The gradcheck case table shared by rules.test.ts and gradgrad.test.ts: one entry per
// primitive (and per composite worth checking on its own), each a fast-check arbitrary of
// *instances*: a function of tensors, host input values and the attributes baked into the
// function (axes, keepDims, conv stride/padding/groups, ...).
//
// Values come from grids of multiples of 1/64 (exact in float32, so the webasm backend and
// the float64 reference see the same inputs) restricted to each op's domain and kept away
// from kinks: gradcheck perturbs inputs by at most ~2 * 1e-4 * |N(0,1) direction| < 1e-3,
// so a margin of 1/32 from a kink (relu/abs at 0, maximum where a == b, floor at integers,
// the window maximum of maxPool2d) is never crossed.

import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { Tape } from '@tapegrad/autograd';
import { fcParams as fcParamsShared, gradAxes, gradBroadcast, gradShape, gradValues, MOVEMENT_GRAD_SAMPLES, opInfo, type MovementGradAttrs, opsOfKind, type GradDomain, type OpInfo } from '@tapegrad/tensor/testing';

export type Fn = (...xs: Tensor[]) => Tensor;

/** Value domains: the op database's gradient-check domains (`gradValues`). */
export type Domain = GradDomain;

export interface InputSpec {
  shape: number[];
  dom: Domain;
}

/** What a case generator produces before values are drawn. */
export interface Spec {
  f: Fn;
  inputs: InputSpec[];
  /** Shapes and attributes, for failure messages. */
  label: string;
  /** Inputs to differentiate (default all): conditions and integer exponents are left out. */
  argnums?: number[];
}

export interface HostInput {
  shape: number[];
  data: number[];
}

export interface Instance {
  f: Fn;
  inputs: HostInput[];
  label: string;
  argnums?: number[];
  /** Seed of gradcheck's random directions. */
  seed: number;
}

export interface Case {
  name: string;
  /** Primitives this case must record on the tape (checked by the coverage test). */
  covers: string[];
  arb: fc.Arbitrary<Instance>;
  /** Also compare the full Jacobian (only on cases whose instances are tiny). */
  jacobian?: boolean;
}

// ------------------------------------------------------------------------------------------
// Arbitraries

const int = (min: number, max: number) => fc.integer({ min, max });
const sizeOf = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/** Shapes of rank minRank..maxRank, dimensions 1..maxDim (the op database's `gradShape`). */
export const shapeArb = gradShape;

/** `n` shapes that broadcast together (the op database's `gradBroadcast`). */
export const broadcastArb = gradBroadcast;

/** Axes to reduce over: undefined (all), or a subset, some written negative (`gradAxes`). */
export const axesArb = gradAxes;

/** `n` values of a domain (the op database's `gradValues`). */
export const valuesArb = (n: number, dom: Domain): fc.Arbitrary<number[]> => gradValues(n, dom);

/** Draw the values of a Spec's inputs (and a direction seed). */
export function instances(spec: fc.Arbitrary<Spec>): fc.Arbitrary<Instance> {
  return spec.chain((s) =>
    fc.tuple(fc.tuple(...s.inputs.map((i) => valuesArb(sizeOf(i.shape), i.dom))), int(0, 9999)).map(([vals, seed]) => {
      const inst: Instance = {
        f: s.f,
        label: s.label,
        argnums: s.argnums,
        seed,
        inputs: s.inputs.map((i, k) => ({ shape: i.shape, data: vals[k] })),
      };
      // fast-check prints counterexamples with this
      Object.defineProperty(inst, fc.toStringMethod, {
        value: () => `${s.label}; inputs ${inst.inputs.map((h) => `${fmt(h.shape)}=${JSON.stringify(h.data)}`).join(', ')}; seed ${seed}`,
      });
      return inst;
    }),
  );
}

// ------------------------------------------------------------------------------------------
// Convolution and pooling configurations (small: gradcheck runs f dozens of times)

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

const outSize = (n: number, k: number, s: number, p: number, d: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/** conv2d configurations: N <= 2, C, O <= 4, H, W <= 6, kernels <= 3, every attribute varied. */
export function convConfigArb(c: ConvConstraints = {}): fc.Arbitrary<ConvConfig> {
  const maxHW = c.maxHW ?? 6;
  return fc
    .record({
      N: int(1, 2),
      groups: c.groups !== undefined ? fc.constant(c.groups) : int(1, 2),
      cg: int(1, 2),
      og: int(1, 2),
      KH: int(1, 3),
      KW: int(1, 3),
      sH: c.stride !== undefined ? fc.constant(c.stride) : int(1, 2),
      sW: c.stride !== undefined ? fc.constant(c.stride) : int(1, 2),
      dH: c.dilation !== undefined ? fc.constant(c.dilation) : int(1, 2),
      dW: c.dilation !== undefined ? fc.constant(c.dilation) : int(1, 2),
      pH: int(0, 1),
      pW: int(0, 1),
      H: int(1, maxHW),
      W: int(1, maxHW),
    })
    .map((r) => {
      const same = c.same === true;
      const stride: [number, number] = same ? [1, 1] : [r.sH, r.sW];
      // 'same' needs an odd effective kernel: make d(K-1) even
      const KH = same && (r.dH * (r.KH - 1)) % 2 ? r.KH + 1 : r.KH;
      const KW = same && (r.dW * (r.KW - 1)) % 2 ? r.KW + 1 : r.KW;
      const pad: [number, number] = same ? [(r.dH * (KH - 1)) / 2, (r.dW * (KW - 1)) / 2] : [r.pH, r.pW];
      const Ho = outSize(r.H, KH, stride[0], pad[0], r.dH);
      const Wo = outSize(r.W, KW, stride[1], pad[1], r.dW);
      return {
        N: r.N, C: r.groups * r.cg, O: r.groups * r.og, groups: r.groups, H: r.H, W: r.W, KH, KW, stride,
        padding: same ? ('same' as const) : pad, dilation: [r.dH, r.dW] as [number, number], Ho, Wo,
      };
    })
    .filter((k) => k.Ho >= 1 && k.Wo >= 1);
}

const convOpts = (k: ConvConfig): T.Conv2dOptions => ({ stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups });
const convLabel = (k: ConvConfig) =>
  `x [${k.N},${k.C},${k.H},${k.W}] w [${k.O},${k.C / k.groups},${k.KH},${k.KW}] stride ${k.stride} padding ${k.padding} dilation ${k.dilation} groups ${k.groups}`;

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
export function convTConfigArb(withOutputPadding = false, maxHW = 4): fc.Arbitrary<ConvTConfig> {
  return fc
    .record({
      N: int(1, 2),
      groups: int(1, 2),
      cg: int(1, 2),
      Og: int(1, 2),
      KH: int(1, 3),
      KW: int(1, 3),
      sH: int(1, 2),
      sW: int(1, 2),
      dH: int(1, 2),
      dW: int(1, 2),
      pH: int(0, 1),
      pW: int(0, 1),
      oH: int(0, 1),
      oW: int(0, 1),
      H: int(1, maxHW),
      W: int(1, maxHW),
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

export function poolConfigArb(): fc.Arbitrary<PoolConfig> {
  return fc
    .record({
      N: int(1, 2), C: int(1, 3), H: int(1, 6), W: int(1, 6),
      kH: int(1, 3), kW: int(1, 3), sH: int(1, 3), sW: int(1, 3), pH: int(0, 1), pW: int(0, 1),
    })
    .map((r) => ({
      N: r.N, C: r.C, H: r.H, W: r.W,
      kernel: [r.kH, r.kW] as [number, number],
      stride: [r.sH, r.sW] as [number, number],
      padding: [Math.min(r.pH, r.kH >> 1), Math.min(r.pW, r.kW >> 1)] as [number, number],
    }))
    .filter((k) => outSize(k.H, k.kernel[0], k.stride[0], k.padding[0], 1) >= 1 && outSize(k.W, k.kernel[1], k.stride[1], k.padding[1], 1) >= 1);
}

const poolLabel = (k: PoolConfig) => `x [${k.N},${k.C},${k.H},${k.W}] kernel ${k.kernel} stride ${k.stride} padding ${k.padding}`;

// ------------------------------------------------------------------------------------------
// Case builders

function unary(name: string, op: (x: Tensor) => Tensor, dom: Domain, covers = [name]): Case {
  return {
    name,
    covers,
    arb: instances(shapeArb().map((s) => ({ f: (x: Tensor) => op(x), inputs: [{ shape: s, dom }], label: `${name} x ${fmt(s)}` }))),
  };
}

function binary(name: string, op: (a: Tensor, b: Tensor) => Tensor, da: Domain, db: Domain, covers = [name]): Case {
  return {
    name,
    covers,
    arb: instances(
      broadcastArb(2).map(([a, b]) => ({
        f: (x: Tensor, y: Tensor) => op(x, y),
        inputs: [{ shape: a, dom: da }, { shape: b, dom: db }],
        label: `${name} a ${fmt(a)} b ${fmt(b)}`,
      })),
    ),
  };
}

/** The case of a binary op database entry, on its gradient domains. */
function binaryFromDb(o: OpInfo): Case {
  const op = (T as unknown as Record<string, (a: Tensor, b: Tensor) => Tensor>)[o.name];
  const [da, db] = o.grad.domains!;
  return binary(o.name, op, da, db);
}

/**
 * A case of a reduction-family op database entry: shapes and attributes from its
 * `gradSamples`, values from its `grad.domains`; `op` applies the attributes (argmax and
 * argmin are wrapped so a gradient flows beside them).
 */
function fromDb<Attrs>(name: string, op: (a: Attrs, ...xs: Tensor[]) => Tensor, covers: string[] = opInfo(name).primitives, caseName = name): Case {
  const o = opInfo(name);
  if (!o.gradSamples || !o.grad.domains) throw new Error(`cases: the op database entry '${name}' has no gradient samples`);
  const doms = o.grad.domains;
  return {
    name: caseName,
    covers,
    arb: instances(
      o.gradSamples().map(({ shapes, attrs }) => ({
        f: (...xs: Tensor[]) => op(attrs as Attrs, ...xs),
        inputs: shapes.map((shape, k) => ({ shape, dom: doms[k] })),
        label: `${caseName} x ${shapes.map(fmt).join(' ')} ${Object.entries(attrs).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(' ')}`,
      })),
    ),
  };
}
type Red = { axes: number[] | undefined; keepDims: boolean };
type Ax = { axis: number };
type Mv<K extends keyof typeof MOVEMENT_GRAD_SAMPLES> = MovementGradAttrs<K>;

const tiny = (name: string, covers: string[], spec: Spec): Case => ({ name, covers, jacobian: true, arb: instances(fc.constant(spec)) });

export function conv2dCase(name: string, c: ConvConstraints = {}): Case {
  return {
    name,
    covers: ['conv2d'],
    arb: instances(
      convConfigArb(c).map((k) => ({
        f: (x: Tensor, w: Tensor) => T.conv2d(x, w, convOpts(k)),
        inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'any' }, { shape: [k.O, k.C / k.groups, k.KH, k.KW], dom: 'any' }],
        label: `conv2d ${convLabel(k)}`,
      })),
    ),
  };
}

export function filterGradCase(name: string, c: ConvConstraints = {}): Case {
  return {
    name,
    covers: ['conv2dFilterGrad'],
    arb: instances(
      convConfigArb(c).map((k) => {
        const wShape = [k.O, k.C / k.groups, k.KH, k.KW];
        return {
          f: (x: Tensor, dy: Tensor) => T.conv2dFilterGrad(x, dy, wShape, convOpts(k)),
          inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'any' }, { shape: [k.N, k.O, k.Ho, k.Wo], dom: 'any' }],
          label: `conv2dFilterGrad ${convLabel(k)}`,
        };
      }),
    ),
  };
}

export function convTransposeCase(name: string, withOutputPadding = false, maxHW = 4): Case {
  return {
    name,
    covers: ['convTranspose2d'],
    arb: instances(
      convTConfigArb(withOutputPadding, maxHW).map((k) => {
        const opts = { stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups, outputPadding: k.outputPadding };
        return {
          f: (x: Tensor, w: Tensor) => T.convTranspose2d(x, w, opts),
          inputs: [{ shape: [k.N, k.Cin, k.H, k.W], dom: 'any' }, { shape: [k.Cin, k.Og, k.KH, k.KW], dom: 'any' }],
          label: `convTranspose2d x [${k.N},${k.Cin},${k.H},${k.W}] w [${k.Cin},${k.Og},${k.KH},${k.KW}] ${JSON.stringify(opts)}`,
        };
      }),
    ),
  };
}

// ------------------------------------------------------------------------------------------
// The table

export const CASES: Case[] = [
  // --- unary primitives: one case per op database entry, on its gradient domain.
  // Piecewise-constant ops (documented zero gradient) are multiplied by x so a non-zero
  // gradient flows beside them; away from the jumps the numeric derivative is exactly 0 too.
  ...opsOfKind('unary').map((o) => {
    const op = (T as unknown as Record<string, (x: Tensor) => Tensor>)[o.name];
    return o.grad.differentiable === 'zero' ? unary(o.name, (x) => T.mul(x, op(x)), o.grad.domains![0], [o.name]) : unary(o.name, op, o.grad.domains![0]);
  }),

  // --- binary primitives, with broadcasting
  ...(['add', 'sub', 'mul', 'div', 'pow'] as const).map((n) => binaryFromDb(opInfo(n))),
  {
    // negative bases are only defined for integer exponents: check the base gradient only
    name: 'pow negative base',
    covers: ['pow'],
    arb: instances(
      broadcastArb(2).map(([a, b]) => ({
        f: (x: Tensor, y: Tensor) => T.pow(x, y),
        inputs: [{ shape: a, dom: 'denom' }, { shape: b, dom: 'intExp' }],
        argnums: [0],
        label: `pow negative base a ${fmt(a)} b ${fmt(b)} (integer exponents, argnums [0])`,
      })),
    ),
  },
  // a and b on disjoint grids: never within 1/32 of a tie (ties: rules.test.ts)
  binaryFromDb(opInfo('maximum')),
  binaryFromDb(opInfo('minimum')),
  binary(
    'comparisons',
    (a, b) =>
      T.add(
        T.add(T.mul(a, T.greater(a, b)), T.mul(b, T.greaterEqual(a, b))),
        T.add(T.add(T.mul(a, T.less(a, b)), T.mul(b, T.lessEqual(a, b))), T.add(T.mul(a, T.equal(a, b)), T.mul(b, T.notEqual(a, b)))),
      ),
    'odd',
    'even',
    ['greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual'],
  ),
  {
    name: 'where',
    covers: ['where'],
    arb: instances(
      broadcastArb(3).map(([c, a, b]) => ({
        f: (cond: Tensor, x: Tensor, y: Tensor) => T.where(cond, x, y),
        inputs: [{ shape: c, dom: 'mask' }, { shape: a, dom: 'any' }, { shape: b, dom: 'any' }],
        argnums: [1, 2],
        label: `where cond ${fmt(c)} a ${fmt(a)} b ${fmt(b)}`,
      })),
    ),
  },
  {
    name: 'clip',
    covers: ['maximum', 'minimum'],
    arb: instances(
      fc.tuple(shapeArb(), int(-16, 0), int(1, 16)).map(([s, lo, hi]) => ({
        f: (x: Tensor) => T.clip(x, lo / 16, hi / 16),
        inputs: [{ shape: s, dom: 'odd' }],
        label: `clip x ${fmt(s)} to [${lo / 16}, ${hi / 16}]`,
      })),
    ),
  },
  {
    name: 'clip tensor bounds',
    covers: ['maximum', 'minimum'],
    arb: instances(
      broadcastArb(3).map(([s, l, h]) => ({
        f: (x: Tensor, lo: Tensor, hi: Tensor) => T.clip(x, lo, hi),
        inputs: [{ shape: s, dom: 'odd' }, { shape: l, dom: 'evenNeg' }, { shape: h, dom: 'evenPos' }],
        label: `clip x ${fmt(s)} lo ${fmt(l)} hi ${fmt(h)}`,
      })),
    ),
  },

  // --- reductions and the composites built on them
  // (shapes, attributes and domains: the op database entries, `fromDb`)
  fromDb<Red>('sum', ({ axes, keepDims }, x) => T.sum(x, axes, keepDims)),
  fromDb<Red>('max', ({ axes, keepDims }, x) => T.max(x, axes, keepDims)),
  fromDb<Red>('min', ({ axes, keepDims }, x) => T.min(x, axes, keepDims)),
  fromDb<Red>('mean', ({ axes, keepDims }, x) => T.mean(x, axes, keepDims)),
  fromDb<Red>('variance', ({ axes, keepDims }, x) => T.variance(x, axes, keepDims), ['sum', 'sub', 'square']),
  fromDb<Red>('logsumexp', ({ axes, keepDims }, x) => T.logsumexp(x, axes, keepDims), ['max', 'exp', 'log', 'sum']),
  fromDb<Ax>('softmax', ({ axis }, x) => T.softmax(x, axis), ['exp', 'div', 'sum']),
  fromDb<Ax>('logSoftmax', ({ axis }, x) => T.logSoftmax(x, axis), ['exp', 'log', 'sub']),
  fromDb<Ax>('argmax', ({ axis }, x) => T.add(T.sum(T.mul(x, x), axis), T.argmax(x, axis))),
  fromDb<Ax>('argmin', ({ axis }, x) => T.add(T.sum(T.mul(x, x), axis, true), T.argmin(x, axis, true))),
  {
    name: 'oneHot cross-entropy',
    covers: ['exp', 'log', 'mul', 'sum'],
    arb: instances(
      fc.tuple(int(1, 3), int(2, 4)).chain(([n, c]) =>
        fc.array(int(0, c - 1), { minLength: n, maxLength: n }).map((labels) => ({
          f: (x: Tensor) => T.neg(T.mean(T.sum(T.mul(T.oneHot(labels, c), T.logSoftmax(x, -1)), -1))),
          inputs: [{ shape: [n, c], dom: 'wide' }],
          label: `cross-entropy logits [${n},${c}] labels ${JSON.stringify(labels)}`,
        })),
      ),
    ),
  },

  // --- linear algebra
  fromDb<Mv<'matmul'>>('matmul', (_a, x, y) => T.matmul(x, y)),
  {
    name: 'matmul 1-D operands',
    covers: ['matmul', 'reshape'],
    arb: instances(
      fc.tuple(shapeArb(0, 2), int(1, 3), int(1, 3), int(1, 3), fc.constantFrom('vec-mat', 'mat-vec', 'vec-vec')).map(([batch, M, K, N, kind]) => {
        const a = kind === 'mat-vec' ? [...batch, M, K] : [K];
        const b = kind === 'vec-mat' ? [...batch, K, N] : [K];
        return { f: (x: Tensor, y: Tensor) => T.matmul(x, y), inputs: [{ shape: a, dom: 'any' }, { shape: b, dom: 'any' }], label: `matmul ${kind} a ${fmt(a)} b ${fmt(b)}` };
      }),
    ),
  },

  // --- movement (shapes and attributes: the op database entries, `fromDb`)
  fromDb<Mv<'transpose'>>('transpose', ({ perm }, x) => T.transpose(x, perm)),
  // through a (non-linear) square so that the reshape's cotangent is not a constant
  fromDb<Mv<'reshape'>>('reshape', ({ target }, x) => T.square(T.reshape(x, target))),
  fromDb<Mv<'expandDims'>>('expandDims', ({ axis }, x) => T.mul(T.squeeze(T.expandDims(x, axis), axis), T.flatten(x).reshape(x.shape)), ['reshape'], 'flatten/expandDims/squeeze'),
  fromDb<Mv<'clone'>>('clone', (_a, x) => T.mul(T.clone(x), x)),
  fromDb<Mv<'broadcastTo'>>('broadcastTo', ({ target }, x) => T.broadcastTo(x, target)),
  fromDb<Mv<'slice'>>('slice', ({ begin, size, step }, x) => T.slice(x, begin, size, step), ['slice'], 'slice with steps'),
  fromDb<Mv<'pad'>>('pad', ({ pads, value }, x) => T.pad(x, pads, value)),
  fromDb<Mv<'concat'>>('concat', ({ axis }, ...xs) => T.concat(xs, axis), ['concat'], 'concat of 3'),
  fromDb<Mv<'stack'>>('stack', ({ axis }, ...xs) => T.stack(xs, axis)),
  // indices with a repeat: the gradient must accumulate (scatterAdd sums the rows); index
  // tensors are created inside f, on whichever backend f runs on
  fromDb<Mv<'gather'>>('gather', ({ axis, indexShape, indices }, x) => T.gather(x, T.tidy(() => T.reshape(T.tensor(indices), indexShape)), axis), ['gather'], 'gather repeated indices'),
  fromDb<Mv<'scatterAdd'>>('scatterAdd', ({ axis, dimSize, indices, form }, g) =>
    form === 'array' ? T.scatterAdd(g, indices, axis, dimSize) : T.scatterAdd(g, T.tidy(() => T.reshape(T.tensor(indices), form === 'column' ? [indices.length, 1] : [1, indices.length])), axis, dimSize),
  ),

  // --- convolution and pooling
  conv2dCase('conv2d'),
  conv2dCase("conv2d padding 'same'", { same: true }),
  conv2dCase('conv2d groups=2 stride=2 dilation=2', { groups: 2, stride: 2, dilation: 2 }),
  filterGradCase('conv2dFilterGrad'),
  convTransposeCase('convTranspose2d'),
  convTransposeCase('convTranspose2d outputPadding', true),
  {
    name: 'maxPool2d',
    covers: ['maxPool2dGather'],
    arb: instances(
      poolConfigArb().map((k) => ({
        f: (x: Tensor) => T.maxPool2d(x, k.kernel, { stride: k.stride, padding: k.padding }),
        inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'distinct' }],
        label: `maxPool2d ${poolLabel(k)}`,
      })),
    ),
  },
  {
    name: 'maxPool2dGather',
    covers: ['maxPool2dGather'],
    arb: instances(
      poolConfigArb().map((k) => ({
        f: (x: Tensor, v: Tensor) => T.maxPool2dGather(x, v, k.kernel, { stride: k.stride, padding: k.padding }),
        inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'distinct' }, { shape: [k.N, k.C, k.H, k.W], dom: 'any' }],
        label: `maxPool2dGather ${poolLabel(k)}`,
      })),
    ),
  },
  {
    name: 'maxPool2dScatter',
    covers: ['maxPool2dScatter'],
    arb: instances(
      poolConfigArb().map((k) => {
        const Ho = outSize(k.H, k.kernel[0], k.stride[0], k.padding[0], 1);
        const Wo = outSize(k.W, k.kernel[1], k.stride[1], k.padding[1], 1);
        return {
          f: (x: Tensor, g: Tensor) => T.maxPool2dScatter(x, g, k.kernel, { stride: k.stride, padding: k.padding }),
          inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'distinct' }, { shape: [k.N, k.C, Ho, Wo], dom: 'any' }],
          label: `maxPool2dScatter ${poolLabel(k)}`,
        };
      }),
    ),
  },
  {
    name: 'avgPool2d',
    covers: ['conv2d'],
    arb: instances(
      poolConfigArb().map((k) => ({
        f: (x: Tensor) => T.avgPool2d(x, k.kernel, { stride: k.stride, padding: k.padding }),
        inputs: [{ shape: [k.N, k.C, k.H, k.W], dom: 'any' }],
        label: `avgPool2d ${poolLabel(k)}`,
      })),
    ),
  },
  {
    name: 'upsampleNearest2d',
    covers: ['reshape', 'broadcastTo'],
    arb: instances(
      fc.tuple(int(1, 2), int(1, 2), int(1, 3), int(1, 3), int(1, 3), int(1, 3)).map(([N, C, H, W, sh, sw]) => ({
        f: (x: Tensor) => T.upsampleNearest2d(x, [sh, sw]),
        inputs: [{ shape: [N, C, H, W], dom: 'any' }],
        label: `upsampleNearest2d x [${N},${C},${H},${W}] scale [${sh},${sw}]`,
      })),
    ),
  },

  // --- tiny fixed cases, also checked entry by entry (full Jacobian)
  tiny('jacobian tanh', ['tanh'], { f: (x) => T.tanh(x), inputs: [{ shape: [2, 3], dom: 'any' }], label: 'tanh x [2,3]' }),
  tiny('jacobian mul broadcast', ['mul'], {
    f: (a, b) => T.mul(a, b),
    inputs: [{ shape: [2, 1], dom: 'any' }, { shape: [3], dom: 'any' }],
    label: 'mul a [2,1] b [3]',
  }),
  tiny('jacobian softmax', ['exp', 'div'], { f: (x) => T.softmax(x, 0), inputs: [{ shape: [3, 2], dom: 'any' }], label: 'softmax x [3,2] axis 0' }),
  tiny('jacobian matmul vec-mat', ['matmul'], {
    f: (a, b) => T.matmul(a, b),
    inputs: [{ shape: [3], dom: 'any' }, { shape: [2, 3, 2], dom: 'any' }],
    label: 'matmul a [3] b [2,3,2]',
  }),
  tiny('jacobian gather repeats', ['gather'], {
    f: (x) => T.gather(x, [2, 0, 2, 2], 1),
    inputs: [{ shape: [2, 3], dom: 'any' }],
    label: 'gather x [2,3] indices [2,0,2,2] axis 1',
  }),
  tiny('jacobian slice steps', ['slice'], {
    f: (x) => T.slice(x, [1, 0], [-1, 2], [2, 3]),
    inputs: [{ shape: [5, 4], dom: 'any' }],
    label: 'slice x [5,4] begin [1,0] size [-1,2] step [2,3]',
  }),
  tiny('jacobian conv2d', ['conv2d'], {
    f: (x, w) => T.conv2d(x, w, { stride: 2, padding: 1, groups: 2 }),
    inputs: [{ shape: [1, 2, 3, 3], dom: 'any' }, { shape: [2, 1, 2, 2], dom: 'any' }],
    label: 'conv2d x [1,2,3,3] w [2,1,2,2] stride 2 padding 1 groups 2',
  }),
  tiny('jacobian maxPool2d', ['maxPool2dGather'], {
    f: (x) => T.maxPool2d(x, 2, { stride: 1 }),
    inputs: [{ shape: [1, 1, 3, 3], dom: 'distinct' }],
    label: 'maxPool2d x [1,1,3,3] kernel 2 stride 1',
  }),
];

/** Look up a case by name (throws on a typo). */
export function caseNamed(name: string): Case {
  const c = CASES.find((k) => k.name === name);
  if (!c) throw new Error(`no gradcheck case named '${name}'`);
  return c;
}

// ------------------------------------------------------------------------------------------
// Running an instance

export type TestBackend = 'reference' | 'webasm';

/** The instance's inputs as tensors on `backend` (the caller disposes them). */
export function materialize(inst: Instance, backend: TestBackend): Tensor[] {
  return T.useBackend(backend, () => inst.inputs.map((h) => T.tensor(h.data, h.shape)));
}

/** Fast-check parameters: the process seed (FC_SEED) and numRuns scaled by FC_RUNS_SCALE. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  return { ...fcParamsShared(numRuns), endOnFailure: true };
}

/** Largest error ratio seen per (case, backend), printed when GRADCHECK_STATS is set. */
export const stats = new Map<string, number>();
export function noteRatio(key: string, ratio: number): void {
  stats.set(key, Math.max(stats.get(key) ?? 0, ratio));
}
export function printStats(title: string): void {
  if (!process.env.GRADCHECK_STATS) return;
  const rows = [...stats.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v.toExponential(2).padStart(10)}  ${k}`);
  console.log(`${title}: max |analytic - numeric| / tolerance\n${rows.join('\n')}`);
}

/** The primitives one instance records on a tape watching its differentiated inputs. */
export function recordedOps(inst: Instance): Set<string> {
  const xs = materialize(inst, 'reference');
  const tape = new Tape();
  try {
    (inst.argnums ?? xs.map((_, i) => i)).forEach((i) => tape.watch(xs[i]));
    tape.open();
    T.dispose(T.useBackend('reference', () => T.tidy(() => inst.f(...xs))));
    return new Set(tape.nodes.map((n) => n.op));
  } finally {
    tape.release();
    T.dispose(xs);
  }
}
