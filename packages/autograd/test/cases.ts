// The gradcheck case table shared by rules.test.ts and gradgrad.test.ts: one entry per
// primitive (and per composite worth checking on its own), each a fast-check arbitrary of
// *instances*: a function of tensors, host input values and the attributes baked into the
// function (axes, keepDims, conv stride/padding/groups, ...).
//
// The shapes, attributes and value domains of every op's case come from its op database
// entry (`gradSamples`, `grad.domains`; `fromDb`, `fromSamples`); what stays here is how each
// case applies the op (e.g. times x for piecewise-constant ops) and the variants and
// composites that are not one entry ('pow negative base', 'comparisons', 'clip tensor
// bounds', 'matmul 1-D operands', 'oneHot cross-entropy', the constrained conv cases and the
// tiny full-Jacobian cases), which draw from the db's generators (gradShape, gradBroadcast,
// gradConvConfig, ...).
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
import { fcParams as fcParamsShared, CONV_GRAD_SAMPLES, gradAxes, gradBroadcast, gradConvConfig, gradConvTConfig, gradPoolConfig, gradShape, gradValues, MOVEMENT_GRAD_SAMPLES, NORM_GRAD_SAMPLES, opInfo, type MovementGradAttrs, type ConvConfig, type ConvConstraints, type ConvTConfig, type PoolConfig, opsOfKind, type GradDomain, type OpInfo } from '@tapegrad/tensor/testing';

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

// (configurations: the op database's gradConvConfig, gradConvTConfig, gradPoolConfig)
export const convConfigArb = gradConvConfig;
export const convTConfigArb = gradConvTConfig;
export const poolConfigArb = gradPoolConfig;
export type { ConvConfig, ConvConstraints, ConvTConfig, PoolConfig };

const convOpts = (k: ConvConfig): T.Conv2dOptions => ({ stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups });
const convLabel = (k: ConvConfig) =>
  `x [${k.N},${k.C},${k.H},${k.W}] w [${k.O},${k.C / k.groups},${k.KH},${k.KW}] stride ${k.stride} padding ${k.padding} dilation ${k.dilation} groups ${k.groups}`;

const poolLabel = (k: PoolConfig) => `x [${k.N},${k.C},${k.H},${k.W}] kernel ${k.kernel} stride ${k.stride} padding ${k.padding}`;

// ------------------------------------------------------------------------------------------
// Case builders

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

/** The case of a binary op database entry: its samples (broadcast shapes) and gradient domains. */
function binaryFromDb(o: OpInfo): Case {
  const op = (T as unknown as Record<string, (a: Tensor, b: Tensor) => Tensor>)[o.name];
  return fromDb<Record<string, never>>(o.name, (_a, x, y) => op(x, y));
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
        ...(o.grad.argnums ? { argnums: o.grad.argnums } : {}),
        label: `${caseName} x ${shapes.map(fmt).join(' ')} ${Object.entries(attrs).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(' ')}`,
      })),
    ),
  };
}
type Red = { axes: number[] | undefined; keepDims: boolean };
type Ax = { axis: number };
type Mv<K extends keyof typeof MOVEMENT_GRAD_SAMPLES> = MovementGradAttrs<K>;

const tiny = (name: string, covers: string[], spec: Spec): Case => ({ name, covers, jacobian: true, arb: instances(fc.constant(spec)) });

/** A case from op database gradient samples (the conv entries take constraints). */
function fromSamples<Attrs>(name: string, entry: string, samples: fc.Arbitrary<{ shapes: number[][]; attrs: Attrs }>, op: (a: Attrs, ...xs: Tensor[]) => Tensor, label: (a: Attrs) => string): Case {
  const o = opInfo(entry);
  const doms = o.grad.domains!;
  return {
    name,
    covers: o.primitives,
    arb: instances(samples.map(({ shapes, attrs }) => ({ f: (...xs: Tensor[]) => op(attrs, ...xs), inputs: shapes.map((shape, k) => ({ shape, dom: doms[k] })), label: `${entry} ${label(attrs)}` }))),
  };
}

export function conv2dCase(name: string, c: ConvConstraints = {}): Case {
  return fromSamples(name, 'conv2d', CONV_GRAD_SAMPLES.conv2d(c), (k, x, w) => T.conv2d(x, w, convOpts(k)), convLabel);
}

export function filterGradCase(name: string, c: ConvConstraints = {}): Case {
  return fromSamples(name, 'conv2dFilterGrad', CONV_GRAD_SAMPLES.conv2dFilterGrad(c), (k, x, dy) => T.conv2dFilterGrad(x, dy, [k.O, k.C / k.groups, k.KH, k.KW], convOpts(k)), convLabel);
}

