// Every VJP rule against finite differences: each primitive (and the composites built from
// them) through gradcheck, on random shapes with broadcasting, values inside each op's
// domain and random attributes, on the float64 reference backend (tight tolerances) and on
// webasm (float32, the backend's default tolerances). The case table lives in cases.ts; the
// first test asserts that the table covers every primitive that has a rule.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { differentiablePrimitives, grad, gradcheck } from '@tapegrad/autograd';
import { CASES, fcParams, materialize, noteRatio, printStats, recordedOps, type Instance, type TestBackend } from './cases.ts';

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
