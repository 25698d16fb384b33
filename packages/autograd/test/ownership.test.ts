// Ownership (issue 8 §2): a transform frees only what it created. Every transform is run with
// functions that return their input, a closed-over tensor, and parameters (a pytree the
// caller owns), also inside aux and customVjp residuals; afterwards the caller's tensors are
// still readable with their values, and once the caller disposes what the transform returned,
// tensors, buffers and bytes are back where they started.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { customVjp, grad, gradcheck, gradgradcheck, hvp, jvp, valueAndGrad, vjp } from '@tapegrad/autograd';

T.useBackend('reference', () => undefined); // start it synchronously
await T.setBackend('reference');

/** The caller's tensors: a closed-over scalar w and a parameter tree p. */
function outsiders() {
  const w = T.scalar(5);
  const p = { a: T.tensor([1, 2]), b: [T.scalar(3)] };
  return { w, p, all: [w, p.a, p.b[0]], values: [[5], [1, 2], [3]] };
}

/** Run `body` with fresh outsiders; check they survive and that nothing leaks. */
async function owned(body: (o: ReturnType<typeof outsiders>) => Promise<unknown> | unknown): Promise<void> {
  const before = T.memory();
  const o = outsiders();
  let results: unknown;
  try {
    results = await body(o);
    for (const [i, t] of o.all.entries()) {
      expect(t.isDisposed, `the caller's tensor ${i} was disposed`).toBe(false);
      expect(Array.from(await t.data())).toEqual(o.values[i]);
    }
  } finally {
    T.dispose(results);
    T.dispose(o.all);
  }
  expect(T.memory()).toEqual(before);
}

const x0 = () => T.scalar(2);

describe('grad / valueAndGrad never dispose what f returns from outside', () => {
  it('grad of a function returning a closed-over tensor (the example of the issue)', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const g = grad((_x: Tensor) => w)(x);
      expect(Array.from(await g.data())).toEqual([0]);
      return [x, g];
    });
  });

  it('grad of a function returning a parameter it received as a non-differentiated argument', async () => {
    await owned(async ({ p }) => {
      const x = x0();
      const g = grad((_x: Tensor, q: typeof p) => q.b[0], 0)(x, p);
      expect(Array.from(await g.data())).toEqual([0]);
      return [x, g];
    });
  });

  it('grad of a function returning its input', async () => {
    await owned(async () => {
      const x = x0();
      const g = grad((x: Tensor) => x)(x);
      expect(Array.from(await g.data())).toEqual([1]);
      expect(Array.from(await x.data())).toEqual([2]);
      return [x, g];
    });
  });

  it('grad with hasAux: the aux pytree holds closed-over tensors and parameters', async () => {
    await owned(async ({ w, p }) => {
      const x = x0();
      const g = grad((x: Tensor) => [T.mul(x, 3), { w, p }], 0, { hasAux: true })(x);
      expect(Array.from(await g.data())).toEqual([3]);
      return [x, g];
    });
  });

  it('valueAndGrad with hasAux returns the caller\'s tensors as they are, alive', async () => {
    await owned(async ({ w, p }) => {
      const x = x0();
      const [[v, aux], g] = valueAndGrad((x: Tensor) => [T.mul(x, 3), { w, p, x }], 0, { hasAux: true })(x);
      expect(aux.w).toBe(w);
      expect(aux.p).toBe(p);
      expect(Array.from(await v.data())).toEqual([6]);
      expect(Array.from(await aux.x.data())).toEqual([2]);
      return [x, v, aux.x, g];
    });
  });

  it('an error after f ran frees what f made but not the caller\'s tensors', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      // f returns a non-scalar: the transform throws, and must not free w
      expect(() => grad((_x: Tensor) => [w, T.tensor([1, 2])])(x)).toThrow(/^grad: f must return a scalar Tensor/);
      expect(() => valueAndGrad((_x: Tensor) => [T.ones([2]), { w }], 0, { hasAux: true })(x)).toThrow(/^valueAndGrad: f must return a scalar tensor/);
      return [x];
    });
  });
});

