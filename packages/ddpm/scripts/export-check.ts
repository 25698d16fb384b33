// Writes a DDPMPipeline folder with exportDiffusers plus DIR/tapegrad-check.json (an input and
// our forward output), for scripts/make-unet-golden.py --check-export DIR to load with
// diffusers (UNet2DModel.from_pretrained, DDPMPipeline.from_pretrained) and compare.
//
//   npx tsx packages/ddpm/scripts/export-check.ts /tmp/export-uncond            # unconditional, attention
//   npx tsx packages/ddpm/scripts/export-check.ts /tmp/export-class --classes   # class embedding, cosine schedule
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { exportDiffusers, makeSchedule, unet2d, type UNet2DConfig } from '../src/index.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: export-check.ts DIR [--classes]');
const classes = process.argv.includes('--classes');
await T.setBackend('webasm');
const config: UNet2DConfig = {
  sampleSize: 8, inChannels: 3, outChannels: 3, blockOutChannels: [16, 32], normNumGroups: 8, layersPerBlock: 1,
  downBlockTypes: ['DownBlock2D', 'AttnDownBlock2D'], upBlockTypes: ['AttnUpBlock2D', 'UpBlock2D'], attentionHeadDim: 8,
  ...(classes ? { numClassEmbeds: 11, flipSinToCos: false, freqShift: 1 } : {}),
};
const schedule = classes ? makeSchedule('cosine', 100) : makeSchedule('linear', 1000);
const params = unet2d.init(T.randomKey(7), config);
await exportDiffusers(dir, { config, params, schedule, scheduler: classes ? { predictionType: 'v_prediction', clipSample: false } : {} });
const B = 2;
const x = T.randomNormal(T.randomKey(8), [B, 3, 8, 8]);
const tHost = classes ? [3, 97.5] : [0, 999];
const labels = classes ? [10, 4] : null;
const out = unet2d.apply(params, x, T.tensor(tHost), { config, classLabels: labels ?? undefined });
await writeFile(join(dir, 'tapegrad-check.json'), JSON.stringify({
  x_shape: x.shape, x: Array.from(await x.data()), t: tHost, class_labels: labels,
  out_shape: out.shape, out: Array.from(await out.data()), alphas_cumprod: Array.from(schedule.alphasCumprod),
}));
console.log(`wrote ${dir} (${T.treeLeaves(params).length} tensors)`);
T.dispose([params, x, out]);
