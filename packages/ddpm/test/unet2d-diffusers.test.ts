// diffusers folders: a DDPMPipeline saved by diffusers itself imports and computes diffusers'
// output; export then import round-trips bit for bit; schedules map both ways exactly;
// corrupt or mismatched folders are rejected with messages naming the file and the tensor/key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, readFile, readdir, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import * as nn from '@tapegrad/nn';
import { makeSchedule, scheduleFromBetas, type Schedule } from '../src/schedule/schedule.ts';
import { unet2d, type UNet2DParams } from '../src/models/unet2d.ts';
import type { UNet2DConfig } from '../src/models/unet2d-config.ts';
import {
  diffusersSchedulerConfig, exportDiffusers, importDiffusers, scheduleFromDiffusers, scheduleToDiffusers,
} from '../src/models/diffusers.ts';
import { GOLDEN, TINY_PIPELINE_DIR, maxDiff } from './unet2d-golden.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tapegrad-unet-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const CONFIG: UNet2DConfig = {
  sampleSize: 4, inChannels: 1, outChannels: 2, blockOutChannels: [4, 8], normNumGroups: 2, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 4,
  numClassEmbeds: 3,
};

async function flat(params: UNet2DParams): Promise<Map<string, { shape: number[]; data: number[] }>> {
  const m = new Map<string, { shape: number[]; data: number[] }>();
  for (const [name, t] of T.treeFlattenWithPath(params)) {
    const tt = t as T.Tensor;
    m.set(name, { shape: tt.shape.slice(), data: Array.from(await tt.data()) });
  }
  return m;
}

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    const r = await p;
    T.dispose(r as object);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('importDiffusers of a folder written by diffusers save_pretrained', () => {
  it('reads config, params and scheduler, and computes diffusers\' output', async () => {
    const g = GOLDEN.tiny_pipeline;
    const imp = await importDiffusers(TINY_PIPELINE_DIR);
    try {
      expect(imp.config.blockOutChannels).toEqual([2, 4]);
      expect(imp.config.downBlockTypes).toEqual(['DownBlock2D', 'AttnDownBlock2D']);
      expect(imp.config.numClassEmbeds).toBe(3);
      expect(imp.scheduler).toMatchObject({ className: 'DDPMScheduler', predictionType: 'v_prediction', varianceType: 'fixed_large', clipSample: false });
      expect(imp.sampling).toEqual({ prediction: 'v_prediction', variance: 'fixed_large', clip: false, spacing: 'leading', offset: 0 });
      expect(imp.schedule!.T).toBe(50);
      expect(imp.schedule!.kind).toBe('cosine');
      // diffusers keeps float32 alphas_cumprod; ours are float64 from the same formula
      const { diff } = maxDiff(imp.schedule!.alphasCumprod, g.alphas_cumprod);
      expect(diff).toBeLessThan(1e-6);
      const out = T.tidy(() => unet2d.apply(imp.params, T.tensor(Float32Array.from(g.x), g.x_shape), T.tensor(g.t), {
        config: imp.config, classLabels: T.tensor(g.class_labels),
      }));
      expect(out.shape).toEqual(g.out_shape);
      const { diff: d2, scale } = maxDiff(await out.data(), g.out_f32);
      out.dispose();
      expect(scale).toBeGreaterThan(0);
      expect(d2).toBeLessThan(1e-5 * Math.max(1, scale));
    } finally {
      T.dispose(imp.params);
    }
  });

  it('reads a bare UNet2DModel folder (config.json + safetensors) without a scheduler', async () => {
    const imp = await importDiffusers(join(TINY_PIPELINE_DIR, 'unet'));
    expect(imp.schedule).toBeUndefined();
    expect(T.treeLeaves(imp.params).length).toBe(unet2d.paramSpec(imp.config).length);
    T.dispose(imp.params);
  });
});

