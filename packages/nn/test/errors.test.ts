// Error form in nn (issue 8 §6): an error raised by a tensor op or the backend inside a layer
// starts with the layer the user called, and ill-typed arguments say what was passed.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import * as nn from '../src/index.ts';

describe('nn errors start with the layer the user called', () => {
  it('a backend refusal inside upsample is reported as upsample (was the kernel name, strided:)', () => {
    T.useBackend('webasm', () => {
      const x = T.ones([1, 1, 2, 2]);
      try {
        // 2 * 4096 per side: 2^26 elements, over the gpu.js limit of 2^24
        expect(() => nn.upsample.apply({}, x, { scale: 4096 })).toThrow(/^upsample: strided: a tensor of 67108864 elements exceeds 16777216 \(2\^24\)/);
      } finally {
        x.dispose();
      }
    });
  });

  it('ill-typed inputs and hyper-parameters say what was passed', () => {
    const w = T.ones([2, 2]);
    try {
      expect(() => nn.linear.apply({ weight: w }, 5 as never)).toThrow(/^linear: input must be a Tensor, got the number 5$/);
      expect(() => nn.linear.apply({ weight: w }, null as never)).toThrow(/^linear: input must be a Tensor, got null$/);
      expect(() => nn.sgd({ learningRate: NaN })).toThrow(/^sgd: learningRate must be a finite number in \[0, Infinity\], got NaN$/);
      expect(() => nn.ema({ decay: '0.9' as never })).toThrow(/^ema: decay must be a finite number in \[0, 1\], got the string "0\.9"$/);
      expect(() => nn.linear.init(T.randomKey(0), { inFeatures: 2.5, outFeatures: 1 })).toThrow(/^linear\.init: inFeatures must be an integer >= 1, got 2\.5$/);
    } finally {
      w.dispose();
    }
  });
});
