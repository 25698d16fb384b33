// Loaded before every test file (vitest setupFiles). Enforces the project rule that no
// test leaks: the whole memory() after each test (live tensors, buffers, bytes and the
// gpu.js backends' allocation counters) must equal what it was before.

import { afterEach, beforeEach, expect } from 'vitest';
import { memory } from '@tapegrad/tensor';

let before = memory();

beforeEach(() => {
  before = memory();
});

afterEach((ctx) => {
  const after = memory();
  expect(after, `test "${ctx.task.name}" leaked: memory() went from ${JSON.stringify(before)} to ${JSON.stringify(after)}`).toEqual(before);
});
