// The fused GroupNorm (tensor ops/norm.ts: groupNorm, groupNormGrad, groupNormParamGrad) on
// every gpu.js backend (webasm, cpu, webgpu/lavapipe) against the float64 reference backend:
// forward, and the gradients w.r.t. x, gamma and beta for random cotangents, across shapes
// (rank 2 to 4), groups, eps and affine flags, including constant groups (variance 0) and
// large offsets (mean 1e3, std 1e-2, where E[x^2] - E[x]^2 in float32 loses every digit).
// Budgets are float32 error models written out below (not measured slack). Plus the public
// gradcheck on the reference backend, and the errors in the README form.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { fcParams } from '@tapegrad/tensor/testing';
import { grad, gradcheck } from '@tapegrad/autograd';

type B = 'webasm' | 'cpu' | 'webgpu';
const U = 2 ** -24;
const ulp = (v: number) => (v === 0 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23));
const f32 = (xs: number[]) => xs.map(Math.fround);

let webgpuSkip: string | undefined;
const initial = T.getBackend();
beforeAll(async () => {
  await T.setBackend('webasm');
  await T.setBackend('cpu');
  await T.setBackend('reference');
  try {
    await T.setBackend('webgpu');
  } catch (e) {
    webgpuSkip = (e as Error).message.split('\n')[0];
    console.warn(`groupnorm.test.ts: the webgpu cases are skipped: ${webgpuSkip}`);
  }
  await T.setBackend(initial);
});
afterAll(async () => {
  await T.setBackend(initial);
});

interface Sample {
  shape: number[];
  groups: number;
  eps: number;
  x: number[];
  g: number[];
  gamma?: number[];
  beta?: number[];
}

/** Values on kind-dependent grids: plain, constant groups, or a large offset with a tiny spread. */
function sampleArb(maxRuns = 3): fc.Arbitrary<Sample> {
  return fc
    .record({
      N: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 3 }),
      Cg: fc.integer({ min: 1, max: maxRuns }),
      sp: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 0, maxLength: 2 }),
      eps: fc.constantFrom(1e-5, 1e-3, 0.1),
      kind: fc.constantFrom('plain', 'plain', 'constant', 'offset'),
      affine: fc.constantFrom('gb', 'g', 'b', ''),
      seed: fc.integer({ min: 0, max: 1e6 }),
    })
    .map(({ N, groups, Cg, sp, eps, kind, affine, seed }) => {
      const C = groups * Cg;
      const shape = [N, C, ...sp];
      const n = shape.reduce((a, b) => a * b, 1);
      const M = n / (N * groups);
      let s = seed + 1;
      const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
      const x = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const grp = Math.floor(i / M);
        if (kind === 'constant' && grp % 2 === 0) x[i] = Math.round((grp + 1) * 7.25 * 64) / 64; // every other group constant
        else if (kind === 'offset') x[i] = 1000 + 0.01 * rnd();
        else x[i] = Math.round(rnd() * 3 * 64) / 64;
      }
      const g = Array.from({ length: n }, () => Math.round(rnd() * 64) / 64);
      const vec = () => Array.from({ length: C }, () => Math.round(rnd() * 2 * 64) / 64);
      return {
        shape, groups, eps, x: f32(x), g,
        ...(affine.includes('g') ? { gamma: vec() } : {}),
        ...(affine.includes('b') ? { beta: vec() } : {}),
      };
    });
}

