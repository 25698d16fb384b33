// The engine around the ops: tidy scopes and keep, memory accounting and buffer sharing,
// dispose semantics, the primitive observation hook, the kernel cache, and pytrees.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import * as A from '@tapegrad/tensor/testing';

// webgpu for the kernel-cache test, when an adapter answers; webasm stays the current backend.
let webgpuSkip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  webgpuSkip = (e as Error).message.split('\n')[0];
  console.warn(`engine.test.ts: the webgpu kernel-cache test is skipped: ${webgpuSkip}`);
}
await T.setBackend('webasm');

const live = () => T.memory().tensors;

describe('creation on the backend of a given tensor', () => {
  it('zerosLike / onesLike / fullLike use the backend of their argument, not the current one', async () => {
    const r = T.useBackend('reference', () => T.tensor([1, 2, 3]));
    const made = T.useBackend('webasm', () => [T.zerosLike(r), T.onesLike(r), T.fullLike(r, 7)]);
    try {
      expect(made.map((t) => t.backend)).toEqual(['reference', 'reference', 'reference']);
      expect(Array.from(await made[2].data())).toEqual([7, 7, 7]);
    } finally {
      T.dispose([r, made]);
    }
  });
});

describe('argmax over the flattened tensor', () => {
  it('keepDims gives a shape of ones with the input rank (NumPy)', async () => {
    const x = T.tensor([[1, 9, 2], [3, 4, 5]]);
    const [a, b] = [T.argmax(x), T.argmax(x, undefined, true)];
    try {
      expect(a.shape).toEqual([]);
      expect(b.shape).toEqual([1, 1]);
      expect(Array.from(await b.data())).toEqual([1]);
    } finally {
      T.dispose([x, a, b]);
    }
  });
});

