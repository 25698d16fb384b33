// Layer forward semantics: output shapes for random configs (property), norm statistics,
// linear / embedding / sinusoidal values against host formulas, init distributions matching
// PyTorch's defaults, key determinism, and the error messages.

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import * as nn from '../src/index.ts';
import { host, randn, tol } from './helpers.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

// start the backend chosen by TAPEGRAD_BACKEND (webgpu needs an asynchronous start-up)
beforeAll(async () => {
  await T.ready();
});

const RUNS = { numRuns: fcRuns(12), seed: 42 };

describe('output shapes for random configs (property)', () => {
  it('linear and mlp over arbitrary leading dims', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }), fc.nat(1000), (lead, inF, outF, hidden, seed) => {
        T.tidy(() => {
          const k = T.randomKey(seed);
          const x = T.zeros([...lead, inF]);
          expect(nn.linear.apply(nn.linear.init(k, { inFeatures: inF, outFeatures: outF }), x).shape).toEqual([...lead, outF]);
          const cfg = { inFeatures: inF, hiddenFeatures: hidden, outFeatures: outF };
          const p = nn.mlp.init(k, cfg);
          expect(p.length).toBe(hidden.length + 1);
          expect(nn.mlp.apply(p, x, cfg).shape).toEqual([...lead, outF]);
        });
      }),
      RUNS,
    );
  });

  it('conv2d / convTranspose2d: PyTorch output-size formulas', () => {
    const cfgArb = fc.record({
      n: fc.integer({ min: 1, max: 2 }), g: fc.integer({ min: 1, max: 2 }), cin: fc.integer({ min: 1, max: 2 }), cout: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 7 }), w: fc.integer({ min: 3, max: 7 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 2 }), p: fc.integer({ min: 0, max: 1 }), d: fc.integer({ min: 1, max: 2 }), seed: fc.nat(1000),
    });
    fc.assert(
      fc.property(cfgArb, (c) => {
        T.tidy(() => {
          const cfg = { inChannels: c.cin * c.g, outChannels: c.cout * c.g, kernelSize: [c.kh, c.kw] as [number, number], stride: c.s, padding: c.p, dilation: c.d, groups: c.g };
          const x = T.zeros([c.n, cfg.inChannels, c.h, c.w]);
          const ho = Math.floor((c.h + 2 * c.p - c.d * (c.kh - 1) - 1) / c.s) + 1;
          const wo = Math.floor((c.w + 2 * c.p - c.d * (c.kw - 1) - 1) / c.s) + 1;
          const p = nn.conv2d.init(T.randomKey(c.seed), cfg);
          expect(p.weight.shape).toEqual([cfg.outChannels, c.cin, c.kh, c.kw]);
          if (ho >= 1 && wo >= 1) expect(nn.conv2d.apply(p, x, cfg).shape).toEqual([c.n, cfg.outChannels, ho, wo]);
          const op = c.s > 1 ? 1 : 0;
          const tcfg = { ...cfg, outputPadding: op };
          const pt = nn.convTranspose2d.init(T.randomKey(c.seed), tcfg);
          expect(pt.weight.shape).toEqual([cfg.inChannels, c.cout, c.kh, c.kw]);
          const th = (c.h - 1) * c.s - 2 * c.p + c.d * (c.kh - 1) + op + 1;
          const tw = (c.w - 1) * c.s - 2 * c.p + c.d * (c.kw - 1) + op + 1;
          expect(nn.convTranspose2d.apply(pt, x, tcfg).shape).toEqual([c.n, cfg.outChannels, th, tw]);
        });
      }),
      RUNS,
    );
  });

  it('norms, attention, embedding, sinusoidal, upsample, flatten keep or map shapes as documented', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.nat(1000), (n, g, cpg, h, heads, seed) => {
        T.tidy(() => {
          const k = T.randomKey(seed);
          const C = g * cpg;
          const x = randn(seed, [n, C, h, h + 1]);
          expect(nn.groupNorm.apply(nn.groupNorm.init(k, { groups: g, channels: C }), x, { groups: g }).shape).toEqual(x.shape);
          expect(nn.layerNorm.apply(nn.layerNorm.init(k, { normalizedShape: [h, h + 1] }), x).shape).toEqual(x.shape);
          const D = heads * cpg;
          const mha = nn.multiHeadSelfAttention.init(k, { dim: D, heads });
          expect(nn.multiHeadSelfAttention.apply(mha, T.zeros([n, h + 2, D]), { heads }).shape).toEqual([n, h + 2, D]);
          expect(nn.multiHeadSelfAttention.apply(mha, T.zeros([n, D, h, 2]), { heads }).shape).toEqual([n, D, h, 2]);
          const e = nn.embedding.init(k, { numEmbeddings: 4, embeddingDim: C });
          expect(nn.embedding.apply(e, T.zeros([n, h])).shape).toEqual([n, h, C]);
          expect(nn.sinusoidalEmbedding(Array.from({ length: n }, (_, i) => i), 2 * C + 2 + (seed % 2)).shape).toEqual([n, 2 * C + 2 + (seed % 2)]);
          expect(nn.upsample.apply({}, x, { scale: [2, 3] }).shape).toEqual([n, C, 2 * h, 3 * (h + 1)]);
          expect(nn.flatten.apply({}, x).shape).toEqual([n, C * h * (h + 1)]);
        });
      }),
      RUNS,
    );
  });
});

