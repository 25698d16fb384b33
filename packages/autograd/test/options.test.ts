// Options that could make a gradient check vacuous (issue 8 §4) are rejected with the README's
// error form, never reported as `ok` nor as a raw TypeError or a "gradient mismatch".
// The function checked here has a deliberately wrong gradient (customVjp declaring
// d/dx sin = sin), so any option that let it pass would be a vacuous check.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import { customVjp, gradcheck, gradgradcheck } from '@tapegrad/autograd';
import { gradientProperty, hostTensorOf } from '@tapegrad/autograd/testing';

await T.setBackend('reference');

const wrongSin = customVjp(
  (x: Tensor) => T.sin(x),
  (x: Tensor) => [T.sin(x), x],
  (x: Tensor, g: Tensor) => [T.mul(g, T.sin(x))],
);
const wrong = (x: Tensor) => T.sum(wrongSin(x));

const BAD: [string, Record<string, unknown>, RegExp][] = [
  ['negative tolerances', { rtol: -1, atol: -1 }, /options\.rtol must be a finite number in \[0, Infinity\], got -1/],
  ['a negative atol', { atol: -1e-3 }, /options\.atol must be a finite number in \[0, Infinity\], got -0\.001/],
  ['NaN tolerance', { rtol: NaN }, /options\.rtol must be a finite number .* got NaN/],
  ['infinite tolerance', { atol: Infinity }, /options\.atol must be a finite number .* got Infinity/],
  ['zero directions', { directions: 0 }, /options\.directions must be an integer >= 1, got 0/],
  ['fractional directions', { directions: 1.5 }, /options\.directions must be an integer >= 1, got 1\.5/],
  ['argnums out of range', { argnums: [5] }, /options\.argnums\[0\] must be an integer in \[0, 0\], got 5/],
  ['negative argnum', { argnums: [-1] }, /options\.argnums\[0\] must be an integer in \[0, 0\], got -1/],
  ['empty argnums', { argnums: [] }, /options\.argnums must be a non-empty array of input indices/],
  ['duplicate argnums', { argnums: [0, 0] }, /options\.argnums \[0,0\] contains a duplicate/],
  ['argnums not an array', { argnums: 0 }, /options\.argnums must be a non-empty array of input indices, got the number 0/],
  ['a zero step', { eps: 0 }, /options\.eps \(the finite-difference step\) must be a finite number in \(0, Infinity\], got 0/],
  ['a negative step', { eps: -1e-4 }, /options\.eps .* got -0\.0001/],
  ['a seed that is not an integer', { seed: 0.5 }, /options\.seed must be an integer in \[0, \d+\], got 0\.5/],
  ['jacobian as a string', { jacobian: 'yes' }, /options\.jacobian must be a boolean, got the string "yes"/],
  ['a misspelt option', { direction: 5 }, /unknown option 'direction'; expected some of directions, jacobian/],
];

describe('gradcheck and gradgradcheck reject options that could make a check vacuous', () => {
  for (const [what, opts, msg] of BAD) {
    it(`gradcheck: ${what}`, async () => {
      const x = T.tensor([0.3, 0.7]);
      try {
        await expect(gradcheck(wrong, [x], opts)).rejects.toThrow(new RegExp(`^gradcheck: ${msg.source}`));
        await expect(gradgradcheck((x: Tensor) => T.sin(x), [x], opts)).rejects.toThrow(new RegExp(`^gradgradcheck: ${msg.source}`));
      } finally {
        x.dispose();
      }
    });
  }

  it('the wrong gradient is still caught with the defaults (the check above is not vacuous itself)', async () => {
    const x = T.tensor([0.3, 0.7]);
    try {
      const r = await gradcheck(wrong, [x], { throwOnFailure: false });
      expect(r.ok).toBe(false);
      expect(r.checks).toBe(3);
    } finally {
      x.dispose();
    }
  });

  it('directions 0 is accepted with jacobian: true (the Jacobian entries are the checks)', async () => {
    const x = T.tensor([0.3, 0.7]);
    try {
      const r = await gradcheck(wrong, [x], { directions: 0, jacobian: true, throwOnFailure: false });
      expect(r.ok).toBe(false);
      expect(r.checks).toBe(2);
    } finally {
      x.dispose();
    }
  });

  it('ill-typed f, inputs and options', async () => {
    const x = T.tensor([0.3]);
    try {
      await expect(gradcheck(5 as never, [x])).rejects.toThrow(/^gradcheck: f must be a function, got the number 5/);
      await expect(gradcheck(wrong, x as never)).rejects.toThrow(/^gradcheck: inputs must be a non-empty array of tensors, got Tensor\(shape=\[1\]/);
      await expect(gradcheck(wrong, [x, 3] as never)).rejects.toThrow(/^gradcheck: inputs\[1\] must be a Tensor, got the number 3/);
      await expect(gradcheck(wrong, [x], null as never)).rejects.toThrow(/^gradcheck: options must be an object, got null/);
    } finally {
      x.dispose();
    }
  });
});

describe('gradientProperty validates its options when it is built', () => {
  const arb = [hostTensorOf([2])];
  for (const [what, opts, msg] of BAD.filter(([w]) => !w.startsWith('argnums out') && !w.startsWith('negative argnum'))) {
    it(what, () => {
      expect(() => gradientProperty(wrong, arb, opts)).toThrow(new RegExp(`^gradientProperty: ${msg.source}`));
    });
  }
  it('argnums out of range, an unknown backend, secondOrder not a boolean', () => {
    expect(() => gradientProperty(wrong, arb, { argnums: [1] })).toThrow(/^gradientProperty: options\.argnums\[0\] must be an integer in \[0, 0\], got 1/);
    expect(() => gradientProperty(wrong, arb, { backend: 'gpu' as never })).toThrow(/^gradientProperty: options\.backend must be one of webasm, webgpu, cpu, reference, got the string "gpu"/);
    expect(() => gradientProperty(wrong, arb, { secondOrder: 1 as never })).toThrow(/^gradientProperty: options\.secondOrder must be a boolean, got the number 1/);
  });
});
