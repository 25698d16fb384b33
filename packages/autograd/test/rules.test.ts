// Every VJP rule against finite differences: each primitive (and the composites built from
// them) through gradcheck, on random shapes with broadcasting, values inside each op's
// domain and random attributes, on the float64 reference backend (tight tolerances) and on
// webasm (float32, the backend's default tolerances). The case table lives in cases.ts; the
// first test asserts that the table covers every primitive that has a rule.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { differentiablePrimitives, grad, gradcheck } from '@tapegrad/autograd';
import { gradientProperty } from '@tapegrad/autograd/testing';
import { OP_DB, gradValues, type GradDomain, type OpInfo } from '@tapegrad/tensor/testing';
import type { Tensor } from '@tapegrad/tensor';
import { CASES, axesArb, fcParams, materialize, noteRatio, printStats, recordedOps, shapeArb, type Instance, type TestBackend } from './cases.ts';

const BACKENDS: TestBackend[] = ['reference', 'webasm'];
/** Random instances per case and backend (each runs f a few dozen times). */
const NUM_RUNS: Record<TestBackend, number> = { reference: 20, webasm: 12 };
/** Full-Jacobian cases compare every entry: fewer instances. */
const JACOBIAN_RUNS = 3;

/** Composites the issue names explicitly: each must have a case of this name. */
const REQUIRED_CASES = [
  'softmax', 'logSoftmax', 'logsumexp', 'mean', 'variance', 'clip', 'avgPool2d', 'maxPool2d', 'upsampleNearest2d',
  'stack', 'gelu', 'silu', "conv2d padding 'same'", 'conv2d groups=2 stride=2 dilation=2', 'convTranspose2d outputPadding',
  'slice with steps', 'gather repeated indices', 'pad', 'concat of 3', 'matmul', 'matmul 1-D operands', 'where',
  'maximum', 'minimum', 'pow', 'pow negative base',
];

async function check(name: string, inst: Instance, backend: TestBackend, jacobian: boolean): Promise<void> {
  const xs = materialize(inst, backend);
  try {
    const report = await gradcheck(inst.f, xs, { directions: 2, jacobian, seed: inst.seed, argnums: inst.argnums });
    expect(report.ok).toBe(true);
    expect(report.checks).toBeGreaterThan(0);
    expect(report.backend).toBe(backend);
    noteRatio(`${name} @${backend}`, report.maxErrorRatio);
  } catch (e) {
    throw new Error(`${name} on ${backend}: ${inst.label}: ${(e as Error).message}`);
  } finally {
    T.dispose(xs);
  }
}

describe('coverage of the case table', () => {
  test('every primitive with a rule is recorded by some gradcheck case', () => {
    const covered = new Map<string, string[]>();
    for (const c of CASES) {
      const ops = new Set<string>();
      for (const inst of fc.sample(c.arb, { numRuns: 6, seed: 42 })) for (const op of recordedOps(inst)) ops.add(op);
      for (const want of c.covers) expect(ops.has(want), `case '${c.name}' is meant to exercise '${want}' but records only ${[...ops]}`).toBe(true);
      for (const op of ops) covered.set(op, [...(covered.get(op) ?? []), c.name]);
    }
    // including the documented zero-gradient primitives (comparisons, sign, floor, step,
    // argmax, argmin): their cases check the gradient is 0 where the numeric one is
    const missing = differentiablePrimitives().filter((p) => !covered.has(p));
    expect(missing, `primitives without a gradcheck case: ${missing.join(', ')}`).toEqual([]);
  });

  test('every primitive with a rule is named by some op database entry (@tapegrad/tensor/testing OP_DB)', () => {
    const named = new Set(OP_DB.flatMap((o) => o.primitives));
    expect(differentiablePrimitives().filter((p) => !named.has(p))).toEqual([]);
  });

  test('every differentiable op database entry has gradient domains, and samples unless elementwise', () => {
    // squeeze: checked through expandDims's samples (squeeze(expandDims(x, a), a))
    const without = OP_DB.filter((o) => o.grad.differentiable !== 'none' && o.name !== 'squeeze')
      .filter((o) => !o.grad.domains || (o.kind !== 'unary' && o.kind !== 'binary' && !o.gradSamples))
      .map((o) => o.name);
    expect(without).toEqual([]);
  });

  test('the composites named in the issue have cases', () => {
    const names = new Set(CASES.map((c) => c.name));
    expect(REQUIRED_CASES.filter((n) => !names.has(n))).toEqual([]);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });
});

