// The training loop's executors: compiled (compileStep, the default) and eager (`eager: true`)
// run one step function, so they must agree bit for bit: losses, params, EMA and the AdamW
// moments in the final checkpoint, on the MLP (class-conditional, v-prediction, Min-SNR,
// clipping, EMA) and on a tiny UNet (attention, class embedding). Also: the dropout fallback
// (declared in the config, and a model that draws from its key without saying so), memory
// flat across compiled updates, and a non-finite loss found through a compiled step.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey } from '@tapegrad/tensor';
import * as nn from '@tapegrad/nn';
import type { MlpParams } from '@tapegrad/nn';
import { mlpDenoiser, type DenoiserConfig } from '../src/models/mlp.ts';
import { unet2d, type UNet2DParams } from '../src/models/unet2d.ts';
import type { UNet2DConfig } from '../src/models/unet2d-config.ts';
import type { Denoiser } from '../src/models/denoiser.ts';
import { arraySource } from '../src/train/data.ts';
import { train, trainExecutor, TrainDivergedError, type TrainExecutor } from '../src/train/train.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';

let dir: string;
beforeAll(async () => {
  await T.ready();
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-train-compiled-'));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Every leaf's float32 bit pattern (exact comparison, NaN included). */
async function bits(tree: unknown): Promise<number[][]> {
  return Promise.all(T.treeLeaves(tree).map(async (t) => Array.from(new Uint32Array(Float32Array.from(await (t as T.Tensor).data()).buffer))));
}

const MLP: DenoiserConfig = { dim: 2, hidden: 8, layers: 2, timeEmbedDim: 6, numClasses: 3 };
const points = Float32Array.from({ length: 40 }, (_, i) => Math.sin(1.3 * i) * (1 + (i % 3)));
const mlpConfig = (over: Partial<TrainConfig<DenoiserConfig, MlpParams>> = {}): TrainConfig<DenoiserConfig, MlpParams> => ({
  model: mlpDenoiser(MLP), modelConfig: MLP, modelKind: 'mlp',
  data: arraySource(points, [2], Int32Array.from({ length: 20 }, (_, i) => i % 3), 3),
  steps: 5, batchSize: 6, seed: 11, schedule: { kind: 'linear', T: 40 }, lr: 5e-3, warmupSteps: 2,
  prediction: 'v_prediction', minSnrGamma: 5, gradClip: 0.5, labelDropout: 0.3, logEvery: 2, checkpointEvery: 100,
  ...over,
});

const UNET: UNet2DConfig = {
  inChannels: 1, outChannels: 1, blockOutChannels: [2, 4], normNumGroups: 2, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 2, numClassEmbeds: 4,
};
const unetOf = (config: UNet2DConfig): Denoiser<UNet2DParams, UNet2DConfig> => ({
  init: (key, c) => unet2d.init(key, c),
  apply: (p, x, t, o = {}) => unet2d.apply(p, x, t, { config, classLabels: o.classLabels, train: o.train, key: o.key }),
});
const images = Float32Array.from({ length: 8 * 16 }, (_, i) => Math.cos(0.7 * i) * ((i >> 4) % 2 ? 1 : -1));
const unetConfig = (config: UNet2DConfig, over: Partial<TrainConfig<UNet2DConfig, UNet2DParams>> = {}): TrainConfig<UNet2DConfig, UNet2DParams> => ({
  model: unetOf(config), modelConfig: config, modelKind: 'unet2d',
  data: arraySource(images, [1, 4, 4], Int32Array.from({ length: 8 }, (_, i) => i % 3), 3),
  steps: 3, batchSize: 4, seed: 5, schedule: { kind: 'cosine', T: 30 }, lr: 2e-3, warmupSteps: 1, logEvery: 1, checkpointEvery: 100,
  ...over,
});

/** Run compiled and eager into two run folders; return both results and their checkpoints' tensors. */
async function both<C, P>(cfg: () => TrainConfig<C, P>, name: string) {
  const out: { losses: number[]; executor: TrainExecutor; params: number[][]; ema: number[][]; mu: number[][]; nu: number[][] }[] = [];
  for (const eager of [false, true]) {
    const runDir = join(dir, `${name}-${eager ? 'eager' : 'compiled'}`);
    const r = await train(cfg(), { runDir, eager });
    const template = cfg().model.init(randomKey(0), cfg().modelConfig);
    const { tensors } = await loadCheckpoint(r.checkpoint!, template);
    out.push({
      losses: Array.from(r.losses), executor: r.executor, params: await bits(r.params), ema: await bits(r.emaParams),
      mu: await bits(tensors.optimizer.mu), nu: await bits(tensors.optimizer.nu),
    });
    T.dispose([r.params, r.emaParams, template, tensors]);
  }
  return { compiled: out[0]!, eager: out[1]! };
}

describe('train: compiled == eager, bit for bit', () => {
  it('MLP (labels, v-prediction, Min-SNR weights, clipping, EMA): losses, params, EMA, AdamW moments', async () => {
    const { compiled, eager } = await both(() => mlpConfig(), 'mlp');
    expect(compiled.executor).toEqual({ executor: 'compiled', reason: null });
    expect(eager.executor.executor).toBe('eager');
    expect(compiled.losses.length).toBe(5);
    expect(compiled.losses.every(Number.isFinite)).toBe(true);
    expect(compiled.losses).toEqual(eager.losses);
    expect(compiled.params).toEqual(eager.params);
    expect(compiled.ema).toEqual(eager.ema);
    expect(compiled.mu).toEqual(eager.mu);
    expect(compiled.nu).toEqual(eager.nu);
    expect(compiled.params).not.toEqual(compiled.ema);
  });

  it('tiny UNet (attention, class embedding, cosine schedule): losses, params, EMA, AdamW moments', async () => {
    const { compiled, eager } = await both(() => unetConfig(UNET), 'unet');
    expect(compiled.executor.executor).toBe('compiled');
    expect(compiled.losses.length).toBe(3);
    expect(compiled.losses).toEqual(eager.losses);
    expect(compiled.params).toEqual(eager.params);
    expect(compiled.ema).toEqual(eager.ema);
    expect(compiled.mu).toEqual(eager.mu);
    expect(compiled.nu).toEqual(eager.nu);
  });

  it('a compiled run resumed from its checkpoint == the uninterrupted compiled run', async () => {
    const full = await train(mlpConfig({ steps: 6 }));
    const runDir = join(dir, 'resume');
    const part = await train(mlpConfig({ steps: 3 }), { runDir });
    const rest = await train(mlpConfig({ steps: 6 }), { runDir, resume: true });
    expect([part.executor.executor, rest.executor.executor]).toEqual(['compiled', 'compiled']);
    expect([...part.losses, ...rest.losses]).toEqual(Array.from(full.losses));
    expect(await bits(rest.params)).toEqual(await bits(full.params));
    expect(await bits(rest.emaParams)).toEqual(await bits(full.emaParams));
    T.dispose([full.params, full.emaParams, part.params, part.emaParams, rest.params, rest.emaParams]);
  });
});

describe('train: executor choice and fallbacks', () => {
  it('trainExecutor: compiled by default; eager on request or with dropout, with a one-line reason', () => {
    expect(trainExecutor({ modelConfig: MLP })).toEqual({ executor: 'compiled', reason: null });
    expect(trainExecutor({ modelConfig: MLP }, { eager: true })).toEqual({ executor: 'eager', reason: expect.stringMatching(/eager execution requested/) });
    expect(trainExecutor({ modelConfig: MLP }, { compile: false }).executor).toBe('eager');
    expect(trainExecutor({ modelConfig: { ...UNET, dropout: 0.25 } })).toEqual({ executor: 'eager', reason: expect.stringMatching(/^the model has dropout 0\.25: .*RandomKey.*one fixed mask$/) });
    expect(() => trainExecutor({ modelConfig: MLP }, { eager: true, compile: true })).toThrow(/^train: opts\.eager and opts\.compile are both true/);
    expect(() => trainExecutor({ modelConfig: MLP }, { eager: 1 as never })).toThrow(/^train: opts\.eager must be a boolean, got 1/);
  });

  it('a UNet with dropout runs eagerly, says why, and equals the eager run', async () => {
    const drop = { ...UNET, dropout: 0.5 };
    const seen: string[] = [];
    const r = await train(unetConfig(drop, { steps: 2 }), { onExecutor: (e) => { seen.push(`${e.step}:${e.executor}:${e.reason}`); } });
    const e = await train(unetConfig(drop, { steps: 2 }), { eager: true });
    expect(seen).toEqual([expect.stringMatching(/^1:eager:the model has dropout 0\.5/)]);
    expect(Array.from(r.losses)).toEqual(Array.from(e.losses));
    T.dispose([r.params, r.emaParams, e.params, e.emaParams]);
  });

  it('a model that draws from its key without declaring dropout: found at the trace, the rest runs eagerly, == eager', async () => {
    const inner = mlpDenoiser(MLP);
    const sneaky: Denoiser<MlpParams, DenoiserConfig> = {
      init: inner.init,
      apply: (p, x, t, o = {}) => T.tidy(() => nn.dropout.apply({}, inner.apply(p, x, t, o), { rate: 0.3, key: o.key })),
    };
    const seen: (TrainExecutor & { step: number })[] = [];
    const r = await train(mlpConfig({ model: sneaky, steps: 4 }), { onExecutor: (e) => { seen.push(e); } });
    const e = await train(mlpConfig({ model: sneaky, steps: 4 }), { eager: true });
    expect(seen.map((s) => [s.step, s.executor])).toEqual([[1, 'compiled'], [1, 'eager']]);
    expect(seen[1]!.reason).toMatch(/^the model drew random values from its RandomKey .* while the step was traced/);
    expect(r.executor.executor).toBe('eager');
    expect(Array.from(r.losses)).toEqual(Array.from(e.losses)); // every update drew its own mask
    T.dispose([r.params, r.emaParams, e.params, e.emaParams]);
  });

  it('a model that reads a traced value on the host falls back to eager with the reason', async () => {
    const inner = mlpDenoiser(MLP);
    const reader: Denoiser<MlpParams, DenoiserConfig> = {
      init: inner.init,
      apply: (p, x, t, o = {}) => {
        t.dataSync(); // host read: fine eagerly, refused while tracing
        return inner.apply(p, x, t, o);
      },
    };
    const r = await train(mlpConfig({ model: reader, steps: 3 }));
    const e = await train(mlpConfig({ steps: 3 }), { eager: true });
    expect(r.executor).toEqual({ executor: 'eager', reason: expect.stringMatching(/^the step could not be traced \(dataSync: tensor #\d+ of shape \[6\] .*traced value inside compileStep/) });
    expect(Array.from(r.losses)).toEqual(Array.from(e.losses));
    T.dispose([r.params, r.emaParams, e.params, e.emaParams]);
  });
});

describe('train: compiled memory and divergence', () => {
  it('memory() is the same after update 2 and after update 8 (nothing grows per compiled update)', async () => {
    const mem: Record<number, unknown> = {};
    const r = await train(mlpConfig({ steps: 8, logEvery: 1 }), { onUpdate: (u) => { mem[u.step] = T.memory(); } });
    expect(r.executor.executor).toBe('compiled');
    expect(mem[8]).toEqual(mem[2]);
    expect(mem[5]).toEqual(mem[2]);
    T.dispose([r.params, r.emaParams]);
  });

  it('a non-finite batch through the compiled step stops training at that step', async () => {
    const base = arraySource(points, [2], Int32Array.from({ length: 20 }, (_, i) => i % 3), 3);
    let gets = 0;
    const poisoned = { ...base, get: (idx: Int32Array) => { const b = base.get(idx); if (++gets === 3) b.x[0] = NaN; return b; } };
    const err = await train(mlpConfig({ data: poisoned, steps: 5, logEvery: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(TrainDivergedError);
    expect(err.message).toMatch(/^train: the loss became NaN at step 3; training stopped/);
  });
});
