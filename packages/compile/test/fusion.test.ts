// Fused elementwise chains: random chains of unary/binary ops over broadcast shapes,
// compiled (fused into one kernel) vs eager (one kernel per op), on webasm: the fused kernel
// runs the same float32 snippets, so the results are expected bit for bit.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { BinaryOp, Tensor, UnaryOp } from '@tapegrad/tensor';
import { broadcastTriple, fcParams } from '@tapegrad/tensor/testing';
import { compileStep } from '@tapegrad/compile';
import { gridTensor, treeIdentical } from './helpers.ts';

const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu', 'gelu', 'erf', 'floor', 'step'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'greater', 'lessEqual', 'equal', 'notEqual'];

/** One op of a chain: a unary op of the running value, or a binary op with input 1 or 2 on either side. */
type Link = { u: UnaryOp } | { b: BinaryOp; input: 1 | 2; swap: boolean };

const link: fc.Arbitrary<Link> = fc.oneof(
  fc.constantFrom(...UNARY).map((u) => ({ u })),
  fc.record({ b: fc.constantFrom(...BINARY), input: fc.constantFrom(1 as const, 2 as const), swap: fc.boolean() }),
);

function chain(links: Link[]) {
  return (x: Tensor, y: Tensor, z: Tensor): Tensor =>
    T.tidy(() => {
      let v = x;
      for (const l of links) {
        if ('u' in l) v = T[l.u](v);
        else {
          const other = l.input === 1 ? y : z;
          v = l.swap ? T[l.b](other, v) : T[l.b](v, other);
        }
      }
      return v;
    });
}