describe('norm statistics', () => {
  it('groupNorm output has per-(sample, group) mean 0 and population variance 1', async () => {
    for (const [shape, groups] of [[[2, 6, 3, 4], 3], [[3, 4, 5], 2], [[1, 8, 2, 2], 8]] as [number[], number][]) {
      const p = nn.groupNorm.init(T.randomKey(0), { groups, channels: shape[1] });
      const x = T.tidy(() => T.add(T.mul(randn(shape.length, shape, 1), 3), 5));
      const y = nn.groupNorm.apply(p, x, { groups });
      const v = await host(y);
      const per = v.length / (shape[0] * groups);
      for (let s = 0; s < shape[0] * groups; s++) {
        const grp = v.slice(s * per, (s + 1) * per);
        const m = grp.reduce((a, b) => a + b, 0) / per;
        const va = grp.reduce((a, b) => a + (b - m) ** 2, 0) / per;
        expect(Math.abs(m)).toBeLessThan(tol(1e-5));
        // eps = 1e-5 inside the square root: var = sigma^2 / (sigma^2 + eps)
        expect(Math.abs(va - 1)).toBeLessThan(1e-4 / 9 + 1e-5);
      }
      T.dispose([p, x, y]);
    }
  });

  it('layerNorm output has per-row mean 0 and variance 1 over the normalized dims; affine params apply after', async () => {
    const x = T.tidy(() => T.add(T.mul(randn(7, [4, 2, 3], 1), 10), -2));
    const p = nn.layerNorm.init(T.randomKey(0), { normalizedShape: [2, 3] });
    const y = nn.layerNorm.apply(p, x);
    const v = await host(y);
    for (let r = 0; r < 4; r++) {
      const row = v.slice(r * 6, r * 6 + 6);
      const m = row.reduce((a, b) => a + b, 0) / 6;
      expect(Math.abs(m)).toBeLessThan(tol(1e-5));
      expect(Math.abs(row.reduce((a, b) => a + (b - m) ** 2, 0) / 6 - 1)).toBeLessThan(1e-4);
    }
    const p2 = { weight: T.full([2, 3], 2), bias: T.full([2, 3], 0.5) };
    const y2 = nn.layerNorm.apply(p2, x);
    const v2 = await host(y2);
    v2.forEach((z, i) => expect(z).toBeCloseTo(2 * v[i] + 0.5, tol(5, 12)));
    const noAffine = nn.layerNorm.init(T.randomKey(0), { normalizedShape: 3, elementwiseAffine: false });
    expect(noAffine).toEqual({});
    const y3 = nn.layerNorm.apply(noAffine, x, { normalizedShape: 3 });
    expect(y3.shape).toEqual([4, 2, 3]);
    T.dispose([x, p, y, p2, y2, y3]);
  });
});

