// customVjp over pytrees (issue 9: inputs, outputs and residuals are pytrees) and its misuse
// explained (issue 8 §6), plus ill-typed transform arguments. Expected gradients are closed
// forms worked out by hand; the pytree version is also compared with the same function
// differentiated through its primitives.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { customVjp, grad, hvp, jvp, valueAndGrad, vjp } from '@tapegrad/autograd';

await T.setBackend('reference');

const vals = async (t: Tensor) => Array.from(await t.data());

describe('customVjp takes pytrees', () => {
  // f({a, b}, c) = { s: a * b, d: [a - c] }, with a hand-written backward
  const f = (p: { a: Tensor; b: Tensor }, c: Tensor) => ({ s: T.mul(p.a, p.b), d: [T.sub(p.a, c)] });
  const custom = customVjp(
    f,
    (p: { a: Tensor; b: Tensor }, c: Tensor) => [f(p, c), { a: p.a, b: p.b }],
    (r: { a: Tensor; b: Tensor }, g: { s: Tensor; d: Tensor[] }) => [
      { a: T.add(T.mul(g.s, r.b), g.d[0]), b: T.mul(g.s, r.a) },
      T.neg(g.d[0]),
    ],
  );
  const loss = (fn: typeof f) => (p: { a: Tensor; b: Tensor }, c: Tensor) => {
    const o = fn(p, c);
    return T.add(T.sum(T.mul(o.s, 3)), T.sum(T.square(o.d[0])));
  };

  it('gradients of pytree inputs through a pytree output equal the closed form and the primitive path', async () => {
    const p = { a: T.tensor([1, 2]), b: T.tensor([3, -1]) };
    const c = T.tensor([0.5, 4]);
    const [gp, gc] = grad(loss(custom), [0, 1])(p, c);
    const [hp, hc] = grad(loss(f), [0, 1])(p, c);
    // L = 3 sum(a b) + sum((a - c)^2): dL/da = 3b + 2(a - c), dL/db = 3a, dL/dc = -2(a - c)
    expect(await vals(gp.a)).toEqual([3 * 3 + 2 * 0.5, 3 * -1 + 2 * -2]);
    expect(await vals(gp.b)).toEqual([3, 6]);
    expect(await vals(gc)).toEqual([-1, 4]);
    expect(await vals(gp.a)).toEqual(await vals(hp.a));
    expect(await vals(gp.b)).toEqual(await vals(hp.b));
    expect(await vals(gc)).toEqual(await vals(hc));
    T.dispose([p, c, gp, gc, hp, hc]);
  });

  it('the output has fwd\'s structure and values, outside any transform too', async () => {
    const p = { a: T.tensor([1, 2]), b: T.tensor([3, -1]) };
    const c = T.tensor([0.5, 4]);
    const o1 = custom(p, c); // no tape: f
    const [o2, back] = vjp((p: { a: Tensor; b: Tensor }) => custom(p, c), p);
    back.dispose();
    expect(Object.keys(o2).sort()).toEqual(['d', 's']);
    expect(await vals(o2.s)).toEqual([3, -2]);
    expect(await vals(o2.d[0])).toEqual([0.5, -2]);
    expect(await vals(o1.s)).toEqual(await vals(o2.s));
    T.dispose([p, c, o1, o2]);
  });

  it('a null cotangent means zero, and non-tensor arguments are skipped', async () => {
    const scale = customVjp(
      (x: Tensor, k: number) => T.mul(x, k),
      (x: Tensor, k: number) => [T.mul(x, k), k],
      (k: number, g: Tensor) => [T.mul(g, k), null],
    );
    const x = T.tensor([1, 2]);
    const g = grad((x: Tensor) => T.sum(scale(x, 4)))(x);
    expect(await vals(g)).toEqual([4, 4]);
    const none = customVjp((x: Tensor) => T.mul(x, 2), (x: Tensor) => [T.mul(x, 2), null], () => [null]);
    const z = grad((x: Tensor) => T.sum(none(x)))(x);
    expect(await vals(z)).toEqual([0, 0]);
    T.dispose([x, g, z]);
  });

  it('jvp and hvp go through a pytree customVjp', async () => {
    const sq = customVjp(
      (x: { v: Tensor }) => ({ y: T.square(x.v) }),
      (x: { v: Tensor }) => [{ y: T.square(x.v) }, x.v],
      (v: Tensor, g: { y: Tensor }) => [{ v: T.mul(T.mul(g.y, v), 2) }],
    );
    const x = T.tensor([1, 3]);
    const t = T.tensor([1, 1]);
    const [y, jt] = jvp((x: Tensor) => sq({ v: x }).y, [x], [t]);
    expect(await vals(jt)).toEqual([2, 6]);
    // the residual is the input itself, which the enclosing tape follows (the tape holds
    // it through an observed clone): the true second derivative of sum(x^2), 2 per entry
    const h = hvp((x: Tensor) => T.sum(sq({ v: x }).y), x, t);
    expect(await vals(h)).toEqual([2, 2]);
    T.dispose([x, t, y, jt, h]);
  });
});

