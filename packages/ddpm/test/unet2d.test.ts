// unet2d: gradients (gradcheck, float64 reference), output shapes over random configs
// (fast-check), the ddpm Model adapter (loss, grads, sampling with classifier-free guidance),
// dropout, and errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { gradcheck, valueAndGrad } from '@tapegrad/autograd';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { diffusionLoss } from '../src/process/loss.ts';
import { sample } from '../src/sampling/sample.ts';
import { unet2d, type UNet2DParams } from '../src/models/unet2d.ts';
import type { DownBlockType, UNet2DConfig, UpBlockType } from '../src/models/unet2d-config.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

const TINY_ATTN: UNet2DConfig = {
  inChannels: 1, outChannels: 1, blockOutChannels: [2, 4], normNumGroups: 2, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 2, numClassEmbeds: 3,
};
const TINY_PLAIN: UNet2DConfig = {
  inChannels: 2, outChannels: 1, blockOutChannels: [4, 2], normNumGroups: 1, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'DownBlock2D'], upBlockTypes: ['UpBlock2D', 'UpBlock2D'], addAttention: false,
  resnetTimeScaleShift: 'scale_shift', downsamplePadding: 0, centerInputSample: true, actFn: 'gelu', dropout: 0.3,
  flipSinToCos: false, freqShift: 1, midBlockScaleFactor: 1.5,
};

/** A params tree with non-trivial norms (init starts them at ones and zeros). */
function perturbedParams(config: UNet2DConfig, seed: number): UNet2DParams {
  return T.tidy(() => {
    const p = unet2d.init(T.randomKey(seed), config);
    let i = 0;
    return T.treeMap((t: T.Tensor) => T.add(t, T.randomNormal(T.randomKey(1000 + seed * 997 + i++), t.shape, 0, 0.2)), p);
  });
}

describe('unet2d gradients (gradcheck against float64 finite differences, reference backend)', () => {
  for (const [name, config, train] of [['attention + classes', TINY_ATTN, false], ['scale_shift, padding 0, gelu, dropout (train)', TINY_PLAIN, true]] as const) {
    it(`${name}: every parameter and the input`, async () => {
      await T.useBackend('reference', async () => {
        const params = perturbedParams(config, 1);
        const [leaves, def] = T.treeFlatten(params);
        const x = T.randomNormal(T.randomKey(2), [2, config.inChannels!, 4, 4]);
        const c = unet2d.resolveConfig(config);
        const opts = { config, classLabels: c.numClassEmbeds ? [2, 0] : undefined, train, key: T.randomKey(5) };
        const f = (...xs: T.Tensor[]) => {
          const p = T.treeUnflatten<UNet2DParams>(def, xs.slice(0, -1));
          return T.tidy(() => T.sum(T.square(unet2d.apply(p, xs[xs.length - 1], [3, 41], opts))));
        };
        try {
          const report = await gradcheck(f, [...(leaves as T.Tensor[]), x], { directions: 4 });
          expect(report.ok).toBe(true);
          expect(report.checks).toBeGreaterThanOrEqual(4);
        } finally {
          T.dispose([params, x]);
        }
      });
    });
  }
});

const arbConfig: fc.Arbitrary<{ config: UNet2DConfig; B: number; H: number; W: number }> = fc
  .record({
    levels: fc.integer({ min: 1, max: 3 }),
    groups: fc.constantFrom(1, 2),
    mult: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    attnDown: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    attnUp: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    layers: fc.integer({ min: 1, max: 2 }),
    headDim: fc.constantFrom(null, 1, 2, 4), // 4 with 6 channels: 1 head, q/k/v of width 4 != 6 (as diffusers)
    addAttention: fc.boolean(),
    mid: fc.boolean(),
    classes: fc.constantFrom(null, 2, 5),
    inC: fc.integer({ min: 1, max: 3 }),
    outC: fc.integer({ min: 1, max: 3 }),
    shift: fc.constantFrom('default', 'scale_shift') as fc.Arbitrary<'default' | 'scale_shift'>,
    pad: fc.constantFrom(0, 1, 2),
    temb: fc.constantFrom(null, 3, 8),
    B: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 2 }),
    w: fc.integer({ min: 1, max: 3 }),
  })
  .filter(({ pad, levels }) => pad !== 2 || levels === 1) // padding 2 grows the map (diffusers allows it, but the skips then mismatch)
  .filter(({ headDim, mult, levels }) => headDim === null || headDim <= Math.min(...mult.slice(0, levels).map((m) => 2 * m)))
  .map((r) => {
    const n = r.levels;
    const config: UNet2DConfig = {
      inChannels: r.inC, outChannels: r.outC, normNumGroups: r.groups, layersPerBlock: r.layers,
      blockOutChannels: r.mult.slice(0, n).map((m) => m * 2),
      downBlockTypes: r.attnDown.slice(0, n).map((a): DownBlockType => (a ? 'AttnDownBlock2D' : 'DownBlock2D')),
      upBlockTypes: r.attnUp.slice(0, n).map((a): UpBlockType => (a ? 'AttnUpBlock2D' : 'UpBlock2D')),
      attentionHeadDim: r.headDim, addAttention: r.addAttention, midBlockType: r.mid ? 'UNetMidBlock2D' : null,
      numClassEmbeds: r.classes, resnetTimeScaleShift: r.shift, downsamplePadding: r.pad, timeEmbeddingDim: r.temb,
    };
    const m = 2 ** (n - 1);
    return { config, B: r.B, H: r.h * m, W: r.w * m };
  });