describe.each(BACKENDS)('gradcheck on %s', (backend) => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const runs = c.jacobian ? JACOBIAN_RUNS : NUM_RUNS[backend];
    await fc.assert(
      fc.asyncProperty(c.arb, (inst) => check(name, inst, backend, c.jacobian === true)),
      fcParams(runs),
    );
    printStats(`gradcheck ${name} @${backend}`);
  });
});

describe.each(BACKENDS)('ties of maximum / minimum on %s', (backend) => {
  // At a == b the rules give each argument half the cotangent. That is the symmetric
  // central difference: (max(a + h, b) - max(a - h, b)) / 2h = 1/2.
  const a0 = [0.5, -1, 2, 0.25];
  const b0 = [0.5, -1, 2, 0.25];
  const central = (op: (a: T.Tensor, b: T.Tensor) => T.Tensor, i: number, h: number) =>
    T.useBackend('reference', () =>
      T.tidy(() => {
        const at = (d: number) => {
          const a = a0.slice();
          a[i] += d;
          return T.sum(op(T.tensor(a), T.tensor(b0))).dataSync()[0];
        };
        return (at(h) - at(-h)) / (2 * h);
      }),
    );

  for (const [name, op] of [['maximum', T.maximum], ['minimum', T.minimum]] as const) {
    test(`${name}: 1/2 to each argument, as the central difference`, async () => {
      const [a, b] = T.useBackend(backend, () => [T.tensor(a0), T.tensor(b0)]);
      try {
        const [ga, gb] = T.useBackend(backend, () => grad((x: T.Tensor, y: T.Tensor) => T.sum(op(x, y)), [0, 1])(a, b)) as T.Tensor[];
        try {
          const [va, vb] = [await ga.data(), await gb.data()];
          for (let i = 0; i < a0.length; i++) {
            expect(va[i]).toBe(0.5);
            expect(vb[i]).toBe(0.5);
            expect(central(op, i, 1e-3)).toBeCloseTo(0.5, 12);
          }
        } finally {
          T.dispose([ga, gb]);
        }
        // and along random directions, entry by entry
        const report = await gradcheck(op, [a, b], { directions: 3, jacobian: true });
        expect(report.ok).toBe(true);
      } finally {
        T.dispose([a, b]);
      }
    });
  }
});

// ------------------------------------------------------------------------------------------
// Analytic gradients of the elementwise ops against their float64 closed-form derivatives
// (the op database's `derivative`), not against finite differences: gradcheck's float32
// tolerance (rtol 2e-3) cannot see a rule that is off by 0.1%, this can. Budgets: the
// reference computes in float64 (1e-9 relative); webasm's float32 rule is a handful of
// roundings plus the rational erf's 2e-7 (1e-5 relative + 4e-6 absolute, |x| <= 3). A rule
// off by 0.1% errs by 1e-3 |d|, so fixed points where |d| ~ 1 catch it with 100x margin.

const FIXED_POINTS: Partial<Record<GradDomain, number[]>> = {
  any: [1, 2, -2, 0.5, -1.5], wide: [1, 2, 2.5, -2.5, 0.5], pos: [0.5, 1, 2, 2.5], nonzero: [1, -1, 0.5], frac: [0.5, 1.25, -1.5],
  denom: [0.5, -0.5, 2], expo: [-1.5, 0.5, 2], odd: [1 / 32, -31 / 32, 1.5], even: [0, 1, -1.5], ties: [-2, 0, 2],
};
const DERIV_TOL: Record<TestBackend, { rtol: number; atol: number }> = { reference: { rtol: 1e-9, atol: 1e-12 }, webasm: { rtol: 1e-5, atol: 4e-6 } };