describe('customVjp misuse is explained', () => {
  const x = () => T.tensor([1, 2]);
  const run = (cv: (x: Tensor) => Tensor) => {
    const xs = x();
    try {
      return grad((v: Tensor) => T.sum(cv(v)))(xs);
    } finally {
      xs.dispose();
    }
  };

  it('fwd not returning a pair', () => {
    const cv = customVjp((v: Tensor) => T.mul(v, 2), ((v: Tensor) => T.mul(v, 2)) as never, () => [null]);
    expect(() => run(cv)).toThrow(/^customVjp: fwd must return a pair \[out, residuals\], got Tensor\(shape=\[2\]/);
    const cv2 = customVjp((v: Tensor) => T.mul(v, 2), ((v: Tensor) => [T.mul(v, 2)]) as never, () => [null]);
    expect(() => run(cv2)).toThrow(/^customVjp: fwd must return a pair \[out, residuals\], got an array \[Tensor/);
    const cv3 = customVjp((v: Tensor) => T.mul(v, 2), ((v: Tensor) => [3, v]) as never, () => [null]);
    expect(() => run(cv3)).toThrow(/^customVjp: fwd's out leaf 0 is the number 3; expected out to be a Tensor or a pytree of tensors/);
  });

  it('a cotangent of the wrong shape, type or structure, or the wrong number of them', () => {
    const mk = (bwd: (r: unknown, g: Tensor) => unknown) => customVjp((v: Tensor) => T.mul(v, 2), (v: Tensor) => [T.mul(v, 2), null], bwd as never);
    expect(() => run(mk(() => [T.ones([3])]))).toThrow(/^customVjp: bwd's cotangent for argument 0 has shape \[3\]; expected the shape of the argument, \[2\]/);
    expect(() => run(mk(() => [T.ones([1])]))).toThrow(/has shape \[1\]; expected the shape of the argument, \[2\]/); // no silent broadcast
    expect(() => run(mk(() => [5]))).toThrow(/^customVjp: bwd's cotangent for argument 0 is the number 5; expected a Tensor of shape \[2\] or null/);
    expect(() => run(mk(() => [[T.ones([2])]]))).toThrow(/^customVjp: bwd's cotangent for argument 0 is an array \[Tensor.*expected the structure of argument 0/);
    expect(() => run(mk((_r, g) => g as never))).toThrow(/^customVjp: bwd must return an array of one cotangent \(or null\) per argument \(1\), got Tensor/);
    expect(() => run(mk(() => []))).toThrow(/^customVjp: bwd must return an array of one cotangent \(or null\) per argument \(1\), got an array \[\]/);
  });

  it('f, fwd and bwd must be functions', () => {
    expect(() => customVjp(5 as never, () => [T.scalar(1), null], () => [null])).toThrow(/^customVjp: f must be a function, got the number 5$/);
    expect(() => customVjp((v: Tensor) => v, null as never, () => [null])).toThrow(/^customVjp: fwd must be a function, got null$/);
    expect(() => customVjp((v: Tensor) => v, (v: Tensor) => [v, null], {} as never)).toThrow(/^customVjp: bwd must be a function, got an object \{  \}$/);
  });
});

describe('ill-typed transform arguments get the README form', () => {
  it('grad(5), valueAndGrad with bad argnums or options, vjp/jvp/hvp of a non-function', () => {
    expect(() => grad(5 as never)).toThrow(/^grad: f must be a function, got the number 5$/);
    expect(() => grad((x: Tensor) => x, 'a' as never)).toThrow(/^grad: argnums must be a non-negative integer or a non-empty array of them, got the string "a"$/);
    expect(() => grad((x: Tensor) => x, [] as never)).toThrow(/^grad: argnums must be .* got an array \[\]$/);
    expect(() => valueAndGrad((x: Tensor) => x, 0, { hasAux: 1 } as never)).toThrow(/^valueAndGrad: options\.hasAux must be a boolean, got the number 1$/);
    expect(() => vjp(null as never)).toThrow(/^vjp: f must be a function, got null$/);
    expect(() => jvp('f' as never, [], [])).toThrow(/^jvp: f must be a function, got the string "f"$/);
    expect(() => hvp(undefined as never, null, null)).toThrow(/^hvp: f must be a function, got undefined$/);
  });

  it('grad of a function returning a non-tensor says what it returned', () => {
    const x = T.scalar(1);
    try {
      expect(() => grad(() => 3)(x)).toThrow(/^grad: f must return a scalar Tensor, got the number 3$/);
      expect(() => grad(() => ({ a: 1 }))(x)).toThrow(/^grad: f must return a scalar Tensor, got an object \{ a: 1 \}$/);
    } finally {
      x.dispose();
    }
  });

  it('a cyclic argument pytree is an error, not a stack overflow', () => {
    const x = T.scalar(1);
    const cyc: Record<string, unknown> = { x };
    cyc.self = cyc;
    try {
      expect(() => grad((t: typeof cyc) => t.x as Tensor)(cyc)).toThrow(/^grad: the tree contains a cycle: 'self' contains one of its ancestors/);
    } finally {
      x.dispose();
    }
  });
});