describe('forward values', () => {
  it('linear computes x W^T + b', async () => {
    const p = { weight: T.tensor([[1, 2, 3], [-1, 0, 2]]), bias: T.tensor([0.5, -1]) };
    const x = T.tensor([[1, 1, 1], [2, 0, -1]]);
    const y = nn.linear.apply(p, x);
    expect(await y.array()).toEqual([[6.5, 0], [-0.5, -5]]);
    T.dispose([p, x, y]);
  });

  it('embedding picks rows; out-of-range indices are rejected naming the layer', async () => {
    const p = { weight: T.tensor([[0, 1], [2, 3], [4, 5]]) };
    const y = nn.embedding.apply(p, [2, 0, 2]);
    expect(await y.array()).toEqual([[4, 5], [0, 1], [4, 5]]);
    const idx = T.tensor([[1], [3]]);
    // tensor indices are checked where the backend can read them without blocking (not webgpu)
    if (T.getBackend() !== 'webgpu') expect(() => nn.embedding.apply(p, idx)).toThrow(/^embedding: index 3 at position 1 .* not an integer in \[0, 3\)/);
    expect(() => nn.embedding.apply(p, [0.5])).toThrow(/^embedding: index 0.5/);
    T.dispose([p, y, idx]);
  });

  it('sinusoidalEmbedding matches the float64 formula (diffusers get_timestep_embedding), host and tensor paths', async () => {
    const ts = [0, 1, 17, 999];
    for (const opts of [{}, { flipSinToCos: true, downscaleFreqShift: 0 }, { maxPeriod: 100, scale: 2 }]) {
      for (const dim of [8, 7]) {
        const half = Math.floor(dim / 2);
        const shift = (opts as nn.SinusoidalOptions).downscaleFreqShift ?? 1;
        const mp = (opts as nn.SinusoidalOptions).maxPeriod ?? 10000;
        const sc = (opts as nn.SinusoidalOptions).scale ?? 1;
        const expected = ts.map((t) => {
          const row = new Array(dim).fill(0);
          for (let i = 0; i < half; i++) {
            const a = sc * t * Math.exp((-Math.log(mp) * i) / (half - shift));
            const [f, s] = (opts as nn.SinusoidalOptions).flipSinToCos ? [Math.cos(a), Math.sin(a)] : [Math.sin(a), Math.cos(a)];
            row[i] = f;
            row[half + i] = s;
          }
          return row;
        });
        const e1 = nn.sinusoidalEmbedding(ts, dim, opts);
        const v1 = await host(e1);
        v1.forEach((v, i) => expect(Math.abs(v - expected[Math.floor(i / dim)][i % dim])).toBeLessThan(tol(1e-6)));
        const tt = T.tensor(ts);
        const e2 = nn.sinusoidalEmbedding(tt, dim, opts);
        const v2 = await host(e2);
        // float32 arguments up to ~2000 rad: absolute error ~ 2000 * 2^-24
        v2.forEach((v, i) => expect(Math.abs(v - expected[Math.floor(i / dim)][i % dim])).toBeLessThan(tol(3e-4, 1e-10)));
        T.dispose([e1, e2, tt]);
      }
    }
  });

  it('dropout: keyed, inverted scaling, rate 0 / 1, module form only in training mode', async () => {
    const x = T.ones([1000]);
    const k = T.randomKey(3);
    const a = nn.dropout.apply({}, x, { rate: 0.25, key: k });
    const b = nn.dropout.apply({}, x, { rate: 0.25, key: k });
    const va = await host(a);
    expect(va).toEqual(await host(b));
    const kept = va.filter((v) => v !== 0);
    kept.forEach((v) => expect(v).toBeCloseTo(1 / 0.75, tol(6, 12)));
    expect(kept.length).toBeGreaterThan(700);
    expect(kept.length).toBeLessThan(800);
    const m = nn.dropout.module({ rate: 0.5 });
    const ev = m.apply({}, x);
    expect(await host(ev)).toEqual(await host(x));
    expect(() => m.apply({}, x, { train: true })).toThrow(/^dropout: training mode .* needs ctx.key/);
    const z = nn.dropout.apply({}, x, { rate: 1 });
    expect((await host(z)).every((v) => v === 0)).toBe(true);
    expect(() => nn.dropout.apply({}, x, { rate: 0.5 })).toThrow(/^dropout: rate 0.5 needs a key/);
    expect(() => nn.dropout.apply({}, x, { rate: 1.5, key: k })).toThrow(/^dropout: rate must be a finite number in \[0, 1\]/);
    T.dispose([x, a, b, ev, z]);
  });
});