describe('unet2d shapes over random configs', () => {
  it('init names = paramSpec; apply gives [B, outChannels, H, W], finite, on any H, W divisible by 2^(levels-1)', () => {
    fc.assert(
      fc.property(arbConfig, fc.integer({ min: 0, max: 1000 }), ({ config, B, H, W }, seed) => {
        T.useBackend('reference', () => {
          const params = unet2d.init(T.randomKey(seed), config);
          try {
            const names = T.treeFlattenWithPath(params).map(([n, t]) => `${n} ${(t as T.Tensor).shape}`).sort();
            expect(names).toEqual(unet2d.paramSpec(config).map((s) => `${s.name} ${s.shape}`).sort());
            const out = T.tidy(() => {
              const x = T.randomNormal(T.randomKey(seed + 1), [B, config.inChannels!, H, W]);
              const labels = config.numClassEmbeds ? Array.from({ length: B }, (_, i) => i % config.numClassEmbeds!) : undefined;
              const y = unet2d.apply(params, x, T.tensor(Array.from({ length: B }, (_, i) => 10 * i + 1)), { config, classLabels: labels });
              return y;
            });
            expect(out.shape).toEqual([B, config.outChannels, H, W]);
            expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
            out.dispose();
          } finally {
            T.dispose(params);
          }
        });
      }),
      { numRuns: fcRuns(25) },
    );
  });
});

