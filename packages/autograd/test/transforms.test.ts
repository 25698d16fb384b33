// Transform-level behaviour: the invariants and classic checks of reverse-mode AD, the
// error messages, and leak-freedom (test/setup.ts also checks the tensor count after every
// test). Expected values are closed-form derivatives computed here by hand, never taken
// from the code under test.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { customVjp, grad, hvp, jvp, noGrad, stopGradient, valueAndGrad, vjp } from '@tapegrad/autograd';
import { fcRuns } from '@tapegrad/tensor/testing';

const BACKENDS = ['reference', 'webasm'] as const;
const tol = (b: string) => (b === 'reference' ? 1e-10 : 2e-5);

async function values(t: Tensor | Tensor[]): Promise<number[]> {
  const ts = Array.isArray(t) ? t : [t];
  const out: number[] = [];
  for (const x of ts) out.push(...Array.from(await x.data()));
  return out;
}

function expectClose(actual: number[], expected: number[], atol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (Math.abs(a - expected[i]) > atol * (1 + Math.abs(expected[i]))) {
      throw new Error(`element ${i}: ${a} vs expected ${expected[i]} (atol ${atol})`);
    }
  });
}

const shapeArb = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 });
/** Two shapes that broadcast: b is a suffix of a with some dims set to 1. */
const broadcastPairArb = shapeArb.chain((a) =>
  fc.tuple(fc.constant(a), fc.integer({ min: 0, max: a.length }), fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length })).map(([s, drop, ones]) => {
    const b = s.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
    return [s, b] as const;
  }),
);
const dataFor = (shape: readonly number[], min = -2, max = 2) =>
  fc.array(fc.double({ min, max, noNaN: true }), { minLength: T.sizeOf(shape), maxLength: T.sizeOf(shape) });

