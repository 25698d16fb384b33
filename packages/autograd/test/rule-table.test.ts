// The rule table (src/rules.ts): one entry per primitive, its saved values beside its VJP
// (`defineRule(op, { saves, vjp })`), and no import back into the tape (the old
// rules.ts <-> tape.ts cycle). That the `saves` of each rule are sufficient is checked by
// every gradient suite: a rule reading an undeclared value throws (tape.ts ShapeOnly).

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { defineRule, differentiablePrimitives, ruleFor, savesFor } from '../src/rules.ts';

const source = (f: string) => readFileSync(new URL(`../src/${f}`, import.meta.url), 'utf8');
const localImports = (src: string) => [...src.matchAll(/from '(\.\/[^']+)'/g)].map((m) => m[1]);

describe('the rule table', () => {
  it('rules.ts imports nothing from the tape or the transforms (no import cycle)', () => {
    expect(localImports(source('rules.ts'))).toEqual([]);
    expect(localImports(source('tape.ts'))).toEqual(['./rules.ts']);
  });

  it('every primitive has saves (input positions in range, no duplicates) and a vjp', () => {
    const ops = differentiablePrimitives();
    expect(ops.length).toBeGreaterThanOrEqual(50);
    for (const op of ops) {
      const r = ruleFor(op);
      expect(typeof r.vjp, op).toBe('function');
      expect(new Set(r.saves.inputs).size, op).toBe(r.saves.inputs.length);
      for (const i of r.saves.inputs) expect(Number.isInteger(i) && i >= 0 && i < 3, `${op} saves input ${i}`).toBe(true);
      expect(savesFor(op)).toBe(r.saves);
    }
  });

  it('an op without a rule: the tape holds everything, backward names the known primitives', () => {
    expect(savesFor('noSuchOp')).toBe('all');
    expect(() => ruleFor('noSuchOp')).toThrow(/^backward: no VJP rule for primitive 'noSuchOp'; expected one of neg, /);
  });

  it('defineRule refuses a second rule for a primitive', () => {
    expect(() => defineRule('exp', { saves: { inputs: [], output: true }, vjp: (_x, y, g) => [g] })).toThrow(
      /^defineRule: primitive 'exp' already has a rule; expected one rule per primitive/,
    );
  });
});