describe('tidy and keep', () => {
  it('a nested tidy returning a tensor made outside every scope does not hand it to the outer scope', () => {
    const x = T.tensor([1, 2]);
    const y = T.tidy(() => {
      const inner = T.tidy(() => x); // returns a tensor the inner scope did not create
      expect(inner).toBe(x);
      return T.add(x, 1);
    });
    expect(x.isDisposed).toBe(false);
    expect(Array.from(x.dataSync())).toEqual([1, 2]);
    T.dispose([x, y]);
  });

  it('disposes intermediates and keeps every tensor of the returned pytree', () => {
    const before = T.memory();
    const out = T.tidy(() => {
      const a = T.ones([2, 2]);
      const b = T.add(a, 1); // intermediate... but returned below
      const c = T.mul(b, 3);
      T.exp(c); // dropped
      T.sum(c); // dropped
      return { c, nested: [b, { n: 3, s: 'label' }] };
    });
    expect(live() - before.tensors).toBe(2);
    expect(out.c.isDisposed).toBe(false);
    expect((out.nested[0] as T.Tensor).isDisposed).toBe(false);
    expect(Array.from(out.c.dataSync())).toEqual([6, 6, 6, 6]);
    expect(Array.from((out.nested[0] as T.Tensor).dataSync())).toEqual([2, 2, 2, 2]);
    expect(out.nested[1]).toEqual({ n: 3, s: 'label' });
    T.dispose(out);
    expect(T.memory()).toEqual(before);
  });

  it('disposes everything created inside when fn throws', () => {
    const before = T.memory();
    let inner: T.Tensor | undefined;
    expect(() =>
      T.tidy(() => {
        inner = T.exp(T.ones([3]));
        T.add(inner, inner);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(inner!.isDisposed).toBe(true);
    expect(T.memory()).toEqual(before);
  });

  it('an error thrown by an op inside tidy cleans up too', () => {
    const before = T.memory();
    expect(() => T.tidy(() => T.add(T.ones([2, 3]), T.ones([4])))).toThrow(/^add: shapes \[2,3\] and \[4\]/);
    expect(T.memory()).toEqual(before);
  });

  it('nested tidy: the inner result joins the outer scope', () => {
    const before = live();
    let innerResult: T.Tensor | undefined;
    const out = T.tidy(() => {
      innerResult = T.tidy(() => T.add(T.ones([2]), 1));
      expect(innerResult.isDisposed).toBe(false);
      expect(live() - before).toBe(1);
      return T.mul(innerResult, 2);
    });
    expect(innerResult!.isDisposed).toBe(true); // owned by the outer scope, not returned from it
    expect(Array.from(out.dataSync())).toEqual([4, 4]);
    expect(live() - before).toBe(1);
    out.dispose();
  });

  it('keep() exempts a tensor from every enclosing scope', () => {
    const before = live();
    let kept: T.Tensor | undefined;
    T.tidy(() => {
      T.tidy(() => {
        kept = T.keep(T.full([2], 5));
        T.ones([2]);
      });
      expect(kept!.isDisposed).toBe(false);
    });
    expect(kept!.isDisposed).toBe(false);
    expect(live() - before).toBe(1);
    expect(Array.from(kept!.dataSync())).toEqual([5, 5]);
    kept!.dispose();
    expect(live()).toBe(before);
  });

  it('tensors created outside any tidy stay alive until disposed', () => {
    const t = T.ones([1]);
    T.tidy(() => T.add(t, 1).dispose());
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});

describe('memory accounting and buffers', () => {
  for (const [name, bpe] of [['webasm', 4], ['cpu', 4], ['reference', 8]] as const) {
    it(`memory() counts tensors, buffers and bytes (${bpe} bytes per element on ${name})`, () => {
      T.useBackend(name, () => {
        const m0 = T.memory();
        const t = T.zeros([3, 5]);
        const m1 = T.memory();
        expect(m1.tensors - m0.tensors).toBe(1);
        expect(m1.buffers - m0.buffers).toBe(1);
        expect(m1.bytes - m0.bytes).toBe(15 * bpe);
        const u = T.add(t, 1);
        expect(T.memory().bytes - m0.bytes).toBe(30 * bpe);
        expect(T.findBackend(name).bytesPerElement).toBe(bpe);
        T.dispose([t, u]);
        expect(T.memory()).toEqual(m0);
      });
    });
  }

  it('reshape (and expandDims, squeeze, flatten, clone) share the buffer; the view outlives the original', () => {
    const t = T.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const m = T.memory();
    const row = T.reshape(t, [1, 6]);
    const views = [T.reshape(t, [3, 2]), T.expandDims(t, 1), T.squeeze(row), T.flatten(t), T.clone(t), row];
    expect(T.memory().buffers).toBe(m.buffers);
    expect(T.memory().bytes).toBe(m.bytes);
    expect(T.memory().tensors - m.tensors).toBe(6);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(T.memory().buffers).toBe(m.buffers); // still referenced by the views
    expect(Array.from(views[0].dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(views[0].shape).toEqual([3, 2]);
    expect(views[1].shape).toEqual([2, 1, 3]);
    expect(views[2].shape).toEqual([6]);
    const sum = T.sum(views[0], 0);
    expect(Array.from(sum.dataSync())).toEqual([9, 12]);
    sum.dispose();
    T.dispose(views.slice(1));
    expect(T.memory().buffers).toBe(m.buffers); // one view left
    views[0].dispose(); // the last view releases the buffer
    expect(T.memory().buffers).toBe(m.buffers - 1);
    expect(T.memory().bytes).toBe(m.bytes - 6 * 4);
    expect(T.memory().tensors).toBe(m.tensors - 1);
  });

  it('dispose is idempotent (method, function, pytree with duplicates)', () => {
    const m = T.memory();
    const t = T.ones([4]);
    const v = T.reshape(t, [2, 2]);
    t.dispose();
    t.dispose();
    T.dispose([t, { again: t }]);
    expect(T.memory().tensors - m.tensors).toBe(1);
    expect(T.memory().buffers - m.buffers).toBe(1);
    T.dispose([v, v, { v }]);
    expect(T.memory()).toEqual(m);
    expect(v.isDisposed).toBe(true);
  });

  it('Symbol.dispose releases the tensor (`using` and direct call)', () => {
    const m = T.memory();
    let seen: T.Tensor | undefined;
    {
      using t = T.ones([3]);
      seen = t;
      expect(T.memory().tensors - m.tensors).toBe(1);
    }
    expect(seen.isDisposed).toBe(true);
    const u = T.ones([2]);
    u[Symbol.dispose]();
    expect(u.isDisposed).toBe(true);
    expect(T.memory()).toEqual(m);
  });
});

describe('observePrimitives', () => {
  it('sees op name, inputs, output and attributes of a primitive', () => {
    const calls: T.PrimitiveCall[] = [];
    const stop = T.observePrimitives((c) => calls.push(c));
    try {
      T.tidy(() => {
        const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
        expect(calls.length).toBe(0); // creation is not a primitive call
        const y = T.add(x, x);
        expect(calls.length).toBe(1);
        expect(calls[0].op).toBe('add');
        expect(calls[0].inputs).toEqual([x, x]);
        expect(calls[0].inputs[0]).toBe(x);
        expect(calls[0].output).toBe(y);
        expect(calls[0].attrs).toEqual({});
        const s = T.sum(y, -1, true);
        expect(calls[1]).toMatchObject({ op: 'sum', attrs: { axes: [1], keepDims: true } });
        expect(calls[1].inputs[0]).toBe(y);
        expect(calls[1].output).toBe(s);
        T.transpose(x, [1, 0]);
        expect(calls[2]).toMatchObject({ op: 'transpose', attrs: { perm: [1, 0] } });
        T.reshape(x, [3, 2]);
        expect(calls[3]).toMatchObject({ op: 'reshape', attrs: { shape: [3, 2] } });
        T.conv2d(T.ones([1, 1, 3, 3]), T.ones([1, 1, 2, 2]), { stride: 1 });
        expect(calls[4]).toMatchObject({ op: 'conv2d', attrs: { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 } });
      });
    } finally {
      stop();
    }
    const n = calls.length;
    T.tidy(() => {
      T.exp(T.ones([1]));
    });
    expect(calls.length).toBe(n); // unregistered
  });

  it('sees the primitives inside a composite: softmax = max, sub, exp, sum, div', () => {
    const calls: T.PrimitiveCall[] = [];
    const stop = T.observePrimitives((c) => calls.push(c));
    let x: T.Tensor | undefined;
    let y: T.Tensor | undefined;
    try {
      T.tidy(() => {
        x = T.tensor([[1, 2, 3], [1, 1, 1]]);
        y = T.softmax(x, 1);
        expect(calls.map((c) => c.op)).toEqual(['max', 'sub', 'exp', 'sum', 'div']);
        const [mx, sub, ex, sm, dv] = calls;
        expect(mx.inputs[0]).toBe(x);
        expect(mx.attrs).toEqual({ axes: [1], keepDims: true });
        expect(sub.inputs).toEqual([x, mx.output]);
        expect(sub.inputs[1]).toBe(mx.output);
        expect(ex.inputs[0]).toBe(sub.output);
        expect(sm.inputs[0]).toBe(ex.output);
        expect(dv.inputs[0]).toBe(ex.output);
        expect(dv.inputs[1]).toBe(sm.output);
        expect(dv.output).toBe(y);
      });
    } finally {
      stop();
    }
    // logSoftmax is built from logsumexp: max, the non-finite guard of the shift (abs, less,
    // where: README "Special values"), sub, exp, sum, log, add, then sub
    const calls2: T.PrimitiveCall[] = [];
    const stop2 = T.observePrimitives((c) => calls2.push(c));
    try {
      T.tidy(() => {
        T.logSoftmax(T.ones([2, 2]));
      });
    } finally {
      stop2();
    }
    expect(calls2.map((c) => c.op)).toEqual(['max', 'abs', 'less', 'where', 'sub', 'exp', 'sum', 'log', 'add', 'sub']);
  });

  it('several observers all see each call, in registration order; removing one keeps the others', () => {
    const log: string[] = [];
    const s1 = T.observePrimitives((c) => log.push(`1:${c.op}`));
    const s2 = T.observePrimitives((c) => log.push(`2:${c.op}`));
    try {
      T.tidy(() => {
        T.neg(T.ones([1]));
      });
      s1();
      T.tidy(() => {
        T.abs(T.ones([1]));
      });
    } finally {
      s1();
      s2();
    }
    expect(log).toEqual(['1:neg', '2:neg', '2:abs']);
  });
});

describe('kernel cache', () => {
  it('webasm: same op and shapes build nothing; a new shape of the same rank builds one module', () => {
    T.useBackend('webasm', () =>
      T.tidy(() => {
        const a = T.ones([3, 4]);
        T.exp(a); // warm
        const k0 = T.kernelBuilds('webasm');
        T.exp(a);
        T.exp(T.ones([3, 4]));
        T.exp(T.zeros([4, 3])); // same flat size: the same module
        expect(T.kernelBuilds('webasm') - k0).toBe(0);
        T.exp(T.ones([5, 7]));
        expect(T.kernelBuilds('webasm') - k0).toBe(1);
        T.exp(T.ones([5, 7]));
        expect(T.kernelBuilds('webasm') - k0).toBe(1);
        // matmul: one kernel object, one module per shape signature
        T.matmul(T.ones([2, 3]), T.ones([3, 4]));
        const k1 = T.kernelBuilds('webasm');
        T.matmul(T.ones([2, 3]), T.ones([3, 4]));
        expect(T.kernelBuilds('webasm')).toBe(k1);
        T.matmul(T.ones([3, 5]), T.ones([5, 2]));
        expect(T.kernelBuilds('webasm') - k1).toBe(1);
        expect(T.kernelBuilds()).toBe(T.kernelBuilds('webasm')); // default: the current backend
      }),
    );
  });

  it('the reference backend compiles nothing', () => {
    T.useBackend('reference', () =>
      T.tidy(() => {
        T.softmax(T.ones([2, 3]));
      }),
    );
    expect(T.kernelBuilds('reference')).toBe(0);
  });

  it.skipIf(webgpuSkip !== undefined)(`webgpu: a new shape of the same rank builds no new kernel${webgpuSkip ? ` (SKIPPED: ${webgpuSkip})` : ''}`, async () => {
    const run = async (f: () => T.Tensor) => {
      const t = T.useBackend('webgpu', () => T.tidy(f));
      try {
        await t.data(); // surfaces build errors
      } finally {
        t.dispose();
      }
    };
    await run(() => T.exp(T.ones([3, 4])));
    await run(() => T.matmul(T.ones([2, 3]), T.ones([3, 4])));
    await run(() => T.sum(T.ones([2, 3]), 1));
    const k0 = T.kernelBuilds('webgpu');
    await run(() => T.exp(T.ones([5, 7])));
    await run(() => T.matmul(T.ones([4, 6]), T.ones([6, 1])));
    await run(() => T.sum(T.ones([7, 9]), 1));
    expect(T.kernelBuilds('webgpu') - k0).toBe(0);
    await run(() => T.log(T.ones([2]))); // a new op does build
    expect(T.kernelBuilds('webgpu') - k0).toBe(1);
  });
});

describe('pytrees', () => {
  // Leaves: numbers, strings, null, booleans. Keys include integer-like ones, which JS
  // objects enumerate first ('2' before 'a'), to check that the sorted order is used.
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
    leaf: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null), fc.boolean()),
    array: fc.array(tie('tree'), { maxLength: 3 }),
    object: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'zz', 'b0', '2', '10', 'x.y'), tie('tree'), { maxKeys: 4 }),
  }));

  /** Count leaves independently of the library. */
  const countLeaves = (x: unknown): number =>
    Array.isArray(x) ? x.reduce((s: number, v) => s + countLeaves(v), 0)
      : x !== null && typeof x === 'object' ? Object.values(x).reduce((s: number, v) => s + countLeaves(v), 0)
        : 1;

  it('treeFlatten / treeUnflatten round-trip (property)', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const [leaves, def] = T.treeFlatten(t);
        expect(leaves.length).toBe(countLeaves(t));
        expect(T.treeUnflatten(def, leaves)).toEqual(t);
        expect(T.treeLeaves(t)).toEqual(leaves);
        // new leaves land in the same places: unflatten then flatten gives them back in order
        const fresh = leaves.map((_, i) => `leaf${i}`);
        expect(T.treeFlatten(T.treeUnflatten(def, fresh))[0]).toEqual(fresh);
        expect(T.sameStructure(def, T.treeFlatten(T.treeUnflatten(def, fresh))[1])).toBe(true);
        // paths are unique and as many as the leaves
        const paths = T.treeFlattenWithPath(t).map(([p]) => p);
        expect(paths.length).toBe(leaves.length);
      }),
      A.fcParams(200),
    );
  });

  it('object keys are visited in sorted order, however the object was built', () => {
    const a = { b: 1, a: 2, c: { z: 3, y: 4 } };
    const b = { c: { y: 4, z: 3 }, a: 2, b: 1 };
    expect(T.treeLeaves(a)).toEqual([2, 1, 4, 3]);
    expect(T.treeLeaves(b)).toEqual([2, 1, 4, 3]);
    expect(T.sameStructure(T.treeFlatten(a)[1], T.treeFlatten(b)[1])).toBe(true);
    // integer-like keys sort as strings ('10' < '2' < 'a'), not in JS enumeration order
    expect(T.treeLeaves({ a: 'A', 2: 'two', 10: 'ten' })).toEqual(['ten', 'two', 'A']);
    expect(T.sameStructure(T.treeFlatten({ a: 1 })[1], T.treeFlatten({ b: 1 })[1])).toBe(false);
    expect(T.sameStructure(T.treeFlatten([1, 2])[1], T.treeFlatten([1])[1])).toBe(false);
  });

  it('treeMap over two trees (matched by key, not by insertion order), with tensors as leaves', () => {
    expect(T.treeMap((x: number, y: number) => x + y, { x: 1, y: [2, 3] }, { y: [20, 30], x: 10 })).toEqual({ x: 11, y: [22, 33] });
    expect(() => T.treeMap((x: number) => x, { x: 1 }, { x: [1] })).toThrow(/^treeMap: tree 1 does not have the structure of the first tree/);
    expect(() => T.treeMap((x: number) => x, { x: 1 }, { x: 1 }, { y: 1 })).toThrow(/^treeMap: tree 2 /);
    const params = { w: T.ones([2]), b: [T.zeros([2]), T.full([2], 3)] };
    const grads = { b: [T.ones([2]), T.ones([2])], w: T.full([2], 2) };
    try {
      const upd = T.tidy(() => T.treeMap((p: T.Tensor, g: T.Tensor) => T.sub(p, T.mul(g, 0.5)), params, grads)) as { w: T.Tensor; b: T.Tensor[] };
      expect(Array.from(upd.w.dataSync())).toEqual([0, 0]);
      expect(Array.from(upd.b[0].dataSync())).toEqual([-0.5, -0.5]);
      expect(Array.from(upd.b[1].dataSync())).toEqual([2.5, 2.5]);
      T.dispose(upd);
    } finally {
      T.dispose([params, grads]);
    }
  });

  it("treeFlattenWithPath names leaves like 'a.b.0'", () => {
    const t1 = T.ones([1]);
    const t2 = T.ones([2]);
    try {
      const tree = { down: [{ conv: { weight: t1, bias: t2 } }], a: { b: [7, 8] }, c: 5 };
      expect(T.treeFlattenWithPath(tree)).toEqual([
        ['a.b.0', 7],
        ['a.b.1', 8],
        ['c', 5],
        ['down.0.conv.bias', t2],
        ['down.0.conv.weight', t1],
      ]);
      expect(T.treeFlattenWithPath({ a: { b: 1 } }, '/')).toEqual([['a/b', 1]]);
      expect(T.treeFlattenWithPath(4)).toEqual([['', 4]]);
    } finally {
      T.dispose([t1, t2]);
    }
  });

  it("keys such as '__proto__' and 'constructor' survive a round trip as ordinary keys", () => {
    const t = JSON.parse('{"__proto__": {"w": 1}, "constructor": 2, "a": [3]}');
    const [leaves, def] = T.treeFlatten(t);
    expect(leaves).toEqual([1, 3, 2]);
    const back = T.treeUnflatten<Record<string, unknown>>(def, leaves);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'a', 'constructor']);
    expect(T.treeFlattenWithPath(back)).toEqual([['__proto__.w', 1], ['a.0', 3], ['constructor', 2]]);
  });
});