/** Forward output, dx, dgamma, dbeta of sum(groupNorm(x) * g) on `backend`, as float64 arrays. */
async function run(backend: T.BackendName, s: Sample): Promise<{ y: number[]; dx: number[]; dgamma?: number[]; dbeta?: number[] }> {
  const [x, g, gamma, beta] = T.useBackend(backend, () => [
    T.tensor(s.x, s.shape),
    T.tensor(s.g, s.shape),
    s.gamma ? T.tensor(s.gamma) : undefined,
    s.beta ? T.tensor(s.beta) : undefined,
  ]);
  try {
    const y = T.groupNorm(x!, s.groups, { gamma, beta, eps: s.eps });
    const f = (xx: Tensor, ga?: Tensor, be?: Tensor) => T.sum(T.mul(T.groupNorm(xx, s.groups, { gamma: ga, beta: be, eps: s.eps }), g!));
    const args = [x!, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
    const fx = (...a: Tensor[]) => f(a[0], gamma ? a[1] : undefined, beta ? a[gamma ? 2 : 1] : undefined);
    const grads = grad(fx, args.map((_, i) => i))(...args) as Tensor[];
    const read = async (t: Tensor) => Array.from(await t.data());
    const out = {
      y: await read(y),
      dx: await read(grads[0]),
      ...(gamma ? { dgamma: await read(grads[1]) } : {}),
      ...(beta ? { dbeta: await read(grads[gamma ? 2 : 1]) } : {}),
    };
    T.dispose([y, ...grads]);
    return out;
  } finally {
    T.dispose([x, g, gamma, beta].filter((t): t is Tensor => t !== undefined));
  }
}

/**
 * Float32 error budgets per element, from the float64 inputs: per group, rstd, max |x|,
 * max |h|, max |d| (d = g * gamma); the statistics carry ~(HW/4 + Cg) roundings (blocked sums) plus
 * the rounding of the mean itself (ulp(max|x|) / 2, which rstd scales: the large-offset case),
 * and every later pass a few roundings.
 */
function budgets(s: Sample) {
  const [N, C] = s.shape;
  const HW = s.x.length / (N * C);
  const Cg = C / s.groups;
  const M = Cg * HW;
  const gam = (c: number) => (s.gamma ? s.gamma[c] : 1);
  const yTol: number[] = new Array(s.x.length);
  const dxTol: number[] = new Array(s.x.length);
  const dgTol = new Array<number>(C).fill(0);
  const dbTol = new Array<number>(C).fill(0);
  // the kernels sum each channel's run in 4 lane partials of HW / 4 terms, then channels, then lanes
  const rel = 16 * (HW / 4 + Cg + 16) * U;
  for (let r = 0; r < N * s.groups; r++) {
    const xs = s.x.slice(r * M, (r + 1) * M);
    const mean = xs.reduce((a, b) => a + b, 0) / M;
    const rstd = 1 / Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / M + s.eps);
    const maxX = Math.max(...xs.map(Math.abs));
    const hs = xs.map((v) => (v - mean) * rstd);
    const maxH = Math.max(...hs.map(Math.abs));
    const meanErr = 4 * ulp(maxX) * rstd; // error of h from the float32 mean
    const gi = r % s.groups;
    let maxD = 0;
    for (let k = 0; k < M; k++) {
      const c = gi * Cg + Math.floor(k / HW);
      maxD = Math.max(maxD, Math.abs(s.g[r * M + k] * gam(c)));
    }
    for (let k = 0; k < M; k++) {
      const i = r * M + k;
      const c = gi * Cg + Math.floor(k / HW);
      const hErr = rel * (1 + Math.abs(hs[k])) + meanErr;
      yTol[i] = Math.abs(gam(c)) * hErr + 4 * U * (Math.abs(gam(c) * hs[k]) + Math.abs(s.beta ? s.beta[c] : 0));
      dxTol[i] = rstd * maxD * (2 + maxH) * (rel + meanErr * (1 + maxH));
      dgTol[c] += Math.abs(s.g[i]) * hErr + rel * Math.abs(s.g[i] * hs[k]);
      dbTol[c] += rel * Math.abs(s.g[i]);
    }
  }
  return { yTol, dxTol, dgTol, dbTol };
}

function expectClose(what: string, got: number[], want: number[], tol: number[]): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol[i])) {
      throw new Error(`${what}: element ${i} is ${got[i]}, reference ${want[i]} (|error| ${err.toExponential(2)} > budget ${tol[i].toExponential(2)})`);
    }
  }
}

const label = (s: Sample) =>
  `x ${JSON.stringify(s.shape)} groups ${s.groups} eps ${s.eps}${s.gamma ? ' gamma' : ''}${s.beta ? ' beta' : ''}`;

describe.each(['webasm', 'cpu', 'webgpu'] as B[])('groupNorm on %s against the float64 reference', (backend) => {
  it(`forward and gradients w.r.t. x, gamma, beta for random cotangents${backend === 'webgpu' && webgpuSkip ? ` (SKIPPED: ${webgpuSkip})` : ''}`, async (ctx) => {
    if (backend === 'webgpu' && webgpuSkip) {
      console.warn(`skipped: ${webgpuSkip}`);
      ctx.skip();
    }
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(sampleArb(), async (s) => {
        const want = await run('reference', s);
        const got = await run(backend, s);
        const tol = budgets(s);
        const what = `${label(s)} on ${backend}`;
        expectClose(`${what}: forward`, got.y, want.y, tol.yTol);
        expectClose(`${what}: dx`, got.dx, want.dx, tol.dxTol);
        if (s.gamma) expectClose(`${what}: dgamma`, got.dgamma!, want.dgamma!, tol.dgTol);
        if (s.beta) expectClose(`${what}: dbeta`, got.dbeta!, want.dbeta!, tol.dbTol);
        cases++;
      }),
      fcParams(backend === 'webgpu' ? 12 : 40),
    );
    expect(cases).toBeGreaterThan(0);
  });
});

