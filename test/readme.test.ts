// The README is the front door: every ```ts block in it that starts with an import must
// run as written (except test-file fragments that call it()). Each block is written to a
// temporary module inside the repository (so the workspace packages resolve) and imported.
// Every such block states what it prints in a `// prints: ...` comment after its
// console.log; the test checks the printed values against it: the same sequence of numbers
// (arrays and shapes flattened; relative error <= 1e-4, or absolute <= 1e-6 for values near
// 0, since the README states 5-6 significant digits of float32 results) and booleans.

import { describe, expect, it, vi } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memory } from '@tapegrad/tensor';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
// blocks that declare vitest tests (`it(...)`) are fragments of a test file, not scripts
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((m) => m[1])
  .filter((b) => b.startsWith('import') && !/\bit\(/.test(b));
const dir = join(root, 'test', '.readme-blocks');

type Token = number | boolean;
const TOKEN = /-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|true|false/gi;

/** The numbers and booleans a `// prints:` line states, in order. */
export function statedValues(line: string): Token[] {
  return [...line.matchAll(TOKEN)].map((m) => (/^(true|false)$/i.test(m[0]) ? m[0].toLowerCase() === 'true' : Number(m[0])));
}

/** The numbers and booleans of console.log arguments, flattened in order. */
export function printedValues(args: unknown[]): Token[] {
  const out: Token[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'number' || typeof v === 'boolean') out.push(v);
    else if (ArrayBuffer.isView(v)) out.push(...Array.from(v as unknown as ArrayLike<number>));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  args.forEach(walk);
  return out;
}

export function sameValues(printed: Token[], stated: Token[]): string | null {
  if (printed.length !== stated.length) return `printed ${printed.length} values, the README states ${stated.length}`;
  for (let i = 0; i < printed.length; i++) {
    const [p, s] = [printed[i], stated[i]];
    if (typeof s === 'boolean' || typeof p === 'boolean') {
      if (p !== s) return `value ${i}: printed ${p}, the README states ${s}`;
    } else if (!(Math.abs(p - s) <= Math.max(1e-6, 1e-4 * Math.abs(s)))) {
      return `value ${i}: printed ${p}, the README states ${s}`;
    }
  }
  return null;
}

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });
  it('the printed-value check itself: parses, flattens and compares (and tells a wrong value)', () => {
    expect(statedValues('// prints: [[1.523e-8, 1], [2.86e-20, 1]] [2] true')).toEqual([1.523e-8, 1, 2.86e-20, 1, 2, true]);
    expect(printedValues([[[1.5e-8, 1]], new Float32Array([0.5, -2]), [2], false])).toEqual([1.5e-8, 1, 0.5, -2, 2, false]);
    expect(sameValues([1.75517, 0], [1.75517, 0])).toBeNull();
    expect(sameValues([1.7554, 0], [1.75517, 0])).toMatch(/value 0/);
    expect(sameValues([1, 2], [1])).toMatch(/printed 2 values/);
    expect(sameValues([true], [false])).toMatch(/value 0/);
  });
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('@tapegrad/autograd') || l.includes("from '@tapegrad/tensor'")) ?? '';
    it(`block ${i + 1} runs, prints what the README states and frees what it creates (${title.trim()})`, async () => {
      const stated = code.split('\n').filter((l) => l.trim().startsWith('// prints:'));
      expect(stated.length, 'every runnable README block states its output in one `// prints: ...` line').toBe(1);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `block-${i}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const before = memory();
      try {
        await import(`${file}?t=${Date.now()}`);
        expect(log).toHaveBeenCalledTimes(1);
        const printed = printedValues(log.mock.calls[0]);
        expect(sameValues(printed, statedValues(stated[0])), `printed ${JSON.stringify(printed)}; README: ${stated[0].trim()}`).toBeNull();
        expect(memory()).toEqual(before);
      } finally {
        log.mockRestore();
        rmSync(file, { force: true });
      }
    });
  });
});
