// multiHeadSelfAttention against a naive float64 reference written from the definition
// (PyTorch nn.MultiheadAttention's packing), token-permutation equivariance, the NCHW path,
// causal masking, and numerical stability of the softmax.

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

/** Naive attention on host arrays: x [B][T][D], params as flat arrays. */
function naive(x: number[][][], p: { wIn: number[]; bIn: number[]; wOut: number[]; bOut: number[] }, D: number, H: number, causal = false): number[][][] {
  const dh = D / H;
  const lin = (v: number[], w: number[], b: number[], rows: number) =>
    Array.from({ length: rows }, (_, o) => b[o] + v.reduce((s, vi, i) => s + vi * w[o * v.length + i], 0));
  return x.map((seq) => {
    const qkv = seq.map((tok) => lin(tok, p.wIn, p.bIn, 3 * D));
    const out = seq.map(() => new Array(D).fill(0));
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < seq.length; i++) {
        const scores: number[] = [];
        for (let j = 0; j < seq.length; j++) {
          let s = 0;
          for (let d = 0; d < dh; d++) s += qkv[i][h * dh + d] * qkv[j][D + h * dh + d];
          scores.push(causal && j > i ? -Infinity : s / Math.sqrt(dh));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < seq.length; j++) for (let d = 0; d < dh; d++) out[i][h * dh + d] += (e[j] / z) * qkv[j][2 * D + h * dh + d];
      }
    }
    return out.map((o) => lin(o, p.wOut, p.bOut, D));
  });
}

const to3 = (v: number[], B: number, Tn: number, D: number) =>
  Array.from({ length: B }, (_, b) => Array.from({ length: Tn }, (_, t) => v.slice((b * Tn + t) * D, (b * Tn + t + 1) * D)));

async function randomParams(seed: number, D: number, H: number): Promise<nn.MultiHeadSelfAttentionParams> {
  const p = nn.multiHeadSelfAttention.init(T.randomKey(seed), { dim: D, heads: H });
  T.dispose([p.in_proj_bias, p.out_proj.bias]);
  return { ...p, in_proj_bias: randn(seed, [3 * D], 0.5), out_proj: { weight: p.out_proj.weight, bias: randn(seed + 1, [D], 0.5) } };
}

async function hostParams(p: nn.MultiHeadSelfAttentionParams) {
  return { wIn: await host(p.in_proj_weight), bIn: await host(p.in_proj_bias!), wOut: await host(p.out_proj.weight), bOut: await host(p.out_proj.bias!) };
}

describe('multiHeadSelfAttention', () => {
  it('matches a naive reference on random inputs (sequences, heads, causal)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.nat(10000), async (B, Tn, H, dh, causal, seed) => {
        const D = H * dh;
        const p = await randomParams(seed, D, H);
        const x = randn(seed + 7, [B, Tn, D], 2);
        const y = nn.multiHeadSelfAttention.apply(p, x, { heads: H, causal });
        const want = naive(to3(await host(x), B, Tn, D), await hostParams(p), D, H, causal).flat(2);
        const got = await host(y);
        got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(tol(1e-4, 1e-11) * (1 + Math.abs(want[i]))));
        T.dispose([p, x, y]);
      }),
      { numRuns: fcRuns(15), seed: 7 },
    );
  });

  it('is permutation-equivariant over tokens (without a causal mask)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 6 }), fc.nat(10000), async (Tn, seed) => {
        const D = 4;
        const perm = Array.from({ length: Tn }, (_, i) => i).sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13) || a - b);
        const p = await randomParams(seed, D, 2);
        const x = randn(seed, [2, Tn, D]);
        const xp = T.gather(x, perm, 1);
        const y = nn.multiHeadSelfAttention.apply(p, x, { heads: 2 });
        const yp = nn.multiHeadSelfAttention.apply(p, xp, { heads: 2 });
        const py = T.gather(y, perm, 1);
        const [a, b] = [await host(yp), await host(py)];
        a.forEach((v, i) => expect(v).toBeCloseTo(b[i], tol(5, 11)));
        T.dispose([p, x, xp, y, yp, py]);
      }),
      { numRuns: fcRuns(10), seed: 3 },
    );
  });

  it('over NCHW maps equals the sequence path on the H*W tokens', async () => {
    const p = await randomParams(5, 6, 3);
    const x = randn(11, [2, 6, 2, 3]);
    const y = nn.multiHeadSelfAttention.apply(p, x, { heads: 3 });
    const seq = T.tidy(() => T.transpose(T.reshape(x, [2, 6, 6]), [0, 2, 1]));
    const ys = nn.multiHeadSelfAttention.apply(p, seq, { heads: 3 });
    const back = T.tidy(() => T.reshape(T.transpose(ys, [0, 2, 1]), [2, 6, 2, 3]));
    expect(y.shape).toEqual([2, 6, 2, 3]);
    expect(await host(y)).toEqual(await host(back));
    T.dispose([p, x, y, seq, ys, back]);
  });

  it('softmax is stable: huge logits give finite outputs and attention weights that sum to 1', async () => {
    const q = T.tensor([[[1e4, -1e4], [3e4, 1e4]]]);
    const k = T.tensor([[[1e4, 2e4], [-1e4, 5e3]]]);
    const v = T.tensor([[[1, 2], [3, 4]]]);
    const o = nn.scaledDotProductAttention(q, k, v);
    const vals = await host(o);
    expect(vals.every(Number.isFinite)).toBe(true);
    const logits = T.tensor([[1000, 1001, -1e30], [-1e30, -1e30, 5]]);
    const s = nn.stableSoftmax(logits);
    const sv = await host(s);
    expect(sv.every(Number.isFinite)).toBe(true);
    expect(sv[0] + sv[1] + sv[2]).toBeCloseTo(1, 6);
    expect(sv.slice(3)).toEqual([0, 0, 1]);
    T.dispose([q, k, v, o, s, logits]);
  });

  it('causal: output at position t does not depend on later tokens', async () => {
    const p = await randomParams(1, 4, 2);
    const x = randn(2, [1, 5, 4]);
    const x2 = T.tidy(() => T.concat([T.slice(x, [0, 0, 0], [1, 3, 4]), randn(3, [1, 2, 4])], 1));
    const y = nn.multiHeadSelfAttention.apply(p, x, { heads: 2, causal: true });
    const y2 = nn.multiHeadSelfAttention.apply(p, x2, { heads: 2, causal: true });
    const [a, b] = [await host(y), await host(y2)];
    expect(a.slice(0, 12)).toEqual(b.slice(0, 12));
    expect(a.slice(12)).not.toEqual(b.slice(12));
    T.dispose([p, x, x2, y, y2]);
  });
});
