// Image runs through the CLI at toy size: a folder of 4x4 PNGs, a 2-level UNet of 4/8 channels.
// The run folder, the sample grid, resume bit for bit, and the image-specific flag checks.
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { treeFlattenWithPath } from '@tapegrad/tensor';
import { parseSafetensors } from '@tapegrad/nn';
import { importDiffusers } from '@tapegrad/ddpm';
import { cli, tmp } from './helpers.ts';

function folderOfPngs(n: number, size: number): string {
  const d = tmp('imgs');
  for (let i = 0; i < n; i++) {
    const png = new PNG({ width: size, height: size });
    for (let p = 0; p < size * size; p++) {
      const v = (p + i) % 2 ? 255 : 0;
      png.data.set([v, v, v, 255], 4 * p);
    }
    writeFileSync(join(d, `img${i}.png`), PNG.sync.write(png));
  }
  return d;
}

describe('image runs (PNG folder, tiny UNet)', () => {
  const root = tmp('imgrun');
  const data = folderOfPngs(6, 4);
  const run = join(root, 'a');

  it('train writes config, metrics, a PNG sample grid and checkpoints; resume is bit-exact', async () => {
    const r = await cli(['train', '--data', data, '--unet-channels', '4,8', '--steps', '4', '--batch-size', '4', '--out', run, '--log-every', '1', '--checkpoint-every', '2', '--sample-every', '4']);
    expect(r.code, r.err).toBe(0);
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(cfg.kind).toBe('image');
    expect(cfg.image).toMatchObject({ channels: 1, height: 4, width: 4, numClasses: 0, conditional: false });
    expect(cfg.image.unet).toMatchObject({ blockOutChannels: [4, 8], normNumGroups: 4, downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'] });
    const png = PNG.sync.read(readFileSync(join(run, 'samples', 'step-000004.png')));
    expect(png.width).toBeGreaterThan(16);
    const b = join(root, 'b');
    cpSync(run, b, { recursive: true });
    rmSync(join(b, 'checkpoints', 'step-000004'), { recursive: true });
    writeFileSync(join(b, 'checkpoints', 'latest'), 'step-000002\n');
    const r2 = await cli(['train', '--resume', b, '--sample-every', '0']);
    expect(r2.code, r2.err).toBe(0);
    const rows = (p: string) => readFileSync(join(p, 'metrics.csv'), 'utf8').trim().split('\n').map((l) => l.split(',').slice(0, 4).join());
    expect(rows(b)).toEqual(rows(run));
    for (const f of ['params.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      expect(readFileSync(join(b, 'checkpoints', 'step-000004', f)).equals(readFileSync(join(run, 'checkpoints', 'step-000004', f))), f).toBe(true);
    }
  });

  it('sample writes a PNG grid; 2-D-only and class flags are refused', async () => {
    const out = join(root, 'grid.png');
    let r = await cli(['sample', '--checkpoint', run, '--sampler', 'ddim', '--steps', '3', '--n', '4', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.out).toMatch(/\(executor compiled\)/);
    // --eager runs each denoising step op by op: the same picture, byte for byte
    const eagerOut = join(root, 'grid-eager.png');
    r = await cli(['sample', '--checkpoint', run, '--sampler', 'ddim', '--steps', '3', '--n', '4', '--out', eagerOut, '--eager']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\(executor eager: eager: true\)/);
    expect(readFileSync(eagerOut).equals(readFileSync(out))).toBe(true);
    r = await cli(['sample', '--checkpoint', run, '--class', '3']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is unconditional/);
    r = await cli(['sample', '--checkpoint', run, '--out', join(root, 'x.svg')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/expected a path ending in \.png/);
    r = await cli(['eval', '--checkpoint', run]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/was trained on the PNG folder .*; image metrics need MNIST/);
  });

  it('export --format diffusers writes a DDPMPipeline folder that importDiffusers reads back to the EMA weights', async () => {
    const out = join(root, 'pipe');
    const r = await cli(['export', '--checkpoint', run, '--format', 'diffusers', '--out', out]);
    expect(r.code, r.err).toBe(0);
    for (const f of ['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'scheduler/scheduler_config.json']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'unet', 'config.json'), 'utf8'))).toMatchObject({ block_out_channels: [4, 8], sample_size: 4, in_channels: 1 });
    const imported = await importDiffusers(out);
    const ck = parseSafetensors(readFileSync(join(run, 'checkpoints', 'step-000004', 'ema.safetensors')));
    const ema = new Map(ck.tensors.map((e) => [e.name, e]));
    const flat = treeFlattenWithPath(imported.params);
    expect(flat.length).toBe(ema.size);
    for (const [path, t] of flat) {
      const e = ema.get(path)!;
      expect(e, path).toBeDefined();
      expect([...(await (t as T.Tensor).data())]).toEqual([...e.data]);
    }
    T.dispose(imported.params);
    // sample reads the exported folder, and a folder saved by diffusers itself (h4's fixture)
    const grid = join(root, 'from-pipe.png');
    let s = await cli(['sample', '--checkpoint', out, '--sampler', 'ddim', '--steps', '2', '--n', '4', '--out', grid]);
    expect(s.code, s.err).toBe(0);
    expect(PNG.sync.read(readFileSync(grid)).width).toBeGreaterThan(8);
    const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ddpm', 'test', 'fixtures', 'diffusers-tiny');
    s = await cli(['sample', '--checkpoint', fixture, '--sampler', 'ddim', '--steps', '2', '--n', '2', '--out', join(root, 'tiny.png')]);
    expect(s.code, s.err).toBe(0);
    expect(existsSync(join(root, 'tiny.png'))).toBe(true);
    const twoD = await cli(['export', '--checkpoint', join(root, 'nonexistent'), '--format', 'diffusers', '--out', out]);
    expect(twoD.code).toBe(2);
  });

  it('image flags are checked before training', async () => {
    let r = await cli(['train', '--data', data, '--conditional', '--out', join(root, 'c')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--conditional needs a labelled image set \(mnist\); the folder .* has no labels/);
    r = await cli(['train', '--data', data, '--unet-channels', '4,8,8,8', '--out', join(root, 'c')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/the images are 4x4; a UNet with 4 resolutions needs sizes divisible by 8/);
    r = await cli(['train', '--data', 'moons', '--unet-channels', '4,8', '--out', join(root, 'c')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--unet-channels applies to image data/);
    r = await cli(['train', '--data', data, '--image-size', '14', '--out', join(root, 'c')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--image-size applies to MNIST/);
  });
});