describe('exportDiffusers then importDiffusers', () => {
  it('round-trips config, params (bit for bit), schedule and scheduler options', async () => {
    const params = unet2d.init(T.randomKey(3), CONFIG);
    const schedule = makeSchedule('scaled_linear', 200, { betaStart: 0.0005, betaEnd: 0.015 });
    const dir = join(tmp, 'roundtrip');
    const scheduler = { predictionType: 'sample' as const, varianceType: 'fixed_large' as const, clipSample: true, clipSampleRange: 2, timestepSpacing: 'trailing' as const, stepsOffset: 1 };
    await exportDiffusers(dir, { config: CONFIG, params, schedule, scheduler });
    expect((await readdir(dir)).sort()).toEqual(['model_index.json', 'scheduler', 'unet']);
    expect((await readdir(join(dir, 'unet'))).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']); // no temporary files left
    const unetJson = JSON.parse(await readFile(join(dir, 'unet', 'config.json'), 'utf8'));
    expect(unetJson).toMatchObject({ _class_name: 'UNet2DModel', block_out_channels: [4, 8], norm_num_groups: 2, attention_head_dim: 4, num_class_embeds: 3, down_block_types: ['DownBlock2D', 'AttnDownBlock2D'] });
    const imp = await importDiffusers(dir);
    try {
      expect(imp.config).toEqual(unet2d.resolveConfig(CONFIG));
      const [a, b] = [await flat(params), await flat(imp.params)];
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [name, v] of a) expect(b.get(name), name).toEqual(v);
      expect(Array.from(imp.schedule!.betas)).toEqual(Array.from(schedule.betas));
      expect(imp.scheduler).toEqual({ ...scheduler, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1, className: 'DDPMScheduler' });
      expect(imp.sampling!.clip).toEqual({ kind: 'clip', range: 2 });
    } finally {
      T.dispose([params, imp.params]);
    }
  });

  it('maps schedules to diffusers and back exactly (property over kinds, T and betas)', () => {
    const arbSchedule: fc.Arbitrary<Schedule> = fc.oneof(
      fc.record({ T: fc.integer({ min: 2, max: 300 }), a: fc.double({ min: 1e-5, max: 1e-3, noNaN: true }), b: fc.double({ min: 2e-3, max: 0.05, noNaN: true }), kind: fc.constantFrom('linear', 'scaled_linear', 'sigmoid') as fc.Arbitrary<'linear' | 'scaled_linear' | 'sigmoid'>, rescale: fc.boolean() })
        .map(({ T: n, a, b, kind, rescale }) => makeSchedule(kind, n, { betaStart: a, betaEnd: b, rescaleZeroTerminalSnr: rescale && kind !== 'sigmoid' })),
      fc.record({ T: fc.integer({ min: 2, max: 300 }), rescale: fc.boolean() }).map(({ T: n, rescale }) => makeSchedule('cosine', n, { rescaleZeroTerminalSnr: rescale })),
      fc.array(fc.double({ min: 1e-4, max: 0.2, noNaN: true }), { minLength: 1, maxLength: 50 }).map((b) => scheduleFromBetas(b)),
    );
    fc.assert(fc.property(arbSchedule, (s) => {
      const json = JSON.parse(JSON.stringify(scheduleToDiffusers(s)));
      const back = scheduleFromDiffusers(json);
      expect(back.T).toBe(s.T);
      expect(Array.from(back.betas)).toEqual(Array.from(s.betas));
    }), { numRuns: fcRuns(60) });
  });

  it('writes named beta schedules with their parameters, and trained_betas otherwise', () => {
    expect(scheduleToDiffusers(makeSchedule('linear', 1000))).toMatchObject({ beta_schedule: 'linear', beta_start: 1e-4, beta_end: 0.02, trained_betas: null, rescale_betas_zero_snr: false });
    expect(scheduleToDiffusers(makeSchedule('cosine', 1000))).toMatchObject({ beta_schedule: 'squaredcos_cap_v2', trained_betas: null });
    expect(scheduleToDiffusers(makeSchedule('linear', 1000, { rescaleZeroTerminalSnr: true }))).toMatchObject({ beta_schedule: 'linear', rescale_betas_zero_snr: true, trained_betas: null });
    const custom = scheduleToDiffusers(scheduleFromBetas([0.1, 0.3, 0.2]));
    expect(custom.trained_betas).toEqual([0.1, 0.3, 0.2]);
    expect(diffusersSchedulerConfig(makeSchedule('linear', 10))).toMatchObject({ _class_name: 'DDPMScheduler', prediction_type: 'epsilon', variance_type: 'fixed_small', clip_sample: true, timestep_spacing: 'leading' });
  });

  it('refuses bad input before writing anything', async () => {
    const params = unet2d.init(T.randomKey(0), CONFIG);
    const schedule = makeSchedule('linear', 10);
    const dir = join(tmp, 'never-written');
    try {
      const wrong = { ...CONFIG, blockOutChannels: [4, 4] };
      expect(await messageOf(exportDiffusers(dir, { config: wrong, params, schedule }))).toMatch(/^exportDiffusers: params do not match the config \(\d+ problems?\): .*shape of 'down_blocks\.1\.resnets\.0\.conv1\.weight' is \[8,4,3,3\]; expected \[4,4,3,3\]/);
      expect(await messageOf(exportDiffusers(dir, { config: CONFIG, params, schedule, scheduler: { predictionType: 'x0' as never } }))).toMatch(/^exportDiffusers: scheduler: prediction_type = "x0" is not supported; expected 'epsilon', 'sample' or 'v_prediction'/);
      expect(await messageOf(exportDiffusers(dir, { config: CONFIG, params, schedule, scheduler: { clipSampel: true } as never }))).toMatch(/unknown scheduler option 'clipSampel'/);
      expect(await messageOf(exportDiffusers(dir, { config: { ...CONFIG, sampleSize: null }, params, schedule }))).toMatch(/^exportDiffusers: config\.sampleSize is null; DDPMPipeline reads the image size from it/);
      expect(await readdir(tmp)).not.toContain('never-written');
    } finally {
      T.dispose(params);
    }
  });
});

