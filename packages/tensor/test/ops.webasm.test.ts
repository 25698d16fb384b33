// The op conformance suite on the default backend, webasm (gpu.js WebAssembly kernels,
// true float32), against the float64 reference backend.

import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { opSuite } from './ops.suite.ts';

it('webasm is the backend in use (no TAPEGRAD_BACKEND override, no hardware GPU) or can be selected', async () => {
  expect(await T.setBackend('webasm')).toBe('webasm');
  expect(T.getBackend()).toBe('webasm');
  const t = T.ones([3]);
  try {
    expect(t.backend).toBe('webasm');
    expect(t.dataSync()).toBeInstanceOf(Float32Array);
  } finally {
    t.dispose();
  }
});

opSuite('webasm', { maxSize: 256, numRuns: 50 });
