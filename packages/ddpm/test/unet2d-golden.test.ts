// unet2d against diffusers' own UNet2DModel (fixtures from scripts/make-unet-golden.py):
// parameter names and shapes equal state_dict()'s, and one forward output per config equals
// diffusers' on the float64 reference backend (tight) and on webasm (float32 tolerance).
import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { unet2d } from '../src/models/unet2d.ts';
import { GOLDEN, goldenParams, maxDiff, type GoldenCase } from './unet2d-golden.ts';

const CASES = Object.entries(GOLDEN.cases);

function forward(c: GoldenCase): Float32Array | Float64Array {
  return T.tidy(() => {
    const params = goldenParams(c);
    const x = T.tensor(Float32Array.from(c.x), c.x_shape);
    const t = T.tensor(c.t, [c.t.length]);
    const classLabels = c.class_labels === null ? undefined : T.tensor(c.class_labels, [c.class_labels.length]);
    const y = unet2d.apply(params, x, t, { config: c.config, classLabels });
    expect(y.shape).toEqual(c.out_shape);
    return y.dataSync();
  });
}

describe('unet2d = diffusers UNet2DModel', () => {
  it('has golden cases with and without attention and class embeddings', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(2);
    expect(CASES.some(([, c]) => c.params.some(([n]) => n.includes('attentions')) && c.params.some(([n]) => n.startsWith('class_embedding')))).toBe(true);
    expect(CASES.some(([, c]) => !c.params.some(([n]) => n.includes('attentions') || n.startsWith('class_embedding')))).toBe(true);
  });

  for (const [name, c] of CASES) {
    it(`${name}: treeFlattenWithPath(init) gives exactly state_dict() names and shapes`, () => {
      const params = unet2d.init(T.randomKey(0), c.config);
      const ours = T.treeFlattenWithPath(params).map(([n, t]) => [n, (t as T.Tensor).shape]);
      T.dispose(params);
      const sortByName = (a: [string, unknown][]) => [...a].sort((p, q) => (p[0] < q[0] ? -1 : 1));
      expect(sortByName(ours as [string, number[]][])).toEqual(sortByName(c.params));
      // paramSpec lists them in diffusers' own (registration) order
      expect(unet2d.paramSpec(c.config).map((s) => [s.name, s.shape])).toEqual(c.params);
    });

    it(`${name}: forward on the reference backend equals diffusers in float64`, () => {
      const out = T.useBackend('reference', () => forward(c));
      const { diff, scale } = maxDiff(out, c.out_f64);
      expect(scale).toBeGreaterThan(0.5);
      expect(diff, `max |ours - diffusers| = ${diff}`).toBeLessThan(1e-11 * scale);
    });

    it(`${name}: forward on webasm equals diffusers in float32`, () => {
      const out = T.useBackend('webasm', () => forward(c));
      const { diff, scale } = maxDiff(out, c.out_f32);
      expect(diff, `max |ours - diffusers| = ${diff}`).toBeLessThan(2e-5 * Math.max(1, scale));
    });
  }
});
