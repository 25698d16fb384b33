// Mutation check: does the suite catch the bugs it claims to? Each mutation below is a known,
// realistic bug (most of them passed the whole suite once, issue 9). For each one this script
// applies the edit to the source file, runs the listed test files, restores the file, and
// reports whether the tests failed (caught) or passed (survived).
//
//   npx tsx test/tools/mutate.ts                 all mutations (after a baseline run of their tests)
//   npx tsx test/tools/mutate.ts gelu sigmoid    only mutations whose name contains one of the words
//   npx tsx test/tools/mutate.ts --list          print the mutations and whether each `find` matches
//   npx tsx test/tools/mutate.ts --no-baseline   skip the unmutated run
//
// Not part of `npm test` (it runs test files many times). The file is restored in a finally
// block, on Ctrl-C / SIGTERM, and at the next start if a backup (`<file>.mutate-backup`) was
// left by a killed run. A mutation whose `find` does not match exactly once is reported as an
// error: files move and code changes, and a mutation that silently applies to nothing would
// report "survived" or "caught" about code that no longer exists.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Mutation {
  name: string;
  /** Path from the repository root. */
  file: string;
  /** Exact text (or a regex) that must occur exactly once in `file`. */
  find: string | RegExp;
  replace: string;
  /** Test files or folders (from the repository root) that should catch it. */
  tests: string[];
  why?: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const MUTATIONS: Mutation[] = [
  {
    name: 'max/min reduction rule gives every tied element the full cotangent',
    file: 'packages/autograd/src/rules.ts',
    find: 'return [mul(expandReduced(g, x.shape, axes), div(mask, count))];',
    replace: 'return [mul(expandReduced(g, x.shape, axes), mask)];',
    tests: ['packages/autograd/test'],
    why: 'the README promises tied maxima an equal share',
  },
  {
    name: 'maximum/minimum give both tied inputs the full cotangent',
    file: 'packages/autograd/src/rules.ts',
    find: 'return T.add(T.greater(a, b), mul(T.equal(a, b), 0.5));',
    replace: 'return T.add(T.greater(a, b), T.equal(a, b));',
    tests: ['packages/autograd/test'],
  },
  {
    name: 'the engine never frees a buffer (DataRef.release skips backend.free)',
    file: 'packages/tensor/src/tensor.ts',
    find: '      this.backend.free(this.storage);\n',
    replace: '',
    tests: ['packages/nn/test/training.test.ts', 'packages/tensor/test/engine.test.ts'],
  },
  {
    name: 'a gpu.js backend never frees a buffer (free is a no-op)',
    file: 'packages/tensor/src/backends/gpujs.ts',
    find: /free\(s: Storage\): void \{\n/,
    replace: 'free(s: Storage): void {\n    return;\n',
    tests: ['packages/tensor/test/allocations.test.ts', 'packages/nn/test/training.test.ts'],
  },
  {
    name: 'a gpu.js backend leaks its temporaries (matmul never frees its broadcast copies)',
    file: 'packages/tensor/src/backends/gpujs.ts',
    find: '    temps.forEach((t) => this.free(t));\n',
    replace: '',
    tests: ['packages/tensor/test/allocations.test.ts', 'packages/nn/test/training.test.ts'],
  },
  {
    name: 'training never samples t >= 800 (sampleTimesteps)',
    file: 'packages/ddpm/src/process/loss.ts',
    find: '/ 2 ** 32) * T);',
    replace: '/ 2 ** 32) * Math.min(T, 800));',
    tests: ['packages/ddpm/test/timestep-sampling.test.ts', 'packages/ddpm/test/e2e.test.ts'],
  },
  {
    name: 'training never samples t >= 800 (the library train loop, which the CLI train command runs)',
    file: 'packages/ddpm/src/train/train.ts',
    find: 'sampleTimesteps(foldIn(keys.t, s), B, schedule.T)',
    replace: 'sampleTimesteps(foldIn(keys.t, s), B, Math.min(schedule.T, 800))',
    tests: ['packages/ddpm/test/timestep-sampling.test.ts', 'packages/ddpm/test/e2e.test.ts', 'packages/cli/test/timesteps.test.ts'],
  },
  {
    name: "gpu.js loop cap left at its default 1000",
    file: 'packages/tensor/src/backends/gpujs.ts',
    // the eager kernels' createKernel (kernelFor); the pipeline builder has its own
    find: '      argumentTypes: spec.argumentTypes,\n      loopMaxIterations: K.MAX_ELEMENTS,\n',
    replace: '      argumentTypes: spec.argumentTypes,\n',
    tests: ['packages/tensor/test/ops.webasm.test.ts', 'packages/tensor/test/ops.cpu.test.ts'],
  },
  {
    name: 'gelu gradient off by 0.1%',
    file: 'packages/autograd/src/rules.ts',
    find: 'return [mul(g, T.add(cdf, mul(x, pdf)))];',
    replace: 'return [mul(g, mul(T.add(cdf, mul(x, pdf)), 1.001))];',
    tests: ['packages/autograd/test'],
  },
  {
    name: 'sigmoid gradient off by 0.1%',
    file: 'packages/autograd/src/rules.ts',
    find: '[mul(g, mul(y, sub(1, y)))]',
    replace: '[mul(g, mul(mul(y, sub(1, y)), 1.001))]',
    tests: ['packages/autograd/test'],
  },
];

type Outcome = 'caught' | 'survived' | 'error';
interface Result {
  name: string;
  outcome: Outcome;
  detail: string;
  seconds: number;
}

const backupOf = (file: string) => `${file}.mutate-backup`;

/** Restore any file a killed earlier run left mutated. */
function restoreStale(): void {
  for (const file of new Set(MUTATIONS.map((m) => join(root, m.file)))) {
    if (existsSync(backupOf(file))) {
      console.log(`mutate: restoring ${file} from a backup left by an interrupted run`);
      renameSync(backupOf(file), file);
    }
  }
}

function countMatches(text: string, find: string | RegExp): number {
  if (typeof find === 'string') return find === '' ? 0 : text.split(find).length - 1;
  const flags = find.flags.includes('g') ? find.flags : `${find.flags}g`;
  return [...text.matchAll(new RegExp(find.source, flags))].length;
}

function runTests(tests: string[]): { status: number | null; out: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync('npx', ['vitest', 'run', ...tests], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 30 * 60 * 1000,
  });
  // eslint-disable-next-line no-control-regex
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '');
  return { status: r.status, out, seconds: (performance.now() - t0) / 1000 };
}