describe('unet2d as a @tapegrad/ddpm model', () => {
  it('diffusionLoss has finite gradients for every parameter; sample() runs with classifier-free guidance on the null class', async () => {
    const config: UNet2DConfig = { ...TINY_ATTN, numClassEmbeds: 3 }; // classes 0, 1 and the null class 2
    const nullLabel = unet2d.nullClassLabel(config);
    expect(nullLabel).toBe(2);
    const params = unet2d.init(T.randomKey(0), config);
    const schedule = makeSchedule('linear', 20);
    const x0 = T.randomNormal(T.randomKey(1), [2, 1, 4, 4]);
    const labels = T.tensor([0, 1]);
    try {
      const [loss, grads] = valueAndGrad((p: UNet2DParams) => diffusionLoss(unet2d.model(p, config), x0, { schedule, key: T.randomKey(2), cond: labels }))(params);
      expect(Number.isFinite((await loss.data())[0])).toBe(true);
      const gLeaves = T.treeFlattenWithPath(grads);
      expect(gLeaves.map(([n]) => n)).toEqual(T.treeFlattenWithPath(params).map(([n]) => n));
      let nonzero = 0;
      for (const [, g] of gLeaves) {
        const v = await (g as T.Tensor).data();
        expect(Array.from(v).every(Number.isFinite)).toBe(true);
        if (v.some((u) => u !== 0)) nonzero++;
      }
      expect(nonzero).toBeGreaterThan(gLeaves.length * 0.9); // only the unused null-class row's gradient may be all zero
      T.dispose([loss, grads]);

      const nullCond = T.scalar(nullLabel);
      const out = await sample(unet2d.model(params, config), {
        shape: [2, 1, 4, 4], schedule, sampler: 'ddim', steps: 3, key: T.randomKey(3), cond: labels, guidance: { scale: 3, nullCond },
      });
      expect(out.shape).toEqual([2, 1, 4, 4]);
      expect(Array.from(await out.data()).every(Number.isFinite)).toBe(true);
      T.dispose([out, nullCond]);
    } finally {
      T.dispose([params, x0, labels]);
    }
  });

  it('dropout is active only with train: true, and the same key gives the same output', async () => {
    const config: UNet2DConfig = { ...TINY_PLAIN };
    const params = unet2d.init(T.randomKey(0), config);
    const x = T.randomNormal(T.randomKey(1), [1, 2, 4, 4]);
    const run = (opts: { train?: boolean; key?: T.RandomKey }) => T.tidy(() => unet2d.apply(params, x, [5], { config, ...opts }).dataSync());
    try {
      const evalA = run({});
      expect(run({ key: T.randomKey(9) })).toEqual(evalA);
      const trainA = run({ train: true, key: T.randomKey(9) });
      expect(run({ train: true, key: T.randomKey(9) })).toEqual(trainA);
      expect(trainA).not.toEqual(evalA);
      expect(run({ train: true, key: T.randomKey(10) })).not.toEqual(trainA);
      expect(() => run({ train: true })).toThrow(/^unet2d\.apply: train: true with config\.dropout = 0\.3 needs opts\.key/);
    } finally {
      T.dispose([params, x]);
    }
  });

  it('on webasm, a second forward and a second gradient step build no kernel', () => {
    T.useBackend('webasm', () => {
      const params = unet2d.init(T.randomKey(0), TINY_ATTN);
      const x = T.randomNormal(T.randomKey(1), [2, 1, 4, 4]);
      const vg = valueAndGrad((p: UNet2DParams, t: T.Tensor) => T.mean(T.square(unet2d.apply(p, x, t, { config: TINY_ATTN, classLabels: [0, 2] }))));
      const step = (t: number[]) => {
        const tt = T.tensor(t);
        const [l, g] = vg(params, tt);
        l.dataSync();
        T.dispose([l, g, tt]);
      };
      try {
        step([1, 2]);
        const before = T.kernelBuilds();
        step([500, 999]);
        expect(T.kernelBuilds() - before).toBe(0);
      } finally {
        T.dispose([params, x]);
      }
    });
  });

  it('module(config) binds the config: apply(params, x, t, { classLabels })', () => {
    const m = unet2d.module(TINY_ATTN);
    const params = m.init(T.randomKey(0));
    const y = T.tidy(() => m.apply(params, T.zeros([1, 1, 4, 4]), T.tensor([7]), { classLabels: [1] }));
    expect(y.shape).toEqual([1, 1, 4, 4]);
    T.dispose([params, y]);
  });
});