describe.each(['webasm', 'cpu', 'webgpu'] as B[])('groupNorm on %s: long loops', (backend) => {
  // gpu.js silently caps an argument-bounded loop at loopMaxIterations (1000 by default): a
  // channel of 72 x 64 positions is 1152 quads per lane, a group of 2 such channels 9216 elements
  it(`x [2, 4, 72, 64], 2 groups: forward and gradients match the reference${backend === 'webgpu' && webgpuSkip ? ` (SKIPPED: ${webgpuSkip})` : ''}`, async (ctx) => {
    if (backend === 'webgpu' && webgpuSkip) ctx.skip();
    const shape = [2, 4, 72, 64];
    const n = 2 * 4 * 72 * 64;
    const s: Sample = {
      shape, groups: 2, eps: 1e-5,
      x: f32(Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2 + (i % 97) / 50)),
      g: Array.from({ length: n }, (_, i) => Math.round(Math.cos(i * 0.11) * 64) / 64),
      gamma: [0.5, -1.25, 2, 1], beta: [0.25, 0, -0.5, 1],
    };
    const want = await run('reference', s);
    const got = await run(backend, s);
    const tol = budgets(s);
    expectClose(`forward on ${backend}`, got.y, want.y, tol.yTol);
    expectClose(`dx on ${backend}`, got.dx, want.dx, tol.dxTol);
    expectClose(`dgamma on ${backend}`, got.dgamma!, want.dgamma!, tol.dgTol);
    expectClose(`dbeta on ${backend}`, got.dbeta!, want.dbeta!, tol.dbTol);
  });
});

describe('groupNorm on the float64 reference backend', () => {
  it('matches an independent plain-JS float64 computation (forward, dx, dgamma, dbeta)', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb(), async (s) => {
        const got = await run('reference', s);
        const [N, C] = s.shape;
        const M = s.x.length / (N * s.groups);
        const HW = s.x.length / (N * C);
        const y: number[] = [];
        const dx: number[] = [];
        const dgamma = new Array<number>(C).fill(0);
        const dbeta = new Array<number>(C).fill(0);
        for (let r = 0; r < N * s.groups; r++) {
          const xs = s.x.slice(r * M, (r + 1) * M);
          const mean = xs.reduce((a, b) => a + b, 0) / M;
          const rstd = 1 / Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / M + s.eps);
          const ch = (k: number) => (r % s.groups) * (C / s.groups) + Math.floor(k / HW);
          const h = xs.map((v) => (v - mean) * rstd);
          const d = h.map((_, k) => s.g[r * M + k] * (s.gamma ? s.gamma[ch(k)] : 1));
          const md = d.reduce((a, b) => a + b, 0) / M;
          const mdh = d.reduce((a, b, k) => a + b * h[k], 0) / M;
          h.forEach((hk, k) => {
            y.push(hk * (s.gamma ? s.gamma[ch(k)] : 1) + (s.beta ? s.beta[ch(k)] : 0));
            dx.push(rstd * (d[k] - md - hk * mdh));
            dgamma[ch(k)] += s.g[r * M + k] * hk;
            dbeta[ch(k)] += s.g[r * M + k];
          });
        }
        const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(b[i]))));
        close(got.y, y);
        close(got.dx, dx);
        if (s.gamma) close(got.dgamma!, dgamma);
        if (s.beta) close(got.dbeta!, dbeta);
      }),
      fcParams(40),
    );
  });

  it('gradcheck (public) of groupNorm, groupNormGrad and groupNormParamGrad', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb(2).filter((s) => s.x.length / (s.shape[0] * s.groups) >= 2), async (s) => {
        const C = s.shape[1];
        const xs = T.useBackend('reference', () => [
          T.tensor(s.x.map((v, i) => (s.x.length > 1 && v > 500 ? v : v + (i % 3) / 8)), s.shape), // constant groups made non-constant: smooth region
          T.tensor(s.g, s.shape),
          T.tensor(s.gamma ?? new Array(C).fill(0.75)),
          T.tensor(s.beta ?? new Array(C).fill(-0.25)),
        ]);
        try {
          const o = { eps: Math.max(s.eps, 1e-3) };
          const checks: [string, (...t: Tensor[]) => Tensor, Tensor[]][] = [
            ['groupNorm', (x, ga, be) => T.groupNorm(x, s.groups, { ...o, gamma: ga, beta: be }), [xs[0], xs[2], xs[3]]],
            ['groupNormGrad', (x, g, ga) => T.groupNormGrad(x, g, s.groups, { ...o, gamma: ga }), [xs[0], xs[1], xs[2]]],
            ['groupNormParamGrad', (x, g) => T.groupNormParamGrad(x, g, s.groups, o), [xs[0], xs[1]]],
          ];
          for (const [name, f, args] of checks) {
            if (s.x[0] > 500) continue; // the offset case: finite differences at 1e3 +- 1e-4 are meaningless
            const rep = await gradcheck(f, args, { directions: 2 });
            expect(rep.ok, `${name} ${label(s)}`).toBe(true);
            expect(rep.backend).toBe('reference');
          }
        } finally {
          T.dispose(xs);
        }
      }),
      fcParams(8),
    );
  });
});

