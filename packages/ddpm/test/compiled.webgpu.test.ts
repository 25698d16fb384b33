// The compiled training step and the compiled sampling step on webgpu (Dawn; Mesa lavapipe on
// CPU-only machines) equal the eager ones on webgpu bit for bit. This caught two plan bugs
// (packages/compile/src/plan.ts): a left-deep chain (the global norm's sum over the UNet's 144
// parameter leaves) fused into one 145-input kernel, and the 8-input AdamW chain: WebGPU binds
// at most 8 storage buffers per shader stage (inputs + output), and the failed pipeline
// poisoned the device. Skipped, with the reason in the title and printed, when no webgpu
// adapter answers.
import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { randomKey } from '@tapegrad/tensor';
import { unet2d, type UNet2DParams } from '../src/models/unet2d.ts';
import type { UNet2DConfig } from '../src/models/unet2d-config.ts';
import { arraySource } from '../src/train/data.ts';
import { train } from '../src/train/train.ts';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample } from '../src/sampling/sample.ts';
import type { Denoiser } from '../src/models/denoiser.ts';

let skip: string | undefined;
if (process.env.TAPEGRAD_BACKEND === 'reference') {
  // the file picks webgpu itself: the 'reference' project would run the same tests again
  skip = 'runs in the default project only (it sets the webgpu backend itself)';
} else {
  try {
    await T.setBackend('webgpu');
  } catch (e) {
    skip = (e as Error).message.split('\n')[0];
  }
}
if (skip) console.warn(`compiled.webgpu.test.ts: skipped: ${skip}`);
const why = skip ? ` (SKIPPED: ${skip})` : '';

const UNET: UNet2DConfig = {
  inChannels: 1, outChannels: 1, blockOutChannels: [2, 4], normNumGroups: 2, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 2, numClassEmbeds: 4,
};
const den: Denoiser<UNet2DParams, UNet2DConfig> = {
  init: (key, c) => unet2d.init(key, c),
  apply: (p, x, t, o = {}) => unet2d.apply(p, x, t, { config: UNET, classLabels: o.classLabels }),
};
const bits = async (tree: unknown) => Promise.all(T.treeLeaves(tree).map(async (t) => Array.from(new Uint32Array(Float32Array.from(await (t as T.Tensor).data()).buffer))));

it.skipIf(skip !== undefined)(`train: a tiny UNet compiled == eager on webgpu, bit for bit${why}`, async () => {
  const images = Float32Array.from({ length: 8 * 16 }, (_, i) => Math.cos(0.7 * i));
  const cfg = () => ({
    model: den, modelConfig: UNET, modelKind: 'unet2d', data: arraySource(images, [1, 4, 4], Int32Array.from({ length: 8 }, (_, i) => i % 3), 3),
    steps: 3, batchSize: 4, seed: 5, schedule: { kind: 'cosine' as const, T: 30 }, lr: 2e-3, warmupSteps: 1, logEvery: 1,
  });
  const c = await train(cfg());
  const e = await train(cfg(), { eager: true });
  try {
    expect(c.executor.executor).toBe('compiled');
    expect(c.params.conv_in.weight.backend).toBe('webgpu');
    expect(Array.from(c.losses)).toEqual(Array.from(e.losses));
    expect(await bits(c.params)).toEqual(await bits(e.params));
    expect(await bits(c.emaParams)).toEqual(await bits(e.emaParams));
  } finally {
    T.dispose([c.params, c.emaParams, e.params, e.emaParams]);
  }
});

it.skipIf(skip !== undefined)(`sample: dpmsolver++ with guidance on a tiny UNet, compiled == eager on webgpu, bit for bit${why}`, async () => {
  const params = unet2d.init(randomKey(4), UNET);
  const labels = T.tensor([0, 1]);
  try {
    const model = unet2d.model(params, UNET);
    const run = async (eager: boolean) => {
      const out = await sample(model, {
        shape: [2, 1, 4, 4], schedule: makeSchedule('linear', 40), sampler: 'dpmsolver++', steps: 4, key: randomKey(9),
        cond: labels, guidance: { scale: 3, nullClass: 3 }, clip: true, eager,
        onExecutor: (x) => { if (!eager) expect(x.executor).toBe('compiled'); },
      });
      const b = await bits(out);
      out.dispose();
      return b;
    };
    expect(await run(false)).toEqual(await run(true));
  } finally {
    T.dispose([params, labels]);
  }
});