/** Gradient of sum(op(inputs)) on `backend` vs the closed form, elementwise; returns the failures. */
async function derivativeFailures(o: OpInfo, cols: number[][], backend: TestBackend): Promise<string[]> {
  const op = (T as unknown as Record<string, (...xs: Tensor[]) => Tensor>)[o.name];
  const xs = T.useBackend(backend, () => cols.map((c) => T.tensor(c)));
  const fails: string[] = [];
  try {
    const argnums = cols.map((_, i) => i);
    const gs = T.useBackend(backend, () => grad((...ts: Tensor[]) => T.sum(op(...ts)), argnums)(...xs)) as Tensor[];
    try {
      const got = await Promise.all(gs.map((g) => g.data()));
      const { rtol, atol } = DERIV_TOL[backend];
      for (let i = 0; i < cols[0].length; i++) {
        const at = cols.map((c) => Math.fround(c[i]));
        const want = o.derivative!(...at);
        want.forEach((w, k) => {
          const err = Math.abs(got[k][i] - w);
          if (!(err <= atol + rtol * Math.abs(w))) fails.push(`d${o.name}/dx${k} at ${JSON.stringify(at)} on ${backend}: ${got[k][i]}, closed form ${w} (|error| ${err.toExponential(2)})`);
        });
      }
    } finally {
      T.dispose(gs);
    }
  } finally {
    T.dispose(xs);
  }
  return fails;
}

describe.each(BACKENDS)('closed-form derivatives on %s', (backend) => {
  const entries = OP_DB.filter((o) => o.derivative && o.grad.domains);
  test('every unary and binary primitive of the op database has a closed-form derivative checked here', () => {
    expect(entries.filter((o) => o.kind === 'unary').length).toBe(19);
    expect(entries.filter((o) => o.kind === 'binary').length).toBe(13);
  });
  test.each(entries.map((o) => [o.name, o] as const))('%s: fixed points where |derivative| is large, then a property', async (_name, o) => {
    const doms = o.grad.domains!.slice(0, o.kind === 'binary' ? 2 : 1);
    // fixed points: every combination of each input domain's points
    const pts = doms.map((d) => FIXED_POINTS[d] ?? []);
    const cols: number[][] = doms.map(() => []);
    const rec = (k: number, acc: number[]) => {
      if (k === pts.length) return acc.forEach((v, i) => cols[i].push(v));
      for (const v of pts[k]) rec(k + 1, [...acc, v]);
    };
    rec(0, []);
    expect(await derivativeFailures(o, cols, backend)).toEqual([]);
    // and random points of the gradient domains (ties too for the kinked selections)
    const domSets = o.grad.differentiable === 'kinked' && o.kind === 'binary' ? [doms, ['ties', 'ties'] as GradDomain[]] : [doms];
    for (const ds of domSets) {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...ds.map((d) => gradValues(n, d)))), async (vals) => {
          const fails = await derivativeFailures(o, vals, backend);
          if (fails.length) throw new Error(fails.slice(0, 3).join('\n'));
        }),
        fcParams(backend === 'reference' ? 10 : 8),
      );
    }
  });
});

// ------------------------------------------------------------------------------------------
// Ties of max / min reductions: the README promises tied elements share the cotangent
// equally. Closed form: d/dx_i sum_o w_o max(x)_o = w_o / #{j in group o : x_j = max_o} where
// x_i attains the maximum of its group o, else 0. Small integers make ties the rule.

/** The closed-form gradient of sum(w * op(x, axes, keepDims)) with w_o = o + 1. */
function tiedGradient(op: 'max' | 'min', x: number[], shape: number[], axes: number[]): number[] {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const st = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((p, d) => p * d, 1));
  const inSt = st(shape);
  const outSt = st(outShape);
  const group = x.map((_, i) => {
    let o = 0;
    for (let d = 0, k = 0; d < shape.length; d++) {
      const idx = Math.floor(i / inSt[d]) % shape[d];
      if (!axes.includes(d)) o += idx * outSt[k++];
    }
    return o;
  });
  const ext = new Map<number, number>();
  x.forEach((v, i) => ext.set(group[i], ext.has(group[i]) ? (op === 'max' ? Math.max(ext.get(group[i])!, v) : Math.min(ext.get(group[i])!, v)) : v));
  const count = new Map<number, number>();
  x.forEach((v, i) => v === ext.get(group[i]) && count.set(group[i], (count.get(group[i]) ?? 0) + 1));
  return x.map((v, i) => (v === ext.get(group[i]) ? (group[i] + 1) / count.get(group[i])! : 0));
}