function summary(out: string): string {
  const tests = /Tests\s+([^\n]+)/.exec(out)?.[1]?.trim() ?? '';
  const files = /Test Files\s+([^\n]+)/.exec(out)?.[1]?.trim() ?? '';
  const firstFail = /(?:FAIL|×)\s+([^\n]+)/.exec(out)?.[1]?.trim();
  return [tests && `tests: ${tests}`, files && `files: ${files}`, firstFail && `first failure: ${firstFail.slice(0, 140)}`].filter(Boolean).join('; ');
}

let active: { file: string; original: string } | null = null;
function restoreActive(): void {
  if (!active) return;
  writeFileSync(active.file, active.original);
  rmSync(backupOf(active.file), { force: true });
  active = null;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    restoreActive();
    console.log(`\nmutate: interrupted (${sig}); source restored`);
    process.exit(130);
  });
}

function applyAndRun(m: Mutation): Result {
  const file = join(root, m.file);
  if (!existsSync(file)) return { name: m.name, outcome: 'error', detail: `file ${m.file} does not exist (moved?)`, seconds: 0 };
  const missing = m.tests.filter((t) => !existsSync(join(root, t)));
  if (missing.length) return { name: m.name, outcome: 'error', detail: `test path(s) missing: ${missing.join(', ')}`, seconds: 0 };
  const original = readFileSync(file, 'utf8');
  const n = countMatches(original, m.find);
  if (n !== 1) return { name: m.name, outcome: 'error', detail: `find ${JSON.stringify(String(m.find))} matches ${n} times in ${m.file}; expected exactly once`, seconds: 0 };
  const mutated = typeof m.find === 'string' ? original.replace(m.find, () => m.replace) : original.replace(m.find, m.replace);
  writeFileSync(backupOf(file), original);
  active = { file, original };
  try {
    writeFileSync(file, mutated);
    const r = runTests(m.tests);
    const s = summary(r.out);
    if (r.status === 0) return { name: m.name, outcome: 'survived', detail: s, seconds: r.seconds };
    // a failure must come from a test, not from a mutation that broke the module
    if (!/\d+ failed/.test(/Tests\s+([^\n]+)/.exec(r.out)?.[1] ?? '')) {
      return { name: m.name, outcome: 'error', detail: `no test failed but vitest exited ${r.status} (did the mutation break the build?): ${s || r.out.slice(-400)}`, seconds: r.seconds };
    }
    return { name: m.name, outcome: 'caught', detail: s, seconds: r.seconds };
  } finally {
    restoreActive();
  }
}

function table(results: Result[]): string {
  const rows = results.map((r) => `| ${r.name} | ${r.outcome.toUpperCase()} | ${r.seconds.toFixed(0)} s | ${r.detail.replace(/\|/g, '/')} |`);
  return ['| mutation | result | time | detail |', '|---|---|---|---|', ...rows].join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const words = args.filter((a) => !a.startsWith('--'));
  const chosen = MUTATIONS.filter((m) => words.length === 0 || words.some((w) => m.name.toLowerCase().includes(w.toLowerCase())));
  restoreStale();
  if (args.includes('--list')) {
    for (const m of chosen) {
      const file = join(root, m.file);
      const n = existsSync(file) ? countMatches(readFileSync(file, 'utf8'), m.find) : -1;
      console.log(`${n === 1 ? 'ok   ' : 'ERROR'} ${m.name}  (${m.file}: ${n < 0 ? 'missing' : `${n} match(es)`}; tests ${m.tests.join(' ')})`);
    }
    return;
  }
  if (!args.includes('--no-baseline')) {
    const all = [...new Set(chosen.flatMap((m) => m.tests))].filter((t) => existsSync(join(root, t)));
    console.log(`mutate: baseline run of ${all.join(' ')}`);
    const b = runTests(all);
    if (b.status !== 0) {
      console.log(`mutate: the unmutated tests fail (${summary(b.out)}); fix them first (or --no-baseline)\n${b.out.slice(-3000)}`);
      process.exit(2);
    }
    console.log(`mutate: baseline green in ${b.seconds.toFixed(0)} s`);
  }
  const results: Result[] = [];
  for (const m of chosen) {
    process.stdout.write(`mutate: ${m.name} ... `);
    const r = applyAndRun(m);
    console.log(`${r.outcome} (${r.seconds.toFixed(0)} s)`);
    results.push(r);
  }
  console.log(`\n${table(results)}\n`);
  const survived = results.filter((r) => r.outcome === 'survived').length;
  const errors = results.filter((r) => r.outcome === 'error').length;
  console.log(`mutate: ${results.length - survived - errors} caught, ${survived} survived, ${errors} error(s)`);
  process.exit(survived + errors > 0 ? 1 : 0);
}

main();