describe('importDiffusers rejects corrupt or mismatched folders, naming file and tensor or key', () => {
  async function copyTiny(name: string): Promise<string> {
    const d = join(tmp, name);
    await cp(TINY_PIPELINE_DIR, d, { recursive: true });
    return d;
  }
  const weights = (d: string) => join(d, 'unet', 'diffusion_pytorch_model.safetensors');
  async function editTensors(d: string, edit: (t: Record<string, T.Tensor>) => void): Promise<void> {
    const { tensors } = await nn.loadSafetensors(weights(d));
    edit(tensors);
    await nn.saveSafetensors(weights(d), tensors);
    T.dispose(tensors);
  }
  async function editJson(path: string, edit: (j: Record<string, unknown>) => void): Promise<void> {
    const j = JSON.parse(await readFile(path, 'utf8'));
    edit(j);
    await writeFile(path, JSON.stringify(j));
  }

  it('a missing, an unexpected and a misshaped tensor', async () => {
    const d = await copyTiny('tensors');
    await editTensors(d, (t) => {
      t['down_blocks.1.attentions.0.to_k.weight'].dispose();
      delete t['down_blocks.1.attentions.0.to_k.weight'];
      t['extra.weight'] = T.zeros([2]);
      const w = t['conv_in.weight'];
      t['conv_in.weight'] = T.reshape(w, [2, 1, 9, 1]);
      w.dispose();
    });
    const msg = await messageOf(importDiffusers(d));
    expect(msg).toContain(`importDiffusers: ${weights(d)} does not match ${join(d, 'unet', 'config.json')} (3 problems)`);
    expect(msg).toContain("missing 'down_blocks.1.attentions.0.to_k.weight' [4,4]");
    expect(msg).toContain("'conv_in.weight' has shape [2,1,9,1]; config.json implies [2,1,3,3]");
    expect(msg).toContain("unexpected 'extra.weight' [2]");
  });

  it('renames pre-0.14 attention tensors (query/key/value/proj_attn) as diffusers does', async () => {
    const d = await copyTiny('deprecated-names');
    await editTensors(d, (t) => {
      for (const name of Object.keys(t)) {
        const m = /^(.*\.attentions\.\d+)\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
        if (!m) continue;
        t[`${m[1]}.${{ to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' }[m[2]]}.${m[3]}`] = t[name];
        delete t[name];
      }
      expect(Object.keys(t).some((n) => n.endsWith('.proj_attn.weight'))).toBe(true);
    });
    const [a, b] = [await importDiffusers(d), await importDiffusers(TINY_PIPELINE_DIR)];
    try {
      const [fa, fb] = [await flat(a.params), await flat(b.params)];
      expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
      for (const [name, v] of fb) expect(fa.get(name), name).toEqual(v);
    } finally {
      T.dispose([a.params, b.params]);
    }
  });

  it('a truncated safetensors file', async () => {
    const d = await copyTiny('truncated');
    const bytes = await readFile(weights(d));
    await writeFile(weights(d), bytes.subarray(0, bytes.length - 100));
    expect(await messageOf(importDiffusers(d))).toMatch(new RegExp(`^importDiffusers: ${weights(d).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*(truncated|ends)`, 'i'));
  });

  it('bad JSON, unsupported block types and keys, unsupported schedulers, wrong pipeline parts', async () => {
    const d = await copyTiny('json');
    const cfg = join(d, 'unet', 'config.json');
    const original = await readFile(cfg, 'utf8');
    await writeFile(cfg, original.slice(0, 40));
    expect(await messageOf(importDiffusers(d))).toMatch(new RegExp(`^importDiffusers: .*unet/config\\.json: invalid JSON`));

    await writeFile(cfg, original);
    await editJson(cfg, (j) => { j.down_block_types = ['CrossAttnDownBlock2D', 'AttnDownBlock2D']; });
    expect(await messageOf(importDiffusers(d))).toMatch(/^importDiffusers: .*unet\/config\.json: down_block_types\[0\] = 'CrossAttnDownBlock2D' is not supported; expected 'DownBlock2D' or 'AttnDownBlock2D'/);

    await writeFile(cfg, original);
    await editJson(cfg, (j) => { j.cross_attention_dim = 8; });
    expect(await messageOf(importDiffusers(d))).toMatch(/^importDiffusers: .*unet\/config\.json: key 'cross_attention_dim' = 8 is not supported/);

    await writeFile(cfg, original);
    await editJson(cfg, (j) => { j.time_embedding_type = 'fourier'; });
    expect(await messageOf(importDiffusers(d))).toMatch(/unet\/config\.json: time_embedding_type = 'fourier' is not supported/);

    await writeFile(cfg, original);
    await editJson(cfg, (j) => { j._class_name = 'UNet2DConditionModel'; });
    expect(await messageOf(importDiffusers(d))).toMatch(/unet\/config\.json: _class_name is 'UNet2DConditionModel'; expected 'UNet2DModel'/);

    await writeFile(cfg, original);
    const sc = join(d, 'scheduler', 'scheduler_config.json');
    const sOriginal = await readFile(sc, 'utf8');
    await editJson(sc, (j) => { j.beta_schedule = 'laplace'; });
    expect(await messageOf(importDiffusers(d))).toMatch(/^importDiffusers: .*scheduler\/scheduler_config\.json: beta_schedule = 'laplace' is not supported/);
    await writeFile(sc, sOriginal);
    await editJson(sc, (j) => { j.trained_betas = [0.1, 0.2]; });
    expect(await messageOf(importDiffusers(d))).toMatch(/scheduler_config\.json: trained_betas must be null or an array of num_train_timesteps \(50\) numbers, got 2 entries/);
    await writeFile(sc, sOriginal);

    const mi = join(d, 'model_index.json');
    await editJson(mi, (j) => { j.unet = ['diffusers', 'UNet2DConditionModel']; });
    expect(await messageOf(importDiffusers(d))).toMatch(/^importDiffusers: .*model_index\.json: 'unet' is \["diffusers","UNet2DConditionModel"\]; expected \["diffusers", "UNet2DModel"\]/);
  });

  it('a folder without safetensors weights, and one that is no diffusers folder', async () => {
    const d = await copyTiny('bin');
    await rm(weights(d));
    await writeFile(join(d, 'unet', 'diffusion_pytorch_model.bin'), 'x');
    expect(await messageOf(importDiffusers(d))).toMatch(/diffusion_pytorch_model\.safetensors: no such file \(found diffusion_pytorch_model\.bin: only a single, non-variant safetensors file is supported/);
    expect(await messageOf(importDiffusers(join(tmp, 'nothing-here')))).toMatch(/^importDiffusers: .*nothing-here: neither a DDPMPipeline folder \(no model_index\.json\) nor a UNet2DModel folder/);
  });
});