describe('fused elementwise chains', () => {
  it('random chains over broadcast shapes: fused == eager bit for bit, and the chain fused', () => {
    fc.assert(
      fc.property(broadcastTriple({ maxRank: 3, maxDim: 3 }), fc.array(link, { minLength: 2, maxLength: 6 }), fc.nat(1000), (shp, links, seed) => {
        // x has the full output shape so every intermediate has it too
        const x = gridTensor(shp.out, seed);
        const y = gridTensor(shp.b, seed + 1);
        const z = gridTensor(shp.c, seed + 2);
        const f = chain(links);
        const c = compileStep(f);
        try {
          for (let i = 0; i < 2; i++) {
            const e = f(x, y, z);
            const r = c(x, y, z);
            expect(treeIdentical(r, e), `${JSON.stringify(links)} on ${JSON.stringify(shp)}`).toBe(true);
            T.dispose([e, r]);
          }
          const rep = c.report().plans[0];
          expect(rep.fusedChains).toBe(1);
          expect(rep.steps).toBe(1);
          expect(rep.fusedOps).toBe(links.length);
        } finally {
          T.dispose([x, y, z]);
          c.dispose();
        }
      }),
      fcParams(40),
    );
  });

  it('webasm: chains over [N, C, H, W]-like shapes run as thread-id kernels (contiguous and per-channel reads), bit-identical to eager', () => {
    // the shapes the UNet's chains have: a full tensor, a per-channel [1, C, 1, 1] operand and a
    // per-example [N, 1, 1, 1] one; rows >= 4 wide so the coalesced view is a thread-id kernel
    const backend = T.findBackend('webasm') as unknown as { kernelClasses(): { key: string }[] };
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 4, max: 9 })),
        fc.array(link, { minLength: 2, maxLength: 5 }), fc.nat(1000), fc.boolean(),
        ([n, c, h, w], links, seed, perExample) => {
          const x = gridTensor([n, c, h, w], seed);
          const y = gridTensor([1, c, 1, 1], seed + 1);
          const z = gridTensor(perExample ? [n, 1, 1, 1] : [n, c, h, w], seed + 2);
          const f = chain(links);
          const cs = compileStep(f);
          try {
            for (let i = 0; i < 2; i++) {
              const e = f(x, y, z);
              const r = cs(x, y, z);
              expect(treeIdentical(r, e), `${JSON.stringify(links)} on ${[n, c, h, w]}`).toBe(true);
              T.dispose([e, r]);
            }
            expect(cs.report().plans[0].fusedChains).toBe(1);
          } finally {
            T.dispose([x, y, z]);
            cs.dispose();
          }
        }),
      fcParams(40),
    );
    expect(backend.kernelClasses().some((k) => k.key.startsWith('fused:tid'))).toBe(true);
  });

  it('a chain never reads more inputs than the backend takes (random expression trees over up to 14 tensors)', () => {
    // a tree of binary ops whose leaves are distinct arguments: fusing it whole would read
    // every leaf; the plan must split it so that each fused kernel reads <= fusedMaxInputs
    type Expr = number | { op: BinaryOp; l: Expr; r: Expr };
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'maximum'];
    const expr = (nLeaves: number): fc.Arbitrary<Expr> =>
      fc.letrec<{ e: Expr }>((tie) => ({
        e: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.nat(nLeaves - 1), fc.record({ op: fc.constantFrom(...ops), l: tie('e'), r: tie('e') })),
      })).e;
    const evalExpr = (e: Expr, xs: Tensor[]): Tensor => (typeof e === 'number' ? T.neg(xs[e]) : T[e.op](evalExpr(e.l, xs), evalExpr(e.r, xs)));
    const backend = T.findBackend(T.getBackend());
    const limit = backend.fusedMaxInputs ?? 8;
    const proto = backend as unknown as { fusedElementwise: (...a: unknown[]) => unknown };
    const orig = proto.fusedElementwise;
    let widest = 0;
    proto.fusedElementwise = function (this: unknown, ...a: unknown[]) {
      widest = Math.max(widest, (a[1] as unknown[]).length);
      return orig.apply(this, a);
    };
    try {
      fc.assert(
        fc.property(fc.integer({ min: 9, max: 14 }).chain((n) => fc.tuple(fc.constant(n), expr(n))), fc.nat(1000), ([n, e], seed) => {
          const xs = Array.from({ length: n }, (_, i) => gridTensor([5], seed + i));
          const f = (...a: Tensor[]) => T.tidy(() => evalExpr(e, a));
          const c = compileStep(f);
          try {
            widest = 0;
            for (let i = 0; i < 2; i++) {
              const r = c(...xs);
              const want = f(...xs);
              expect(treeIdentical(r, want), JSON.stringify(e)).toBe(true);
              T.dispose([r, want]);
            }
            expect(widest, JSON.stringify(e)).toBeLessThanOrEqual(limit);
          } finally {
            T.dispose(xs);
            c.dispose();
          }
        }),
        fcParams(40),
      );
      // a left-deep sum of 14 distinct tensors: one chain would read 14; the plan splits it
      widest = 0;
      const xs = Array.from({ length: 14 }, (_, i) => gridTensor([3], 50 + i));
      const sum = (...a: Tensor[]) => T.tidy(() => a.slice(1).reduce((acc, x) => T.add(acc, x), a[0]));
      const c = compileStep(sum);
      try {
        for (let i = 0; i < 2; i++) { // the first call traces, the second replays the plan
          const r = c(...xs);
          const want = sum(...xs);
          expect(treeIdentical(r, want)).toBe(true);
          T.dispose([r, want]);
        }
        expect(widest).toBe(limit);
        expect(c.report().plans[0].fusedChains).toBeGreaterThanOrEqual(2);
      } finally {
        T.dispose(xs);
        c.dispose();
      }
    } finally {
      proto.fusedElementwise = orig;
    }
  });

  it('a value read twice inside one chain is computed once in it; read also outside, it ends the chain', () => {
    // silu's derivative: s = sigmoid(x) is read by two nodes of the chain
    const dsilu = (x: Tensor, g: Tensor) => T.tidy(() => {
      const s = T.sigmoid(x);
      return T.mul(g, T.mul(s, T.add(T.mul(x, T.sub(1, s)), 1)));
    });
    // the same, but s is also summed (a reduction reads it): s must be materialized
    const shared = (x: Tensor, g: Tensor) => T.tidy(() => {
      const s = T.sigmoid(x);
      return [T.mul(g, T.mul(s, T.add(T.mul(x, T.sub(1, s)), 1))), T.sum(s)];
    });
    const x = T.tensor([0.5, -1, 2, -3.25, 0]);
    const g = T.tensor([1, 0.5, -2, 0.25, 3]);
    try {
      for (const [f, steps, chains] of [[dsilu, 1, ['sigmoid+sub+mul+add+mul+mul']], [shared, 3, ['sub+mul+add+mul+mul']]] as const) {
        const c = compileStep(f as (x: Tensor, g: Tensor) => unknown);
        try {
          for (let i = 0; i < 2; i++) {
            const r = c(x, g);
            const e = (f as (x: Tensor, g: Tensor) => unknown)(x, g);
            expect(treeIdentical(r, e)).toBe(true);
            T.dispose([r, e]);
          }
          const rep = c.report().plans[0];
          expect(rep.steps).toBe(steps);
          expect(rep.chains).toEqual(chains);
        } finally {
          c.dispose();
        }
      }
    } finally {
      T.dispose([x, g]);
    }
  });

  it('an intermediate read twice, or returned, ends a chain (it is computed once)', () => {
    const f = (x: Tensor) => T.tidy(() => {
      const a = T.exp(T.neg(x)); // neg+exp fuse
      const b = T.mul(a, a); // a is read twice by mul: a is a chain boundary
      return [T.sqrt(T.add(b, 1)), a];
    });
    const c = compileStep(f);
    const x = T.tensor([0.5, -1, 2]);
    try {
      const r = c(x);
      const e = f(x);
      expect(treeIdentical(r, e)).toBe(true);
      T.dispose([r, e]);
      const r2 = c(x);
      const e2 = f(x);
      expect(treeIdentical(r2, e2)).toBe(true);
      T.dispose([r2, e2]);
      const rep = c.report().plans[0];
      expect(rep.chains).toEqual(['neg+exp', 'mul+add+sqrt']);
      expect(rep.steps).toBe(2);
    } finally {
      x.dispose();
      c.dispose();
    }
  });

  it('an Adam-like update over several parameters: one multi-tensor kernel per chain, bit-identical to eager', () => {
    const update = (ps: Tensor[], gs: Tensor[], ms: Tensor[], vs: Tensor[], lr: number, bc1: number, bc2: number) =>
      T.tidy(() => {
        const m = ms.map((mi, i) => T.add(T.mul(mi, 0.9), T.mul(gs[i], 0.1)));
        const v = vs.map((vi, i) => T.add(T.mul(vi, 0.999), T.mul(T.square(gs[i]), 0.001)));
        const p = ps.map((pi, i) => T.sub(pi, T.mul(T.div(T.div(m[i], bc1), T.add(T.sqrt(T.div(v[i], bc2)), 1e-8)), lr)));
        return { p, m, v };
      });
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }), { minLength: 2, maxLength: 5 }), fc.nat(1000), (shapes, seed) => {
        const mk = (k: number) => shapes.map((sh, i) => gridTensor(sh, seed + 10 * i + k));
        const [ps, gs, ms] = [mk(1), mk(2), mk(3)];
        const vs = T.tidy(() => mk(4).map((t) => T.square(t)));
        const c = compileStep(update);
        try {
          for (let i = 1; i <= 3; i++) {
            const args = [ps, gs, ms, vs, 0.01 * i, 1 - 0.9 ** i, 1 - 0.999 ** i] as const;
            const e = update(...args);
            const r = c(...args);
            expect(treeIdentical(r, e)).toBe(true);
            T.dispose([e, r]);
          }
          const rep = c.report().plans[0];
          expect(rep.multiTensorKernels).toBe(3);
          expect(rep.multiTensorChains).toBe(3 * shapes.length);
          expect(rep.steps).toBe(3);
        } finally {
          T.dispose([ps, gs, ms, vs]);
          c.dispose();
        }
      }),
      fcParams(15),
    );
  });

  it("on gpu.js's cpu mode (float64 JavaScript) a fused chain rounds once, not per op: equal to eager within float32 rounding", () => {
    T.useBackend('cpu', () => {
      const f = (x: Tensor, a: Tensor) => T.tidy(() => T.tanh(T.sub(T.mul(T.exp(T.neg(x)), a), x)));
      const x = gridTensor([50], 1);
      const a = gridTensor([50], 2);
      const c = compileStep(f);
      try {
        T.dispose(c(x, a));
        const r = c(x, a);
        const e = f(x, a);
        const [rv, ev] = [r.dataSync(), e.dataSync()];
        ev.forEach((v, i) => expect(Math.abs(rv[i] - v)).toBeLessThanOrEqual(4 * 2 ** -24 * Math.max(1, Math.abs(v))));
        expect(c.report().plans[0].chains).toEqual(['neg+exp+mul+sub+tanh']);
        T.dispose([r, e]);
      } finally {
        T.dispose([x, a]);
        c.dispose();
      }
    });
  });
});
