// Every layer: gradcheck (autograd's VJP on the default backend against float64 central
// differences on the reference backend) with respect to params and inputs, small random shapes.

import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import * as nn from '../src/index.ts';
import { gradgradcheck } from '@tapegrad/autograd';
import { gradcheckTree, randn } from './helpers.ts';

// start the backend chosen by TAPEGRAD_BACKEND (webgpu needs an asynchronous start-up)
beforeAll(async () => {
  await T.ready();
});

const key = (i: number) => T.randomKey(1000 + i);

/** Init params, check the gradient w.r.t. params and inputs, dispose everything. */
async function check<P>(init: () => P, f: (p: P, ...xs: Tensor[]) => Tensor, inputs: () => Tensor[]): Promise<void> {
  const params = init();
  const xs = inputs();
  try {
    const r = await gradcheckTree(f, params, xs);
    expect(r.ok).toBe(true);
    expect(r.checks).toBeGreaterThan(0);
  } finally {
    T.dispose([params, xs]);
  }
}

describe('gradcheck w.r.t. params and inputs', () => {
  it('linear (rank-3 input, with and without bias)', async () => {
    await check(() => nn.linear.init(key(0), { inFeatures: 3, outFeatures: 4 }), (p, x) => nn.linear.apply(p, x), () => [randn(1, [2, 3, 3])]);
    await check(() => nn.linear.init(key(1), { inFeatures: 5, outFeatures: 2, bias: false }), (p, x) => nn.linear.apply(p, x), () => [randn(2, [4, 5])]);
  });

  it('conv2d (stride 2, padding 1, groups 2, dilation)', async () => {
    const cfg = { inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1, groups: 2 } as const;
    await check(() => nn.conv2d.init(key(2), cfg), (p, x) => nn.conv2d.apply(p, x, cfg), () => [randn(3, [2, 4, 5, 5])]);
    const cfg2 = { inChannels: 2, outChannels: 3, kernelSize: 3, padding: 'same' as const, bias: false };
    await check(() => nn.conv2d.init(key(3), cfg2), (p, x) => nn.conv2d.apply(p, x, cfg2), () => [randn(4, [1, 2, 4, 3])]);
    const cfg3 = { inChannels: 2, outChannels: 3, kernelSize: [3, 1] as [number, number], dilation: 2, padding: [2, 0] as [number, number] };
    await check(() => nn.conv2d.init(key(4), cfg3), (p, x) => nn.conv2d.apply(p, x, cfg3), () => [randn(5, [1, 2, 6, 4])]);
  });

  it('convTranspose2d (stride 2, padding 1, outputPadding 1, groups 2)', async () => {
    const cfg = { inChannels: 4, outChannels: 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2 } as const;
    await check(() => nn.convTranspose2d.init(key(5), cfg), (p, x) => nn.convTranspose2d.apply(p, x, cfg), () => [randn(6, [2, 4, 3, 3])]);
  });

  it('upsample + conv2d', async () => {
    const m = nn.sequential(nn.upsample, nn.conv2d.module({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }));
    await check(() => m.init(key(6)), (p, x) => m.apply(p, x), () => [randn(7, [1, 2, 3, 2])]);
  });

  it('groupNorm (NCHW and N,C,L) and layerNorm (1 and 2 normalized dims)', async () => {
    const g = { groups: 2, channels: 4 };
    const perturbed = (p: nn.NormParams, s: number): nn.NormParams => {
      // non-trivial affine params so their gradients are exercised
      const out = T.tidy(() => ({
        weight: T.add(p.weight!, randn(s, p.weight!.shape.slice(), 0.5)),
        bias: T.add(p.bias!, randn(s + 1, p.bias!.shape.slice(), 0.5)),
      }));
      T.dispose(p);
      return out;
    };
    await check(() => perturbed(nn.groupNorm.init(key(7), g), 10), (p, x) => nn.groupNorm.apply(p, x, g), () => [randn(8, [2, 4, 3, 2], 2)]);
    await check(() => perturbed(nn.groupNorm.init(key(8), g), 12), (p, x) => nn.groupNorm.apply(p, x, g), () => [randn(9, [3, 4, 5], 2)]);
    const l1 = { normalizedShape: 5 };
    await check(() => perturbed(nn.layerNorm.init(key(9), l1), 14), (p, x) => nn.layerNorm.apply(p, x, l1), () => [randn(10, [2, 3, 5], 2)]);
    const l2 = { normalizedShape: [3, 4] };
    await check(() => perturbed(nn.layerNorm.init(key(10), l2), 16), (p, x) => nn.layerNorm.apply(p, x, l2), () => [randn(11, [2, 3, 4], 2)]);
  });

  it('embedding (params; indices are not differentiable)', async () => {
    await check(() => nn.embedding.init(key(11), { numEmbeddings: 5, embeddingDim: 3 }), (p) => nn.embedding.apply(p, [[0, 4], [4, 2]].flat()), () => []);
  });

  it('activations, dropout, mlp, sequential', async () => {
    for (const act of [nn.relu, nn.silu, nn.gelu, nn.tanh, nn.sigmoid]) {
      await check(() => ({}), (p, x) => act.apply(p, x), () => [randn(12, [3, 4], 2)]);
    }
    await check(() => ({}), (p, x) => nn.dropout.apply(p, x, { rate: 0.3, key: key(12) }), () => [randn(13, [4, 5])]);
    const cfg = { inFeatures: 3, hiddenFeatures: [5, 4], outFeatures: 2, activation: 'silu' as const };
    await check(() => nn.mlp.init(key(13), cfg), (p, x) => nn.mlp.apply(p, x, cfg), () => [randn(14, [2, 3])]);
    const seq = nn.sequential(nn.linear.module({ inFeatures: 3, outFeatures: 4 }), nn.gelu, nn.dropout.module({ rate: 0.5 }), nn.layerNorm.module({ normalizedShape: 4 }));
    await check(() => seq.init(key(14)), (p, x) => seq.apply(p, x, { train: true, key: key(15) }), () => [randn(15, [2, 3])]);
  });

  it('multiHeadSelfAttention over sequences (plain and causal) and NCHW maps', async () => {
    const cfg = { dim: 4, heads: 2 };
    // non-zero biases so every parameter's gradient is exercised
    const init = (k: number) => {
      const p = nn.multiHeadSelfAttention.init(key(k), cfg);
      const b1 = randn(k, [12], 0.3);
      const b2 = randn(k + 1, [4], 0.3);
      T.dispose([p.in_proj_bias, p.out_proj.bias]);
      return { ...p, in_proj_bias: b1, out_proj: { weight: p.out_proj.weight, bias: b2 } };
    };
    await check(() => init(16), (p, x) => nn.multiHeadSelfAttention.apply(p, x, { heads: 2 }), () => [randn(17, [2, 3, 4])]);
    await check(() => init(18), (p, x) => nn.multiHeadSelfAttention.apply(p, x, { heads: 2, causal: true }), () => [randn(19, [1, 4, 4])]);
    await check(() => init(20), (p, x) => nn.multiHeadSelfAttention.apply(p, x, { heads: 1 }), () => [randn(21, [1, 4, 2, 2])]);
  });

  it('sinusoidalEmbedding of tensor timesteps', async () => {
    await check(() => ({}), (_p, t) => nn.sinusoidalEmbedding(t, 6), () => [T.tensor([0.5, 1.25, 3])]);
  });

  it('second derivatives (gradgradcheck) through norms, attention and conv w.r.t. inputs', async () => {
    const x = randn(30, [2, 4, 3, 2], 2);
    const seq = randn(31, [1, 3, 4]);
    // params are created inside f (same key, same values), so that gradcheck's float64
    // re-evaluations on the reference backend get them on that backend
    const withParams = <P>(init: () => P, f: (p: P, t: Tensor) => Tensor) => (t: Tensor) => {
      const p = init();
      try {
        return f(p, t);
      } finally {
        T.dispose(p);
      }
    };
    const conv = withParams(() => nn.conv2d.init(key(31), { inChannels: 4, outChannels: 2, kernelSize: 3 }), (p, t) => nn.conv2d.apply(p, nn.silu.apply({}, t), { padding: 1, stride: 2 }));
    const mha = withParams(() => nn.multiHeadSelfAttention.init(key(30), { dim: 4, heads: 2 }), (p, t) => nn.multiHeadSelfAttention.apply(p, t, { heads: 2, causal: true }));
    try {
      for (const [f, inp] of [
        [(t: Tensor) => nn.groupNorm.apply({}, t, { groups: 2 }), x],
        [(t: Tensor) => nn.layerNorm.apply({}, t, { normalizedShape: [3, 2] }), x],
        [conv, x],
        [mha, seq],
      ] as [(t: Tensor) => Tensor, Tensor][]) {
        expect((await gradgradcheck(f, [inp])).ok).toBe(true);
      }
    } finally {
      T.dispose([x, seq]);
    }
  });
});
