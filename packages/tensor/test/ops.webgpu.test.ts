// The op conformance suite on webgpu (Dawn; Mesa lavapipe on CPU-only machines, where it is
// slow: small shapes, few runs). If no adapter answers, every test is reported as skipped
// with the reason in its title, and the reason is printed.

import { expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { opSuite } from './ops.suite.ts';

let skip: string | undefined;
try {
  await T.setBackend('webgpu');
} catch (e) {
  skip = (e as Error).message.split('\n')[0];
  console.warn(`ops.webgpu.test.ts: the webgpu op suite is skipped: ${skip}`);
}

it.skipIf(skip !== undefined)(`webgpu is the backend in use${skip ? ` (SKIPPED: ${skip})` : ''}`, async () => {
  expect(T.getBackend()).toBe('webgpu');
  const t = T.ones([3]);
  try {
    expect(t.backend).toBe('webgpu');
    expect(() => t.dataSync()).toThrow(/dataSync: backend 'webgpu' cannot read back synchronously/);
    expect(Array.from(await t.data())).toEqual([1, 1, 1]);
    expect(T.findBackend('webgpu').describe()).toMatch(/webgpu/);
  } finally {
    t.dispose();
  }
});

opSuite('webgpu', { maxSize: 32, numRuns: 8, skip });
