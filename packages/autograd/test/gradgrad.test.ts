// Second derivatives: gradgradcheck (gradcheck of the backward pass itself) on every
// primitive whose rule is not zero by design, on random shapes, values and attributes from
// the case table in cases.ts. The rules are written with differentiable tensor ops, so the
// backward pass records on an enclosing tape; this is what checks that it does so
// correctly. Linear ops (slice, pad, concat, transpose, broadcastTo, ...) have a zero second
// derivative in x but a non-trivial one in the cotangent u: they must still run and pass.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as T from '@tapegrad/tensor';
import { differentiablePrimitives, gradgradcheck, TOLERANCES } from '@tapegrad/autograd';
import {
  caseNamed, conv2dCase, convTransposeCase, fcParams, filterGradCase, materialize, noteRatio, printStats, recordedOps,
  type Case, type Instance, type TestBackend,
} from './cases.ts';

/** Convolutions small enough for a gradcheck of their backward pass (H, W <= 4). */
const TINY: Case[] = [
  conv2dCase('conv2d (tiny)', { maxHW: 4 }),
  conv2dCase("conv2d padding 'same' (tiny)", { same: true, maxHW: 4 }),
  filterGradCase('conv2dFilterGrad (tiny)', { maxHW: 4 }),
  convTransposeCase('convTranspose2d (tiny)', false, 3),
  convTransposeCase('convTranspose2d outputPadding (tiny)', true, 3),
];
const named = (n: string) => TINY.find((c) => c.name === n) ?? caseNamed(n);

/** Every case whose second derivative is checked on the reference backend. */
const REFERENCE = [
  // unary
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu',
  'gelu', 'erf',
  // binary
  'add', 'sub', 'mul', 'div', 'pow', 'pow negative base', 'maximum', 'minimum', 'where', 'clip tensor bounds',
  // reductions and composites
  'sum', 'mean', 'max', 'min', 'variance', 'logsumexp', 'softmax', 'logSoftmax', 'oneHot cross-entropy',
  // linear algebra and movement (linear: zero in x, but the u-derivative is checked)
  'matmul', 'matmul 1-D operands', 'transpose', 'reshape', 'clone', 'broadcastTo', 'slice with steps', 'pad', 'concat of 3',
  'stack', 'gather repeated indices', 'scatterAdd',
  // convolution and pooling (conv2d's second derivative runs conv2dFilterGrad's rule)
  'conv2d (tiny)', "conv2d padding 'same' (tiny)", 'conv2dFilterGrad (tiny)', 'convTranspose2d (tiny)',
  'convTranspose2d outputPadding (tiny)', 'maxPool2d', 'maxPool2dGather', 'maxPool2dScatter', 'avgPool2d', 'upsampleNearest2d',
  // the fused groupNorm: its second derivative runs groupNormGrad's and groupNormParamGrad's rules,
  // and groupNormGrad's own second derivative (third order of groupNorm) checks those rules again
  'groupNorm', 'groupNormGrad', 'groupNormParamGrad',
];

/** A representative subset on webasm (float32). */
const WEBASM = [
  'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'silu', 'gelu', 'erf', 'reciprocal', 'mul', 'div', 'pow', 'where', 'sum',
  'max', 'logsumexp', 'softmax', 'matmul', 'slice with steps', 'gather repeated indices', 'conv2d (tiny)',
  'convTranspose2d (tiny)', 'maxPool2d', 'avgPool2d',
];

/** What the issue names explicitly. */
const REQUIRED = [
  'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'silu', 'gelu', 'erf', 'square', 'reciprocal', 'mul', 'div',
  'pow', 'matmul', 'softmax', 'logsumexp', 'conv2d (tiny)', 'convTranspose2d (tiny)', 'conv2dFilterGrad (tiny)', 'sum', 'mean',
  'max', 'where', 'gather repeated indices', 'slice with steps', 'pad', 'concat of 3', 'transpose', 'broadcastTo', 'maxPool2d',
  'avgPool2d',
];

/** Rules that are zero by design (piecewise-constant primitives): nothing to differentiate. */
const ZERO_GRADIENT = ['greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual', 'sign', 'floor', 'step', 'argmax', 'argmin'];

const NUM_RUNS: Record<TestBackend, number> = { reference: 6, webasm: 4 };

/**
 * Tolerance of the webasm second derivatives, passed explicitly. gradgradcheck
 * differentiates the backward pass: the float32 analytic value goes through two chained
 * float32 VJPs (the rule's backward ops, then their own VJPs), so its rounding budget is
 * twice that of one VJP: 2x the webasm default rtol (2e-3, see TOLERANCES). Measured: the
 * worst |analytic - numeric| / tolerance over a few hundred random instances of this list
 * stays below ~1e-2, while rules whose backward pass is not differentiable (a saved output
 * read back as a constant: right first derivative, wrong second) fail here with ratios of
 * 65 to 220 on webasm and 1e5 to 1e7 on reference. The reference backend keeps its float64
 * default.
 */
const WEBASM_RTOL = 2 * TOLERANCES.webasm.rtol;

async function check(name: string, inst: Instance, backend: TestBackend): Promise<void> {
  const xs = materialize(inst, backend);
  try {
    const report = await gradgradcheck(inst.f, xs, {
      directions: 2,
      seed: inst.seed,
      argnums: inst.argnums,
      ...(backend === 'webasm' ? { rtol: WEBASM_RTOL } : {}),
    });
    expect(report.ok).toBe(true);
    expect(report.checks).toBeGreaterThan(0);
    expect(report.backend).toBe(backend);
    noteRatio(`${name} @${backend}`, report.maxErrorRatio);
  } catch (e) {
    throw new Error(`gradgrad ${name} on ${backend}: ${inst.label}: ${(e as Error).message}`);
  } finally {
    T.dispose(xs);
  }
}

describe('coverage of the second-derivative cases', () => {
  test('the ops named in the issue are checked, the webasm ones also on reference', () => {
    expect(REQUIRED.filter((n) => !REFERENCE.includes(n))).toEqual([]);
    expect(WEBASM.filter((n) => !REFERENCE.includes(n))).toEqual([]);
  });

  test('every primitive whose rule is not zero by design is recorded by a checked case', () => {
    const seen = new Set<string>();
    for (const name of REFERENCE) {
      const c = named(name);
      for (const inst of fc.sample(c.arb, { numRuns: 6, seed: 42 })) for (const op of recordedOps(inst)) seen.add(op);
    }
    const missing = differentiablePrimitives().filter((p) => !ZERO_GRADIENT.includes(p) && !seen.has(p));
    expect(missing, `primitives without a gradgradcheck case: ${missing.join(', ')}`).toEqual([]);
  });
});

describe.each([
  ['reference', REFERENCE],
  ['webasm', WEBASM],
] as [TestBackend, string[]][])('gradgradcheck on %s', (backend, names) => {
  test.each(names)('%s', async (name) => {
    const c = named(name);
    await fc.assert(fc.asyncProperty(c.arb, (inst) => check(name, inst, backend)), fcParams(NUM_RUNS[backend]));
    printStats(`gradgradcheck ${name} @${backend}`);
  });
});