describe('shape utilities, read-back and method sugar', () => {
  it('broadcastShapes agrees with the independently derived broadcast of 1-3 shapes (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }).chain((n) => A.broadcastShapes(n)), ({ shapes, out }) => {
        expect(T.broadcastShapes('test', ...shapes)).toEqual(out);
        expect(T.sizeOf(out)).toBe(out.reduce((p, d) => p * d, 1));
      }),
      A.fcParams(200),
    );
    expect(() => T.broadcastShapes('myOp', [2, 3], [3, 2])).toThrow(/^myOp: shapes \[2,3\] and \[3,2\] cannot be broadcast together \(dimension -2 is 2 vs 3\)/);
    expect(T.sizeOf([])).toBe(1);
    expect(T.sizeOf([3, 0, 2])).toBe(0);
    expect(T.opError('op', 'msg').message).toBe('op: msg');
  });

  it('array() / toNested give nested arrays of the shape; dataSync types per backend', async () => {
    const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
    const s = T.scalar(7);
    const r = T.useBackend('reference', () => T.tensor([0.1, 0.2]));
    try {
      expect(await x.array()).toEqual([[1, 2, 3], [4, 5, 6]]);
      expect(await s.array()).toBe(7);
      expect(T.toNested([1, 2, 3, 4, 5, 6], [3, 1, 2])).toEqual([[[1, 2]], [[3, 4]], [[5, 6]]]);
      expect(x.dtype).toBe('float32');
      expect(x.rank).toBe(2);
      expect(x.size).toBe(6);
      expect(x.dataSync()).toBeInstanceOf(Float32Array);
      expect(r.dataSync()).toBeInstanceOf(Float64Array); // the reference keeps float64
      expect(Array.from(r.dataSync())).toEqual([0.1, 0.2]);
      expect(String(x)).toBe('Tensor(shape=[2,3], backend=webasm)');
      expect(T.isTensor(x)).toBe(true);
      expect(T.isTensor([1])).toBe(false);
    } finally {
      T.dispose([x, s, r]);
    }
    expect(String(x)).toBe('Tensor(shape=[2,3], backend=disposed)');
  });

  it('ready() reports the backend in use', async () => {
    expect(await T.ready()).toBe(T.getBackend());
    expect(T.currentBackend().name).toBe(T.getBackend());
  });

  it('method sugar forwards to the functions', () => {
    T.tidy(() => {
      const x = T.tensor([[1, -2], [3, 4]]);
      const y = T.tensor([[0.5, 2], [1, -1]]);
      const same = (a: T.Tensor, b: T.Tensor) => expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      same(x.add(y), T.add(x, y));
      same(x.sub(2), T.sub(x, 2));
      same(x.mul(y).div(y), T.div(T.mul(x, y), y));
      same(x.abs().pow(2), T.pow(T.abs(x), 2));
      same(x.maximum(y).minimum(1), T.minimum(T.maximum(x, y), 1));
      same(x.greater(y), T.greater(x, y));
      same(x.less(y), T.less(x, y));
      same(x.equal(x), T.ones([2, 2]));
      for (const op of ['neg', 'abs', 'exp', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu', 'gelu'] as const) same(x[op](), T[op](x));
      same(x.abs().log(), T.log(T.abs(x)));
      same(x.abs().sqrt(), T.sqrt(T.abs(x)));
      same(x.abs().rsqrt(), T.rsqrt(T.abs(x)));
      same(x.clip(-1, 2), T.clip(x, -1, 2));
      same(x.sum(0, true), T.sum(x, 0, true));
      same(x.mean(1), T.mean(x, 1));
      same(x.max(), T.max(x));
      same(x.min(0), T.min(x, 0));
      same(x.argmax(1), T.argmax(x, 1));
      same(x.softmax(0), T.softmax(x, 0));
      same(x.logSoftmax(), T.logSoftmax(x));
      same(x.matmul(y), T.matmul(x, y));
      same(x.transpose(), T.transpose(x));
      expect(x.reshape([4]).shape).toEqual([4]);
      expect(x.expandDims(1).shape).toEqual([2, 1, 2]);
      expect(x.expandDims(1).squeeze().shape).toEqual([2, 2]);
      expect(x.flatten().shape).toEqual([4]);
      expect(x.sum(0).broadcastTo([3, 2]).shape).toEqual([3, 2]);
    });
  });
});