describe('unet2d errors', () => {
  const params = () => unet2d.init(T.randomKey(0), TINY_ATTN);

  it('config errors name the key and what is expected', () => {
    const bad = (cfg: Record<string, unknown>) => () => unet2d.init(T.randomKey(0), cfg as UNet2DConfig);
    expect(bad({ blockOutChannel: [4] })).toThrow(/^unet2d\.init: unknown config key 'blockOutChannel' \(did you mean 'blockOutChannels'\?\)/);
    expect(bad({ block_out_channels: [4] })).toThrow(/unknown config key 'block_out_channels' \(did you mean 'blockOutChannels'\?\)/);
    expect(bad({ downBlockTypes: ['CrossAttnDownBlock2D'], upBlockTypes: ['UpBlock2D'], blockOutChannels: [32] })).toThrow(/^unet2d\.init: config\.downBlockTypes\[0\] = 'CrossAttnDownBlock2D' is not supported; expected 'DownBlock2D' or 'AttnDownBlock2D'/);
    expect(bad({ blockOutChannels: [32, 64] })).toThrow(/config\.downBlockTypes \(4\), config\.upBlockTypes \(4\) and config\.blockOutChannels \(2\) must have the same length/);
    expect(bad({ ...TINY_ATTN, normNumGroups: 3 })).toThrow(/^unet2d\.init: down_blocks\.0\.resnets\.0\.norm1 has 2 channels, not divisible by config\.normNumGroups \(3\)/);
    expect(bad({ ...TINY_ATTN, attentionHeadDim: 8 })).toThrow(/config\.attentionHeadDim \(8\) is larger than the 4 channels of down_blocks\.1\.attentions\.0/);
    expect(bad({ ...TINY_ATTN, timeEmbeddingType: 'fourier' })).toThrow(/config\.timeEmbeddingType = 'fourier' is not supported; expected 'positional'/);
    expect(bad({ ...TINY_ATTN, downsampleType: 'resnet' })).toThrow(/config\.downsampleType = 'resnet' is not supported/);
    expect(bad({ ...TINY_ATTN, classEmbedType: 'timestep' })).toThrow(/config\.classEmbedType = 'timestep' is not supported/);
    expect(bad({ ...TINY_ATTN, dropout: 1 })).toThrow(/config\.dropout must be a number in \[0, 1\), got 1/);
    expect(bad({ ...TINY_ATTN, freqShift: 1 })).toThrow(/^unet2d\.init: config\.freqShift \(1\) must be below blockOutChannels\[0\] \/ 2 \(1\)/);
    expect(bad({ ...TINY_ATTN, actFn: 'mish' })).toThrow(/config\.actFn = 'mish' is not supported/);
  });

  it('apply errors name the shapes and values passed and what was expected', () => {
    const p = params();
    const x = T.zeros([2, 1, 4, 4]);
    const x3 = T.zeros([2, 3, 4, 4]);
    const xOdd = T.zeros([2, 1, 6, 5]);
    const t = T.tensor([1, 2]);
    const t3 = T.tensor([1, 2, 3]);
    const apply = (o: Record<string, unknown>, xx: unknown = x, tt: unknown = t) => () => unet2d.apply(p, xx as T.Tensor, tt as T.Tensor, o as never);
    const withLabels = { config: TINY_ATTN, classLabels: [0, 1] };
    try {
      expect(apply({})).toThrow(/^unet2d\.apply: opts\.config is required/);
      expect(apply(withLabels, x3)).toThrow(/^unet2d\.apply: x has shape \[2,3,4,4\]; expected \[B, 1, H, W\] \(config\.inChannels = 1\)/);
      expect(apply(withLabels, xOdd)).toThrow(/^unet2d\.apply: x has shape \[2,1,6,5\]: height 6 and width 5 must be multiples of 2/);
      expect(apply(withLabels, x, t3)).toThrow(/^unet2d\.apply: t has shape \[3\]; expected \[2\]/);
      expect(apply(withLabels, x, [1])).toThrow(/^unet2d\.apply: t has 1 entries but x has a batch of 2/);
      expect(apply(withLabels, x, 'a')).toThrow(/^unet2d\.apply: t must be a Tensor \[B\], a number or an array of numbers, got string/);
      expect(apply({ config: TINY_ATTN })).toThrow(/^unet2d\.apply: config\.numClassEmbeds = 3: opts\.classLabels is required \(\[2\] integer labels in \[0, 3\)\)/);
      expect(apply({ config: TINY_ATTN, classLabels: [0] })).toThrow(/^unet2d\.apply: opts\.classLabels has 1 entries; expected \[2\]/);
      expect(apply({ config: TINY_ATTN, classLabels: [0, 3] })).toThrow(/index 3 at position 1 is not an integer in \[0, 3\)/);
      const noClass = { ...TINY_ATTN, numClassEmbeds: null };
      const p2 = unet2d.init(T.randomKey(0), noClass);
      expect(() => unet2d.apply(p2, x, t, { config: noClass, classLabels: [0, 1] })).toThrow(/^unet2d\.apply: opts\.classLabels was given but the config has no class embedding/);
      T.dispose(p2);
      expect(apply({ config: { ...TINY_ATTN, numClassEmbeds: null } })).toThrow(/^unet2d\.apply: params do not match the config \(1 problem\): unexpected 'class_embedding\.weight'/);
      expect(apply({ ...withLabels, config: { ...TINY_ATTN, blockOutChannels: [2, 6] } })).toThrow(/^unet2d\.apply: params do not match the config \(\d+ problems\): .*shape of 'down_blocks\.1\.resnets\.0\.conv1\.weight' is \[4,2,3,3\]; expected \[6,2,3,3\]/);
    } finally {
      T.dispose([p, x, x3, xOdd, t, t3]);
    }
  });

  it('params checks list missing, misshaped and unexpected tensors', () => {
    const p = params();
    const w = p.conv_in.weight;
    const wrong = T.zeros([2, 1, 1, 1]);
    const broken = { ...p, conv_in: { ...p.conv_in, weight: wrong }, time_embedding: { linear_1: p.time_embedding.linear_1 }, extra: { x: wrong } } as unknown as UNet2DParams;
    try {
      expect(() => unet2d.checkParams(broken, TINY_ATTN)).toThrow(
        "unet2d.checkParams: params do not match the config (4 problems): shape of 'conv_in.weight' is [2,1,1,1]; expected [2,1,3,3]; missing 'time_embedding.linear_2.weight' [8,8]; missing 'time_embedding.linear_2.bias' [8]; unexpected 'extra.x'",
      );
      expect(w.isDisposed).toBe(false);
    } finally {
      T.dispose([p, wrong]);
    }
  });
});
