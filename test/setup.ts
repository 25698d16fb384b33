// Loaded before every test file (vitest setupFiles). Enforces the project rule that no
// test leaks a tensor: the live-tensor count after each test must equal the count before.

import { afterEach, beforeEach, expect } from 'vitest';
import { memory } from '@tapegrad/tensor';

let before = 0;

beforeEach(() => {
  before = memory().tensors;
});

afterEach((ctx) => {
  const after = memory().tensors;
  expect(after, `test "${ctx.task.name}" leaked ${after - before} tensor(s)`).toBe(before);
});