for (const backend of BACKENDS) {
  describe(`transforms on ${backend}`, () => {
    const on = <R>(fn: () => R): R => T.useBackend(backend, fn);

    it('grad(f)(x).shape equals x.shape for broadcast inputs (property)', async () => {
      await fc.assert(
        fc.asyncProperty(broadcastPairArb.chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), dataFor(a), dataFor(b))), async ([sa, sb, va, vb]) => {
          const [x, y] = on(() => [T.tensor(va, sa), T.tensor(vb, sb)]);
          try {
            const [gx, gy] = on(() => grad((x: Tensor, y: Tensor) => T.sum(T.mul(T.add(x, y), y)), [0, 1])(x, y)) as Tensor[];
            try {
              expect(gx.shape).toEqual(sa);
              expect(gy.shape).toEqual(sb);
              expect(gx.backend).toBe(backend);
            } finally {
              T.dispose([gx, gy]);
            }
          } finally {
            T.dispose([x, y]);
          }
        }),
        { numRuns: fcRuns(15) },
      );
    });

    it('vjp is linear in the cotangent (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.tuple(dataFor([2, 3], -1, 1), dataFor([2, 3], -1, 1), dataFor([2, 3], -1, 1), fc.double({ min: -3, max: 3, noNaN: true })), async ([vx, u1, u2, c]) => {
          const x = on(() => T.tensor(vx, [2, 3]));
          const [out, back] = on(() => vjp((x: Tensor) => T.mul(T.tanh(x), T.exp(x)), x));
          try {
            const [a, b, comb] = on(() => {
              const t1 = T.tensor(u1, [2, 3]);
              const t2 = T.tensor(u2, [2, 3]);
              const tc = T.tidy(() => T.add(T.mul(t1, c), t2));
              try {
                return [back(t1)[0], back(t2)[0], back(tc)[0]] as Tensor[];
              } finally {
                T.dispose([t1, t2, tc]);
              }
            });
            const [va, vb, vc] = [await values(a), await values(b), await values(comb)];
            T.dispose([a, b, comb]);
            expectClose(vc, va.map((v, i) => c * v + vb[i]), 50 * tol(backend));
          } finally {
            back.dispose();
            T.dispose([x, out]);
          }
        }),
        { numRuns: fcRuns(10) },
      );
    });

    it('jvp agrees with vjp: u.(J v) == (J^T u).v (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.tuple(dataFor([3]), dataFor([3, 2]), dataFor([3]), dataFor([3, 2]), dataFor([2])), async ([vx, vw, tx, tw, vu]) => {
          const f = (x: Tensor, w: Tensor) => T.sin(T.matmul(x, w));
          const [x, w, dx, dw, u] = on(() => [T.tensor(vx, [3]), T.tensor(vw, [3, 2]), T.tensor(tx, [3]), T.tensor(tw, [3, 2]), T.tensor(vu, [2])]);
          try {
            const [out, tan] = on(() => jvp(f, [x, w], [dx, dw]));
            const [out2, back] = on(() => vjp(f, x, w));
            const [gx, gw] = on(() => back(u)) as Tensor[];
            const lhs = (await values(tan)).reduce((s, v, i) => s + v * vu[i], 0);
            const gxv = await values(gx);
            const gwv = await values(gw);
            const rhs = gxv.reduce((s, v, i) => s + v * tx[i], 0) + gwv.reduce((s, v, i) => s + v * tw[i], 0);
            back.dispose();
            T.dispose([out, tan, out2, gx, gw]);
            expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(100 * tol(backend) * (1 + Math.abs(rhs)));
          } finally {
            T.dispose([x, w, dx, dw, u]);
          }
        }),
        { numRuns: fcRuns(10) },
      );
    });

    it('nested grad: mixed partials without perturbation confusion', async () => {
      // f(x, y) = x^2 y^3: d/dx (d/dy f) = 6 x y^2. The classic confusion bug (Siskind &
      // Pearlmutter) would also differentiate the inner y-dependence through x's tape.
      const [x, y] = on(() => [T.scalar(1.5), T.scalar(-0.7)]);
      const f = (x: Tensor, y: Tensor) => T.mul(T.square(x), T.pow(y, 3));
      const dxdy = on(() => grad((x: Tensor) => grad((y: Tensor) => f(x, y))(y))(x)) as Tensor;
      expectClose(await values(dxdy), [6 * 1.5 * 0.49], tol(backend));
      // d/dx (x * d/dy (x + y)) = d/dx (x * 1) = 1 (a confused tape would give 2)
      const c = on(() => grad((x: Tensor) => T.mul(x, grad((y: Tensor) => T.add(x, y))(y)))(x)) as Tensor;
      expectClose(await values(c), [1], tol(backend));
      T.dispose([x, y, dxdy, c]);
    });

    it('third derivative through grad(grad(grad(f)))', async () => {
      const x = on(() => T.scalar(0.8));
      const d3 = on(() => grad(grad(grad((x: Tensor) => T.sin(T.mul(x, 2)))))(x)) as Tensor;
      expectClose(await values(d3), [-8 * Math.cos(1.6)], 10 * tol(backend));
      T.dispose([x, d3]);
    });

    it('fan-out: a value used twice accumulates both paths', async () => {
      const x = on(() => T.tensor([0.3, -1.1]));
      // f = sum(x * exp(x) + x): df/dx = exp(x)(1 + x) + 1
      const g = on(() => grad((x: Tensor) => T.sum(T.add(T.mul(x, T.exp(x)), x)))(x)) as Tensor;
      expectClose(await values(g), [0.3, -1.1].map((v) => Math.exp(v) * (1 + v) + 1), tol(backend));
      T.dispose([x, g]);
    });

    it('an ignored input gets a zero gradient of its shape', async () => {
      const [x, y] = on(() => [T.tensor([1, 2]), T.tensor([[1, 2, 3]])]);
      const [gx, gy] = on(() => grad((x: Tensor, _y: Tensor) => T.sum(T.square(x)), [0, 1])(x, y)) as Tensor[];
      expect(gy.shape).toEqual([1, 3]);
      expect(await values(gy)).toEqual([0, 0, 0]);
      expectClose(await values(gx), [2, 4], tol(backend));
      T.dispose([x, y, gx, gy]);
    });

    it('the same tensor passed twice gets separate partials (as JAX)', async () => {
      const x = on(() => T.scalar(3));
      // f(a, b) = a * b^2 at a = b = 3: df/da = 9, df/db = 18
      const [ga, gb] = on(() => grad((a: Tensor, b: Tensor) => T.mul(a, T.square(b)), [0, 1])(x, x)) as Tensor[];
      expectClose([...(await values(ga)), ...(await values(gb))], [9, 18], tol(backend));
      T.dispose([x, ga, gb]);
    });

    it('pytrees in and out: grad has the structure of the argument, hasAux passes aux through', async () => {
      const params = on(() => ({ w: T.tensor([[1, -1], [0.5, 2]]), b: [T.tensor([0.1, -0.2])] }));
      const x = on(() => T.tensor([[1, 2]]));
      const loss = (p: typeof params, x: Tensor) => {
        const y = T.add(T.matmul(x, p.w), p.b[0]);
        return [T.sum(T.square(y)), { y }] as const;
      };
      const [[value, aux], g] = on(() => valueAndGrad(loss, 0, { hasAux: true })(params, x));
      // y = x W + b = [2.1, 2.8]; dL/dW = x^T (2y), dL/db = 2y
      expectClose(await values(aux.y), [2.1, 2.8], tol(backend));
      expectClose(await values(value), [2.1 ** 2 + 2.8 ** 2], tol(backend));
      expect(Object.keys(g).sort()).toEqual(['b', 'w']);
      expectClose(await values(g.w), [4.2, 5.6, 8.4, 11.2], tol(backend));
      expectClose(await values(g.b[0]), [4.2, 5.6], tol(backend));
      T.dispose([params, x, value, aux, g]);
    });

    it('hvp equals the analytic Hessian-vector product', async () => {
      // f(x) = sum(x^3) + x0 x1: H = diag(6x) + [[0,1],[1,0]]
      const [x, v] = on(() => [T.tensor([0.5, -2]), T.tensor([1, 3])]);
      const hv = on(() => hvp((x: Tensor) => T.add(T.sum(T.pow(x, 3)), T.sum(T.mul(T.slice(x, [0], [1]), T.slice(x, [1], [1])))), x, v)) as Tensor;
      expectClose(await values(hv), [6 * 0.5 * 1 + 3, 6 * -2 * 3 + 1], 10 * tol(backend));
      T.dispose([x, v, hv]);
    });

    it('stopGradient and noGrad cut the tape', async () => {
      const x = on(() => T.scalar(2));
      const g1 = on(() => grad((x: Tensor) => T.mul(x, stopGradient(x)))(x)) as Tensor; // d/dx (x * c) = c
      const g2 = on(() => grad((x: Tensor) => T.add(T.square(x), noGrad(() => T.square(x))))(x)) as Tensor;
      expectClose([...(await values(g1)), ...(await values(g2))], [2, 4], tol(backend));
      T.dispose([x, g1, g2]);
    });

    it('customVjp replaces the rule (clipped gradient) and composes with grad', async () => {
      const clipGrad = customVjp(
        (x: Tensor) => T.mul(x, 1),
        (x: Tensor) => [T.mul(x, 1), null],
        (_res, g) => [T.clip(g, -1, 1)],
      );
      const x = on(() => T.tensor([1, 2]));
      const g = on(() => grad((x: Tensor) => T.sum(T.mul(clipGrad(x), 5)))(x)) as Tensor;
      expect(await values(g)).toEqual([1, 1]);
      T.dispose([x, g]);
    });

    it('zero gradients through comparisons and argmax, as documented', async () => {
      const x = on(() => T.tensor([0.5, -1, 2]));
      const g = on(() => grad((x: Tensor) => T.sum(T.add(T.mul(T.greater(x, 0), x), T.argmax(x))))(x)) as Tensor;
      // d/dx [ (x > 0) * x ] = (x > 0); argmax contributes nothing
      expect(await values(g)).toEqual([1, 0, 1]);
      T.dispose([x, g]);
    });

    it('no leak after an exception inside f, and the error propagates', async () => {
      const x = on(() => T.tensor([1, 2]));
      const before = T.memory().tensors;
      expect(() =>
        on(() =>
          grad((x: Tensor) => {
            T.exp(T.mul(x, 2));
            throw new Error('inside f');
          })(x),
        ),
      ).toThrow('inside f');
      expect(T.memory().tensors).toBe(before);
      x.dispose();
    });

    it('vjpFn can be called repeatedly and refuses use after dispose', async () => {
      const x = on(() => T.tensor([1, 2, 3]));
      const [y, back] = on(() => vjp((x: Tensor) => T.square(x), x));
      const u = on(() => T.ones([3]));
      const [g1] = on(() => back(u)) as Tensor[];
      const [g2] = on(() => back(u)) as Tensor[];
      expect(await values(g1)).toEqual(await values(g2));
      back.dispose();
      expect(() => back(u)).toThrow(/vjp: this vjpFn was disposed/);
      T.dispose([x, y, u, g1, g2]);
    });
  });
}