async function tieFailures(op: 'max' | 'min', x: number[], shape: number[], axes: number[] | undefined, keepDims: boolean, backend: TestBackend): Promise<string[]> {
  const ax = axes === undefined ? shape.map((_, i) => i) : axes.map((a) => (a < 0 ? a + shape.length : a)).sort((a, b) => a - b);
  const xt = T.useBackend(backend, () => T.tensor(x, shape));
  try {
    const f = (t: Tensor) => {
      const y = T[op](t, axes, keepDims);
      const w = T.reshape(T.add(T.arange(y.size), 1), y.shape);
      return T.sum(T.mul(y, w));
    };
    const g = T.useBackend(backend, () => grad(f)(xt)) as Tensor;
    try {
      const got = await g.data();
      const want = tiedGradient(op, x, shape, ax);
      const fails: string[] = [];
      want.forEach((w, i) => {
        if (Math.abs(got[i] - w) > 1e-6 * Math.abs(w)) fails.push(`${op}(x ${JSON.stringify(shape)}=${JSON.stringify(x)}, axes ${JSON.stringify(axes)}, keepDims ${keepDims}) on ${backend}: dx[${i}] = ${got[i]}, closed form ${w}`);
      });
      return fails;
    } finally {
      g.dispose();
    }
  } finally {
    xt.dispose();
  }
}

describe.each(BACKENDS)('ties of max / min reductions on %s', (backend) => {
  for (const op of ['max', 'min'] as const) {
    test(`${op}: tied elements share the cotangent equally (fixed cases, closed form)`, async () => {
      const fails = [
        // [1, 3, 3] -> 0, 1/2, 1/2 of w = 1; a row of three equal values: 2/3 each of w = 2
        ...(await tieFailures(op, op === 'max' ? [1, 3, 3, 2, 2, 2] : [3, 1, 1, 2, 2, 2], [2, 3], [1], false, backend)),
        // over every axis: four tied extremes of six
        ...(await tieFailures(op, [5, 5, -5, 5, -5, 5], [3, 2], undefined, true, backend)),
        // over the first of three axes
        ...(await tieFailures(op, [0, 1, 0, 1, 0, 0, 1, 1], [2, 2, 2], [0], false, backend)),
      ];
      expect(fails).toEqual([]);
    });
    test(`${op}: ties property (small integers, random axes and keepDims)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb(1, 3).chain((s) => fc.tuple(fc.constant(s), gradValues(s.reduce((p, d) => p * d, 1), 'ties'), axesArb(s.length), fc.boolean())),
          async ([shape, x, axes, keepDims]) => {
            const fails = await tieFailures(op, x, shape, axes, keepDims, backend);
            if (fails.length) throw new Error(fails.slice(0, 3).join('\n'));
          },
        ),
        fcParams(backend === 'reference' ? 30 : 15),
      );
    });
  }
});

describe('gradientProperty takes an op database entry', () => {
  test('every entry with gradient domains and a call (elementwise, reductions, movement, matmul, conv, pool) passes on reference, and gelu on webasm', async () => {
    // (gather and scatterAdd take index tensors: their cases are in cases.ts, and gradientProperty refuses them)
    for (const o of OP_DB.filter((e) => e.grad.domains && e.grad.differentiable !== 'none' && (!e.gradSamples || e.call))) {
      await fc.assert(gradientProperty(o, { backend: 'reference' }), fcParams(3));
    }
    await fc.assert(gradientProperty('gelu', { backend: 'webasm' }), fcParams(5));
  });
  test('an entry without gradient domains is refused in the README error form', () => {
    expect(() => gradientProperty('squeeze')).toThrow(/^gradientProperty: op database entry 'squeeze' has no gradient domains/);
    expect(() => gradientProperty('gather')).toThrow(/^gradientProperty: op database entry 'gather' takes index tensors its description cannot build/);
    expect(() => gradientProperty('oneHot')).toThrow(/^gradientProperty: op database entry 'oneHot' has no gradient;/);
    expect(() => gradientProperty('nope')).toThrow(/^opInfo: no entry 'nope'/);
  });
});
