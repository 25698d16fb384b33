// Small models and steps for the compile tests: an MLP and a conv net, a plain SGD step
// (valueAndGrad + update, the learning rate a number argument) and comparison helpers.

import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Params = Record<string, any>;

export const ACTS = ['relu', 'tanh', 'silu', 'sigmoid', 'gelu'] as const;
export type Act = (typeof ACTS)[number];

/** Values that are multiples of 1/64 in [-1, 1] (exact in float32 and float64 alike). */
export function gridTensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s >>> 8) % 129) / 64 - 1;
  }
  return T.tensor(v, shape);
}

export function mlpInit(dims: number[], seed: number): Params {
  const layers = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    layers.push({ w: T.tidy(() => T.mul(gridTensor([dims[i], dims[i + 1]], seed + 2 * i), 0.5)), b: gridTensor([dims[i + 1]], seed + 2 * i + 1) });
  }
  return { layers };
}

export function mlpApply(p: Params, x: Tensor, act: Act): Tensor {
  let h = x;
  p.layers.forEach((l: { w: Tensor; b: Tensor }, i: number) => {
    h = T.add(T.matmul(h, l.w), l.b);
    if (i + 1 < p.layers.length) h = T[act](h);
  });
  return h;
}

export function convInit(cin: number, cout: number, k: number, classes: number, hw: number, seed: number): Params {
  const pooled = Math.floor(hw / 2);
  return {
    conv: { w: T.tidy(() => T.mul(gridTensor([cout, cin, k, k], seed), 0.5)), b: gridTensor([cout], seed + 1) },
    head: { w: T.tidy(() => T.mul(gridTensor([cout * pooled * pooled, classes], seed + 2), 0.25)), b: gridTensor([classes], seed + 3) },
  };
}

export function convApply(p: Params, x: Tensor, act: Act, pool: 'max' | 'avg'): Tensor {
  const k = p.conv.w.shape[2];
  let h = T.conv2d(x, p.conv.w, { padding: (k - 1) / 2 });
  h = T[act](T.add(h, T.reshape(p.conv.b, [1, -1, 1, 1])));
  h = pool === 'max' ? T.maxPool2d(h, 2) : T.avgPool2d(h, 2);
  h = T.reshape(h, [x.shape[0], -1]);
  return T.add(T.matmul(h, p.head.w), p.head.b);
}

/** One SGD training step on a mean-squared error: returns new params and the loss. */
export function sgdStep(apply: (p: Params, x: Tensor) => Tensor) {
  const loss = (p: Params, x: Tensor, y: Tensor) => T.mean(T.square(T.sub(apply(p, x), y)));
  return (p: Params, x: Tensor, y: Tensor, lr: number | Tensor) =>
    T.tidy(() => {
      const [l, g] = valueAndGrad(loss)(p, x, y);
      const next = T.treeMap((a: Tensor, b: Tensor) => T.sub(a, T.mul(b, lr)), p, g);
      return { params: next as Params, loss: l as Tensor };
    });
}

export const values = (t: Tensor): Float64Array => Float64Array.from(t.dataSync());

/** Max |a - b| / (atol + rtol |b|) over all leaves of two trees of tensors (<= 1 passes). */
export function treeClose(a: unknown, b: unknown, atol: number, rtol: number): number {
  const la = T.treeLeaves(a) as Tensor[];
  const lb = T.treeLeaves(b) as Tensor[];
  if (la.length !== lb.length) throw new Error(`trees differ: ${la.length} vs ${lb.length} leaves`);
  let worst = 0;
  la.forEach((t, i) => {
    if (t.shape.join() !== lb[i].shape.join()) throw new Error(`leaf ${i}: shape [${t.shape}] vs [${lb[i].shape}]`);
    const x = values(t);
    const y = values(lb[i]);
    for (let k = 0; k < x.length; k++) {
      const r = Math.abs(x[k] - y[k]) / (atol + rtol * Math.abs(y[k]));
      if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
    }
  });
  return worst;
}

/** True when every leaf of the two trees holds the same float values bit for bit (NaN == NaN). */
export function treeIdentical(a: unknown, b: unknown): boolean {
  const la = T.treeLeaves(a) as Tensor[];
  const lb = T.treeLeaves(b) as Tensor[];
  return la.length === lb.length && la.every((t, i) => {
    const x = values(t);
    const y = values(lb[i]);
    return t.shape.join() === lb[i].shape.join() && x.every((v, k) => Object.is(v, y[k]));
  });
}
