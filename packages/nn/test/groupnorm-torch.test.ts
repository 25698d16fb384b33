// nn.groupNorm (the fused op) against PyTorch: torch.nn.functional.group_norm forward and the
// gradients of sum(y * g) w.r.t. x, weight and bias, computed in float64 by
// scripts/make-groupnorm-golden.py (fixtures/groupnorm-torch.json: rank 2 to 4, with and
// without affine, constant groups, mean 1e3 / std 1e-2). Runs on the default backend (float32:
// the budget below) and on the reference backend (float64: 1e-9 of the scale).

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { grad } from '@tapegrad/autograd';
import * as nn from '@tapegrad/nn';

interface TorchCase {
  name: string;
  shape: number[];
  groups: number;
  eps: number;
  x: number[];
  g: number[];
  y: number[];
  dx: number[];
  weight?: number[];
  bias?: number[];
  dweight?: number[];
  dbias?: number[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/groupnorm-torch.json', import.meta.url), 'utf8')) as { torch: string; cases: TorchCase[] };
const U = 2 ** -24;
const ulp = (v: number) => (v === 0 ? 0 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23));

/** Per group: the float32 budget of y and dx elements (see packages/autograd/test/groupnorm.test.ts). */
function budgets(c: TorchCase, f64: boolean) {
  const [N, C] = c.shape;
  const HW = c.x.length / (N * C);
  const Cg = C / c.groups;
  const M = Cg * HW;
  const rel = f64 ? 1e-9 : 16 * (HW / 4 + Cg + 16) * U;
  const y: number[] = [];
  const dx: number[] = [];
  for (let r = 0; r < N * c.groups; r++) {
    const xs = c.x.slice(r * M, (r + 1) * M);
    const mean = xs.reduce((a, b) => a + b, 0) / M;
    const rstd = 1 / Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / M + c.eps);
    const meanErr = f64 ? 0 : 4 * ulp(Math.max(...xs.map(Math.abs))) * rstd;
    const hs = xs.map((v) => (v - mean) * rstd);
    const maxH = Math.max(...hs.map(Math.abs));
    const ch = (k: number) => (r % c.groups) * Cg + Math.floor(k / HW);
    const w = (k: number) => (c.weight ? c.weight[ch(k)] : 1);
    const maxD = Math.max(...xs.map((_, k) => Math.abs(c.g[r * M + k] * w(k))));
    hs.forEach((h, k) => {
      y.push(Math.abs(w(k)) * (rel * (1 + Math.abs(h)) + meanErr) + 4 * U * (1 + Math.abs(c.bias ? c.bias[ch(k)] : 0)) * (f64 ? 1e-3 : 1));
      dx.push(rstd * maxD * (2 + maxH) * (rel + meanErr * (1 + maxH)));
    });
  }
  return { y, dx };
}

function expectClose(what: string, got: ArrayLike<number>, want: number[], tol: (i: number) => number): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol(i))) throw new Error(`${what}: element ${i} is ${got[i]}, PyTorch ${want[i]} (|error| ${err.toExponential(2)} > budget ${tol(i).toExponential(2)})`);
  }
}

describe(`nn.groupNorm against PyTorch ${fixture.torch} (torch.nn.functional.group_norm, float64)`, () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: forward, d/dx, d/dweight, d/dbias', async (_name, c) => {
    const f64 = T.getBackend() === 'reference';
    const x = T.tensor(c.x, c.shape);
    const g = T.tensor(c.g, c.shape);
    const params: nn.NormParams = c.weight ? { weight: T.tensor(c.weight), bias: T.tensor(c.bias!) } : {};
    try {
      const opts = { groups: c.groups, eps: c.eps };
      const y = nn.groupNorm.apply(params, x, opts);
      const loss = (p: nn.NormParams, xx: Tensor) => T.sum(T.mul(nn.groupNorm.apply(p, xx, opts), g));
      const [dp, dx] = grad(loss, [0, 1])(params, x) as [nn.NormParams, Tensor];
      try {
        const tol = budgets(c, f64);
        expectClose(`${c.name}: y`, await y.data(), c.y, (i) => tol.y[i]);
        expectClose(`${c.name}: dx`, await dx.data(), c.dx, (i) => tol.dx[i]);
        if (c.weight) {
          // per channel: sums over N * HW elements of g * h (each h within its y budget) and of g
          const [N, C] = c.shape;
          const HW = c.x.length / (N * C);
          const chTol = (k: number) => {
            let s = 0;
            for (let n = 0; n < N; n++) for (let j = 0; j < HW; j++) s += Math.abs(c.g[(n * C + k) * HW + j]) * (tol.y[(n * C + k) * HW + j] / Math.max(Math.abs(c.weight![k]), 1e-3) + 64 * U);
            return s + 1e-12;
          };
          expectClose(`${c.name}: dweight`, await dp.weight!.data(), c.dweight!, chTol);
          expectClose(`${c.name}: dbias`, await dp.bias!.data(), c.dbias!, (k) => chTol(k) + 1e-12);
        }
      } finally {
        T.dispose([y, dx, dp]);
      }
    } finally {
      T.dispose([x, g, params]);
    }
  });
});