describe('scopes: ill-typed arguments, null-prototype objects and cycles (issue 8 §5, §6)', () => {
  it('tidy(5) and keep(5) are errors of the README form, not TypeErrors', () => {
    expect(() => T.tidy(5 as never)).toThrow(/^tidy: fn must be a function, got the number 5$/);
    expect(() => T.keep(null as never)).toThrow(/^keep: t must be a Tensor, got null$/);
  });

  it('dispose and tidy see the tensors of null-prototype objects (as loadSafetensors returns)', () => {
    const before = T.memory();
    const o = Object.create(null) as Record<string, T.Tensor>;
    Object.defineProperty(o, '__proto__', { value: T.scalar(1), enumerable: true });
    o.a = T.scalar(2);
    T.dispose(o);
    expect(T.memory()).toEqual(before);
    const kept = T.tidy(() => {
      const r = Object.create(null) as Record<string, T.Tensor>;
      r.x = T.scalar(3);
      return r;
    });
    expect(kept.x.isDisposed).toBe(false);
    T.dispose(kept);
    expect(T.memory()).toEqual(before);
  });

  it('a cyclic pytree is reported by dispose and by tidy (which still frees what it made)', () => {
    const before = T.memory();
    const t = T.scalar(1);
    const cyc: unknown[] = [t];
    cyc.push(cyc);
    expect(() => T.dispose(cyc)).toThrow(/^dispose: the tree contains a cycle/);
    expect(() =>
      T.tidy(() => {
        const inner: unknown[] = [T.scalar(2)];
        inner.push({ back: inner });
        return inner;
      }),
    ).toThrow(/^tidy: the tree contains a cycle/);
    t.dispose();
    expect(T.memory()).toEqual(before);
  });
});
