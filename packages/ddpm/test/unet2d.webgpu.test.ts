// unet2d on webgpu (Dawn; Mesa lavapipe on CPU-only machines) against diffusers' float32 golden
// output, for every golden config. Skipped, with the reason in the title and printed, when no
// webgpu adapter answers.
import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { unet2d } from '../src/models/unet2d.ts';
import { GOLDEN, goldenParams, maxDiff } from './unet2d-golden.ts';

let skip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  skip = (e as Error).message.split('\n')[0];
  console.warn(`unet2d.webgpu.test.ts: skipped: ${skip}`);
}

for (const [name, c] of Object.entries(GOLDEN.cases)) {
  it.skipIf(skip !== undefined)(`${name}: forward on webgpu equals diffusers in float32${skip ? ` (SKIPPED: ${skip})` : ''}`, async () => {
    const y = T.tidy(() => {
      const params = goldenParams(c);
      const x = T.tensor(Float32Array.from(c.x), c.x_shape);
      const t = T.tensor(c.t, [c.t.length]);
      const classLabels = c.class_labels === null ? undefined : T.tensor(c.class_labels, [c.class_labels.length]);
      return unet2d.apply(params, x, t, { config: c.config, classLabels });
    });
    try {
      expect(y.backend).toBe('webgpu');
      expect(y.shape).toEqual(c.out_shape);
      const { diff, scale } = maxDiff(await y.data(), c.out_f32);
      expect(diff, `max |ours - diffusers| = ${diff}`).toBeLessThan(2e-5 * Math.max(1, scale));
    } finally {
      y.dispose();
    }
  });
}