describe('transform errors', () => {
  it('non-scalar output to grad names the shape', () => {
    const x = T.tensor([1, 2]);
    expect(() => grad((x: Tensor) => T.exp(x))(x)).toThrow(/grad: f must return a scalar tensor \(shape \[\]\), got shape \[2\]/);
    x.dispose();
  });
  it('argnums out of range', () => {
    const x = T.tensor([1, 2]);
    expect(() => grad((x: Tensor) => T.sum(x), 2)(x)).toThrow(/grad: argnums 2 is out of range for a call with 1 argument/);
    x.dispose();
  });
  it('a number as a differentiated argument', () => {
    expect(() => grad((x: Tensor) => T.sum(x))(3 as unknown as Tensor)).toThrow(/grad: argument 0 leaf 0 is a number; expected tensors/);
  });
  it('an integer-valued tensor (argmax, randomInt) as a differentiated argument', () => {
    const x = T.tensor([[1, 5, 2], [7, 0, 3]]);
    const idx = T.argmax(x, 1);
    const ints = T.randomInt(T.randomKey(0), [3], 0, 10);
    expect(() => grad((i: Tensor) => T.sum(i))(idx)).toThrow(/grad: argument 0 leaf 0 \(shape \[2\]\) holds integer values \(from argmax, argmin or randomInt\)/);
    const view = T.reshape(ints, [3, 1]);
    expect(() => grad((i: Tensor) => T.sum(i))(view)).toThrow(/holds integer values/);
    // as a non-differentiated argument it is fine
    const g = grad((x: Tensor, i: Tensor) => T.sum(T.mul(x, T.expandDims(i, 1))))(x, idx) as Tensor;
    expect(g.shape).toEqual([2, 3]);
    T.dispose([x, idx, ints, view, g]);
  });
  it('vjp cotangent of the wrong shape', () => {
    const x = T.tensor([1, 2]);
    const [y, back] = vjp((x: Tensor) => T.square(x), x);
    const u = T.ones([3]);
    expect(() => back(u)).toThrow(/vjp: cotangent 0 has shape \[3\]; expected the output's shape \[2\]/);
    back.dispose();
    T.dispose([x, y, u]);
  });
  it('gradcheck of a function that closes over a tensor explains the fix', async () => {
    const w = T.useBackend('webasm', () => T.tensor([1, 2]));
    const x = T.useBackend('webasm', () => T.tensor([0.5, 0.25]));
    const { gradcheck } = await import('@tapegrad/autograd');
    await expect(gradcheck((x: Tensor) => T.sum(T.mul(x, w)), [x])).rejects.toThrow(
      /gradcheck: f reads a tensor it did not receive as an input .*pass every tensor f uses as an input/,
    );
    T.dispose([w, x]);
  });
  it('jvp with mismatched tangents', () => {
    const x = T.tensor([1, 2]);
    const t = T.tensor([1]);
    expect(() => jvp((x: Tensor) => T.square(x), [x], [t])).toThrow(/jvp: tangent 0 must have the structure and shapes of primal 0/);
    T.dispose([x, t]);
  });
});