const convTOpts = (k: ConvTConfig) => ({ stride: k.stride, padding: k.padding, dilation: k.dilation, groups: k.groups, outputPadding: k.outputPadding });
export function convTransposeCase(name: string, withOutputPadding = false, maxHW = 4): Case {
  return fromSamples(name, 'convTranspose2d', CONV_GRAD_SAMPLES.convTranspose2d(withOutputPadding, maxHW), (k, x, w) => T.convTranspose2d(x, w, convTOpts(k)), (k) =>
    `x [${k.N},${k.Cin},${k.H},${k.W}] w [${k.Cin},${k.Og},${k.KH},${k.KW}] ${JSON.stringify(convTOpts(k))}`,
  );
}

// ------------------------------------------------------------------------------------------
// The table

export const CASES: Case[] = [
  // --- unary primitives: one case per op database entry, on its gradient domain.
  // Piecewise-constant ops (documented zero gradient) are multiplied by x so a non-zero
  // gradient flows beside them; away from the jumps the numeric derivative is exactly 0 too.
  ...opsOfKind('unary').map((o) => {
    const op = (T as unknown as Record<string, (x: Tensor) => Tensor>)[o.name];
    return fromDb<Record<string, never>>(o.name, o.grad.differentiable === 'zero' ? (_a, x) => T.mul(x, op(x)) : (_a, x) => op(x), [o.name]);
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
  fromDb<Record<string, never>>('where', (_a, c, x, y) => T.where(c, x, y)),
  fromDb<{ lo: number; hi: number }>('clip', ({ lo, hi }, x) => T.clip(x, lo, hi)),
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
  fromSamples('maxPool2d', 'maxPool2d', CONV_GRAD_SAMPLES.maxPool2d(), (k, x) => T.maxPool2d(x, k.kernel, { stride: k.stride, padding: k.padding }), poolLabel),
  fromSamples('maxPool2dGather', 'maxPool2dGather', CONV_GRAD_SAMPLES.maxPool2dGather(), (k, x, v) => T.maxPool2dGather(x, v, k.kernel, { stride: k.stride, padding: k.padding }), poolLabel),
  fromSamples('maxPool2dScatter', 'maxPool2dScatter', CONV_GRAD_SAMPLES.maxPool2dScatter(), (k, x, g) => T.maxPool2dScatter(x, g, k.kernel, { stride: k.stride, padding: k.padding }), poolLabel),
  fromSamples('avgPool2d', 'avgPool2d', CONV_GRAD_SAMPLES.avgPool2d(), (k, x) => T.avgPool2d(x, k.kernel, { stride: k.stride, padding: k.padding }), poolLabel),
  fromSamples('upsampleNearest2d', 'upsampleNearest2d', CONV_GRAD_SAMPLES.upsampleNearest2d(), ({ scale }, x) => T.upsampleNearest2d(x, scale), ({ scale }) => `scale ${fmt(scale)}`),

  // --- the fused groupNorm and the primitives of its VJP (shapes: the op database entry)
  ...groupNormCases(),

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

/** groupNorm (with and without affine) and groupNormGrad / groupNormParamGrad on their own. */
function groupNormCases(): Case[] {
  const any = (shape: number[]): InputSpec => ({ shape, dom: 'any' });
  const make = (name: string, build: (G: number, eps: number, x: number[], C: number) => { f: Fn; inputs: InputSpec[] }): Case => ({
    name,
    covers: [name.split(' ')[0]],
    arb: instances(
      NORM_GRAD_SAMPLES.groupNorm().map(({ shapes, attrs: { groups, eps } }) => ({
        ...build(groups, eps, shapes[0], shapes[0][1]),
        label: `${name} x ${fmt(shapes[0])} groups ${groups} eps ${eps}`,
      })),
    ),
  });
  return [
    make('groupNorm', (G, eps, x, C) => ({ f: (t, ga, be) => T.groupNorm(t, G, { gamma: ga, beta: be, eps }), inputs: [any(x), any([C]), any([C])] })),
    make('groupNorm without affine', (G, eps, x) => ({ f: (t) => T.groupNorm(t, G, { eps }), inputs: [any(x)] })),
    make('groupNormGrad', (G, eps, x, C) => ({ f: (t, g, ga) => T.groupNormGrad(t, g, G, { gamma: ga, eps }), inputs: [any(x), any(x), any([C])] })),
    make('groupNormParamGrad', (G, eps, x) => ({ f: (t, g) => T.groupNormParamGrad(t, g, G, { eps }), inputs: [any(x), any(x)] })),
  ];
}