describe('groupNormBackward and edge cases', () => {
  it('groupNormBackward (shared statistics) equals groupNormGrad and groupNormParamGrad bit for bit, on webasm and reference', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb(), fc.constantFrom<T.BackendName>('webasm', 'reference'), async (s, backend) => {
        await T.useBackend(backend, async () => {
          const [x, g, gamma] = [T.tensor(s.x, s.shape), T.tensor(s.g, s.shape), s.gamma ? T.tensor(s.gamma) : undefined];
          const o = { eps: s.eps, gamma };
          const { dx, dparams } = T.groupNormBackward(x, g, s.groups, o);
          const dx2 = T.groupNormGrad(x, g, s.groups, o);
          const dp2 = T.groupNormParamGrad(x, g, s.groups, { eps: s.eps });
          const only = T.groupNormBackward(x, g, s.groups, o, false);
          try {
            expect(Array.from(await dx.data())).toEqual(Array.from(await dx2.data()));
            expect(Array.from(await dparams!.data())).toEqual(Array.from(await dp2.data()));
            expect(only.dparams).toBeUndefined();
            expect(Array.from(await only.dx.data())).toEqual(Array.from(await dx2.data()));
          } finally {
            T.dispose([x, g, dx, dparams!, dx2, dp2, only.dx, ...(gamma ? [gamma] : [])]);
          }
        });
      }),
      fcParams(20),
    );
  });

  it('an empty batch (N = 0): empty output and gradients, zero dgamma / dbeta', async () => {
    for (const backend of ['reference', 'webasm'] as const) {
      const [x, ga] = T.useBackend(backend, () => [T.zeros([0, 4, 3]), T.ones([4])]);
      const y = T.groupNorm(x, 2, { gamma: ga, beta: ga });
      const gr = grad((xx: Tensor, gg: Tensor, bb: Tensor) => T.sum(T.groupNorm(xx, 2, { gamma: gg, beta: bb })), [0, 1, 2])(x, ga, ga) as Tensor[];
      try {
        expect(y.shape).toEqual([0, 4, 3]);
        expect(gr[0].shape).toEqual([0, 4, 3]);
        expect(Array.from(await gr[1].data())).toEqual([0, 0, 0, 0]);
        expect(Array.from(await gr[2].data())).toEqual([0, 0, 0, 0]);
      } finally {
        T.dispose([x, ga, y, gr]);
      }
    }
  });
});

describe('groupNorm errors (README form)', () => {
  it('wrong groups, gamma / beta shape, rank < 2, cotangent shape', () => {
    T.useBackend('reference', () => {
      T.tidy(() => {
        const x = T.zeros([2, 6, 3]);
        expect(() => T.groupNorm(x, 4)).toThrow(/^groupNorm: x \[2,6,3\] has 6 channels; expected a multiple of groups \(4\)/);
        expect(() => T.groupNorm(x, 0)).toThrow(/^groupNorm: groups must be a positive integer, got 0/);
        expect(() => T.groupNorm(x, 1.5)).toThrow(/^groupNorm: groups must be a positive integer, got 1.5/);
        expect(() => T.groupNorm(x, 3, { gamma: T.ones([3]) })).toThrow(/^groupNorm: gamma has shape \[3\]; expected \[6\] \(one value per channel of x \[2,6,3\]\)/);
        expect(() => T.groupNorm(x, 3, { beta: T.ones([6, 1]) })).toThrow(/^groupNorm: beta has shape \[6,1\]; expected \[6\]/);
        expect(() => T.groupNorm(x, 3, { eps: -1 })).toThrow(/^groupNorm: eps must be a finite number in \[0, Infinity\], got -1/);
        expect(() => T.groupNorm(T.zeros([6]), 3)).toThrow(/^groupNorm: x must have rank >= 2 \(N, C, \*spatial\), got shape \[6\]/);
        expect(() => T.groupNorm(T.zeros([2, 6, 0]), 3)).toThrow(/^groupNorm: x \[2,6,0\] has no spatial positions/);
        expect(() => T.groupNormGrad(x, T.zeros([2, 6]), 3)).toThrow(/^groupNormGrad: g has shape \[2,6\]; expected x's shape \[2,6,3\]/);
        expect(() => T.groupNormParamGrad(x, x, 5)).toThrow(/^groupNormParamGrad: x \[2,6,3\] has 6 channels; expected a multiple of groups \(5\)/);
      });
    });
  });
});
