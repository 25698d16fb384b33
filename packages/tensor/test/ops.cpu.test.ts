// The op conformance suite on gpu.js's JavaScript ('cpu') mode: float64 arithmetic inside
// a kernel, float32 storage. Fewer runs and smaller shapes: it is the slowest to compile.

import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { opSuite } from './ops.suite.ts';

it("'cpu' can be selected and holds float32 data", async () => {
  expect(await T.setBackend('cpu')).toBe('cpu');
  expect(T.getBackend()).toBe('cpu');
  const t = T.ones([3]);
  try {
    expect(t.backend).toBe('cpu');
    expect(t.dataSync()).toBeInstanceOf(Float32Array);
  } finally {
    t.dispose();
  }
});

opSuite('cpu', { maxSize: 128, numRuns: 10 });
