// Loaded before every test file (vitest setupFiles). Enforces the project rule that no
// test leaks: the whole memory() after each test (live tensors, buffers, bytes and the
// gpu.js backends' allocation counters) must equal what it was before.

import { afterEach, beforeEach, expect } from 'vitest';
import fc from 'fast-check';
import { memory } from '@tapegrad/tensor';
import { fcRuns, propertyConfig } from '@tapegrad/tensor/testing';

// Property tests: one seed per process (FC_SEED replays one) and FC_RUNS_SCALE, for every
// fc.assert that does not pass its own parameters; suites with their own run counts use
// fcParams / fcRuns from @tapegrad/tensor/testing. fast-check prints the seed of a failure.
const fcConfig = propertyConfig();
fc.configureGlobal({ seed: fcConfig.seed, numRuns: fcRuns(100) });

let before = memory();

beforeEach(() => {
  before = memory();
});

afterEach((ctx) => {
  const after = memory();
  expect(after, `test "${ctx.task.name}" leaked: memory() went from ${JSON.stringify(before)} to ${JSON.stringify(after)}`).toEqual(before);
});