describe('initializers (PyTorch defaults) and keys', () => {
  async function range(t: T.Tensor): Promise<[number, number]> {
    const v = await host(t);
    return [Math.min(...v), Math.max(...v)];
  }

  it('linear / conv / convTranspose: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias', async () => {
    const cases: [string, () => nn.ConvParams, number][] = [
      ['linear', () => nn.linear.init(T.randomKey(1), { inFeatures: 50, outFeatures: 40 }), 50],
      ['conv2d', () => nn.conv2d.init(T.randomKey(2), { inChannels: 8, outChannels: 32, kernelSize: 3, groups: 2 }), 4 * 9],
      // PyTorch computes the fan in of a ConvTranspose2d weight [in, out/groups, kh, kw] from dim 1
      ['convTranspose2d', () => nn.convTranspose2d.init(T.randomKey(3), { inChannels: 16, outChannels: 6, kernelSize: 2 }), 6 * 4],
    ];
    for (const [name, init, fanIn] of cases) {
      const p = init();
      const bound = 1 / Math.sqrt(fanIn);
      const [lo, hi] = await range(p.weight);
      expect(lo, name).toBeGreaterThanOrEqual(-bound);
      expect(hi, name).toBeLessThan(bound);
      expect(hi - lo, name).toBeGreaterThan(1.8 * bound); // spread over the whole interval
      const [blo, bhi] = await range(p.bias!);
      expect(blo).toBeGreaterThanOrEqual(-bound);
      expect(bhi).toBeLessThan(bound);
      T.dispose(p);
    }
  });

  it('attention: xavier-uniform in_proj, kaiming out_proj, zero biases; zeroInit / zeroInitOut give zeros', async () => {
    const D = 16;
    const p = nn.multiHeadSelfAttention.init(T.randomKey(4), { dim: D, heads: 4 });
    const [lo, hi] = await range(p.in_proj_weight);
    const xb = Math.sqrt(6 / (D + 3 * D));
    expect(lo).toBeGreaterThanOrEqual(-xb);
    expect(hi).toBeLessThan(xb);
    expect(hi - lo).toBeGreaterThan(1.8 * xb);
    const [olo, ohi] = await range(p.out_proj.weight);
    expect(Math.max(-olo, ohi)).toBeLessThan(1 / Math.sqrt(D));
    expect(await host(p.in_proj_bias!)).toEqual(new Array(3 * D).fill(0));
    const z = nn.multiHeadSelfAttention.init(T.randomKey(4), { dim: D, heads: 4, zeroInitOut: true });
    expect((await host(z.out_proj.weight)).every((v) => v === 0)).toBe(true);
    const zl = nn.linear.init(T.randomKey(5), { inFeatures: 3, outFeatures: 2, zeroInit: true });
    const zc = nn.conv2d.init(T.randomKey(5), { inChannels: 3, outChannels: 2, kernelSize: 3, zeroInit: true });
    for (const t of [zl.weight, zl.bias!, zc.weight, zc.bias!]) expect((await host(t)).every((v) => v === 0)).toBe(true);
    const e = nn.embedding.init(T.randomKey(6), { numEmbeddings: 100, embeddingDim: 50 });
    const ev = await host(e.weight);
    const mean = ev.reduce((a, b) => a + b, 0) / ev.length;
    const std = Math.sqrt(ev.reduce((a, b) => a + (b - mean) ** 2, 0) / ev.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
    const gn = nn.groupNorm.init(T.randomKey(0), { groups: 2, channels: 4 });
    expect(await host(gn.weight!)).toEqual([1, 1, 1, 1]);
    expect(await host(gn.bias!)).toEqual([0, 0, 0, 0]);
    T.dispose([p, z, zl, zc, e, gn]);
  });

  it('the same key gives the same params, different keys different params; sequential names follow nn.Sequential', async () => {
    const m = nn.sequential(nn.linear.module({ inFeatures: 3, outFeatures: 4 }), nn.relu, nn.conv2d.module({ inChannels: 1, outChannels: 2, kernelSize: 1 }));
    const a = m.init(T.randomKey(9));
    const b = m.init(T.randomKey(9));
    const c = m.init(T.randomKey(10));
    expect(await host(a[0].weight)).toEqual(await host(b[0].weight));
    expect(await host(a[0].weight)).not.toEqual(await host(c[0].weight));
    expect(await host(a[0].weight)).not.toEqual((await host(a[2].weight)).slice(0, 12));
    expect(nn.describeTree(a).map((d) => d.name)).toEqual(['0.bias', '0.weight', '2.bias', '2.weight']);
    expect(nn.countParams(a)).toBe(4 * 3 + 4 + 2 + 2);
    T.dispose([a, b, c]);
  });
});

describe('errors name the layer, the shapes and what was expected', () => {
  it('shape and config errors', () => {
    const made: T.Tensor[] = [];
    const z = (shape: number[]) => {
      const t = T.zeros(shape);
      made.push(t);
      return t;
    };
    const k = T.randomKey(0);
    const lin = nn.linear.init(k, { inFeatures: 5, outFeatures: 8 });
    const x = T.zeros([4, 3]);
    expect(() => nn.linear.apply(lin, x)).toThrow(/^linear: input \[4,3\] has 3 features in its last dimension; expected 5 \(weight \[8,5\] is \[out, in\]\)/);
    expect(() => nn.linear.apply({} as nn.LinearParams, x)).toThrow(/^linear: params.weight is missing/);
    expect(() => nn.linear.init(k, { inFeatures: 0, outFeatures: 2 })).toThrow(/^linear.init: inFeatures must be an integer >= 1, got 0/);
    const conv = nn.conv2d.init(k, { inChannels: 4, outChannels: 4, kernelSize: 3, groups: 2 });
    const img = T.zeros([1, 3, 5, 5]);
    expect(() => nn.conv2d.apply(conv, img)).toThrow(/^conv2d: input \[1,3,5,5\] has 3 channels but weight \[4,2,3,3\] takes 2 per group/);
    expect(() => nn.conv2d.apply(conv, x)).toThrow(/^conv2d: input must have rank 4 \(N, C, H, W\), got \[4,3\]/);
    expect(() => nn.conv2d.init(k, { inChannels: 3, outChannels: 4, kernelSize: 3, groups: 2 })).toThrow(/^conv2d.init: inChannels \(3\) and outChannels \(4\) must both be divisible by groups \(2\)/);
    const gn = nn.groupNorm.init(k, { groups: 2, channels: 4 });
    expect(() => nn.groupNorm.apply(gn, img, { groups: 2 })).toThrow(/^groupNorm: input \[1,3,5,5\] has 3 channels; expected a multiple of groups \(2\)/);
    expect(() => nn.groupNorm.apply(gn, z([1, 6, 2]), { groups: 2 })).toThrow(/^groupNorm: params.weight has shape \[4\]; expected \[6\]/);
    expect(() => nn.groupNorm.apply(gn, img, undefined as never)).toThrow(/^groupNorm: opts.groups must be an integer/);
    const ln = nn.layerNorm.init(k, { normalizedShape: 5 });
    expect(() => nn.layerNorm.apply(ln, x)).toThrow(/^layerNorm: input \[4,3\] does not end with the normalized shape \[5\]/);
    const mha = nn.multiHeadSelfAttention.init(k, { dim: 6, heads: 2 });
    expect(() => nn.multiHeadSelfAttention.apply(mha, z([1, 2, 4]), { heads: 2 })).toThrow(/^multiHeadSelfAttention: input \[1,2,4\] has 4 features; expected 6/);
    expect(() => nn.multiHeadSelfAttention.apply(mha, x, { heads: 4 })).toThrow(/^multiHeadSelfAttention: dim 6 .* is not divisible by heads \(4\)/);
    expect(() => nn.multiHeadSelfAttention.init(k, { dim: 6, heads: 4 })).toThrow(/^multiHeadSelfAttention.init: dim \(6\) must be divisible by heads \(4\)/);
    const one = nn.mlp.init(k, { inFeatures: 5, hiddenFeatures: [], outFeatures: 1 });
    expect(() => nn.mlp.apply(one, x, { activation: 'swish' as never })).toThrow(/^mlp: unknown activation "swish"; expected one of relu, silu, gelu/);
    expect(() => nn.sequential(nn.relu, { name: 'x' } as never)).toThrow(/^sequential: argument 1 is not a module/);
    expect(() => nn.sequential(nn.linear as never).init(k)).toThrow(/^linear.init: inFeatures must be an integer >= 1, got undefined/);
    expect(() => nn.sinusoidalEmbedding([1], 2)).toThrow(/^sinusoidalEmbedding: dim\/2 - downscaleFreqShift must be > 0/);
    T.dispose([lin, x, conv, img, gn, ln, mha, one, made]);
  });

  it('apply never disposes params or inputs and leaves no intermediates alive', () => {
    const k = T.randomKey(1);
    const m = nn.sequential(nn.conv2d.module({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1 }), nn.groupNorm.module({ groups: 2, channels: 4 }), nn.silu, nn.multiHeadSelfAttention.module({ dim: 4, heads: 2 }));
    const p = m.init(k);
    const x = T.zeros([1, 2, 3, 3]);
    const before = T.memory().tensors;
    const y = m.apply(p, x);
    expect(T.memory().tensors).toBe(before + 1);
    expect(x.isDisposed).toBe(false);
    expect(nn.describeTree(p).every(() => true)).toBe(true);
    T.dispose([p, x, y]);
  });
});