describe('vjp / jvp / hvp never dispose what f returns from outside', () => {
  it('vjp of a function returning a closed-over tensor and a parameter tree', async () => {
    await owned(async ({ w, p }) => {
      const x = x0();
      const [y, back] = vjp((x: Tensor) => ({ w, p, y: T.mul(x, 2) }), x);
      const u = { w: T.scalar(1), p: { a: T.ones([2]), b: [T.scalar(1)] }, y: T.scalar(1) };
      const [gx] = back(u);
      back.dispose();
      expect(Array.from(await gx.data())).toEqual([2]);
      return [x, y.y, u, gx];
    });
  });

  it('vjp whose output is invalid (a number leaf) frees what f made, not the caller\'s tensors', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      expect(() => vjp((x: Tensor) => [w, T.mul(x, 2), 3], x)).toThrow(/^vjp: output leaf 2 is a number/);
      return [x];
    });
  });

  it('jvp of functions returning their input and a closed-over tensor', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const v = T.scalar(1);
      const [y1, t1] = jvp((x: Tensor) => x, [x], [v]);
      const [y2, t2] = jvp((_x: Tensor) => w, [x], [v]);
      expect(Array.from(await t1.data())).toEqual([1]);
      expect(Array.from(await t2.data())).toEqual([0]);
      expect(y2).toBe(w);
      expect(Array.from(await v.data())).toEqual([1]);
      return [x, v, y1, t1, t2];
    });
  });

  it('hvp of a function that closes over a parameter', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const v = T.scalar(1);
      const h = hvp((x: Tensor) => T.mul(T.square(x), w), x, v); // d2/dx2 (w x^2) = 2 w = 10
      expect(Array.from(await h.data())).toEqual([10]);
      return [x, v, h];
    });
  });
});

describe('customVjp never disposes a residual or an output it did not create', () => {
  it('a closed-over tensor as residual', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const f = customVjp(
        (x: Tensor) => T.mul(x, w),
        (x: Tensor) => [T.mul(x, w), { w, x }],
        (r: { w: Tensor }, g: Tensor) => [T.mul(g, r.w)],
      );
      const g = grad((x: Tensor) => f(x))(x);
      expect(Array.from(await g.data())).toEqual([5]);
      return [x, g];
    });
  });

  it('a closed-over tensor as the output of fwd', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const f = customVjp((_x: Tensor) => w, (_x: Tensor) => [w, null], (_r: unknown, g: Tensor) => [T.mul(g, 0)]);
      const g = grad((x: Tensor) => f(x))(x);
      expect(Array.from(await g.data())).toEqual([0]);
      return [x, g];
    });
  });
});

describe('gradcheck / gradgradcheck never dispose what f returns from outside', () => {
  it('f returning one of its inputs (checked and not checked) or a closed-over tensor', async () => {
    await owned(async ({ w }) => {
      const x = x0();
      const r1 = await gradcheck((a: Tensor, b: Tensor) => b, [x, w]);
      const r2 = await gradcheck((a: Tensor, b: Tensor) => T.add(a, b), [x, w], { argnums: [0] });
      const r3 = await gradgradcheck((a: Tensor) => a, [x]);
      const r4 = await gradcheck((_a: Tensor) => w, [x]); // a closed-over tensor (same backend here)
      expect([r1.ok, r2.ok, r3.ok, r4.ok]).toEqual([true, true, true, true]);
      expect(Array.from(await x.data())).toEqual([2]);
      return [x];
    });
  });
});

describe('tidy frees only what fn created', () => {
  it('returning an argument, a closed-over tensor, and a parameter tree', async () => {
    await owned(async ({ w, p }) => {
      const x = x0();
      const r = T.tidy(() => {
        T.add(x, 1); // an intermediate: freed
        return { x, w, p, y: T.mul(x, 2) };
      });
      expect(r.x).toBe(x);
      expect(Array.from(await r.y.data())).toEqual([4]);
      return [x, r.y];
    });
  });
});
