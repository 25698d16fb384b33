// The README is the front door: every ```ts block in it that starts with an import must
// run as written (except test-file fragments that call it()). Each block is written to a temporary module inside the repository (so
// the workspace packages resolve) and imported; its console output is checked to exist.

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

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('@tapegrad/autograd') || l.includes("from '@tapegrad/tensor'")) ?? '';
    it(`block ${i + 1} runs and frees what it creates (${title.trim()})`, async () => {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `block-${i}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const before = memory().tensors;
      try {
        await import(`${file}?t=${Date.now()}`);
        expect(log).toHaveBeenCalled();
        expect(memory().tensors).toBe(before);
      } finally {
        log.mockRestore();
        rmSync(file, { force: true });
      }
    });
  });
});
