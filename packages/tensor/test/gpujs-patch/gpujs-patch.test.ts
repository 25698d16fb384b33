// The patched gpu.js code generator (patches/gpu.js+2.24.1.patch) must give bit-identical
// results to the pristine one: both copies are loaded in this process and every kernel of
// the catalogue runs on both, in webasm mode, compared bit for bit (NaN payloads included).

import { describe, expect, it } from 'vitest';
import { loadTwins } from './twins.ts';
import { CASES, type Case } from './catalogue.ts';
import { gpujsPatchStatus } from '../../src/backends/gpujs-patch.ts';

const twins = loadTwins();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function build(lib: any, c: Case) {
  const gpu = new lib.GPU({ mode: 'webasm' });
  for (const f of c.functions ?? []) gpu.addFunction(new Function(`return ${f}`)());
  const source = new Function(`return ${c.source}`)();
  const k = gpu.createKernel(source, {
    output: c.output,
    ...(c.argumentTypes ? { argumentTypes: c.argumentTypes } : {}),
    ...(c.constants ? { constants: c.constants } : {}),
    ...(c.dynamic ? { dynamicOutput: true, dynamicArguments: true } : {}),
    loopMaxIterations: 1 << 20,
    precision: 'single',
  });
  return { gpu, k };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run(lib: any, c: Case): { out: Float32Array; bytes: Uint8Array; mode: string; error: string | null } {
  const { gpu, k } = build(lib, c);
  try {
    let res: unknown;
    try {
      res = k(...c.args(lib));
    } catch (e) {
      // a scalar-path read outside the array traps in wasm (gpu.js clamps only SIMD gathers)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const entry: any = [...k.kernel._moduleCache.values()][0];
      return { out: new Float32Array(0), bytes: entry?.bytes ?? new Uint8Array(0), mode: k.kernel.constructor.mode, error: String(e) };
    }
    const flat = (r: unknown): number[] => (r instanceof Float32Array ? Array.from(r) : (r as unknown[]).flatMap(flat));
    const out = new Float32Array(flat(res));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const entry: any = [...k.kernel._moduleCache.values()][0];
    return { out, bytes: entry.bytes, mode: k.kernel.constructor.mode, error: null };
  } finally {
    k.destroy?.();
    gpu.destroy?.();
  }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe('gpu.js code-generator patch', () => {
  it('is what Node runs for tapegrad (run `npm run setup` if this fails)', () => {
    expect(twins.installedMatchesPatch).toBe(true);
    expect(twins.installedPatched, 'node_modules/gpu.js is not patched: run `npm run setup`').toBe(true);
    expect(gpujsPatchStatus().applied).toBe(true);
  });

  it(`catalogue has >= 140 kernels (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(140);
  });

  let changed = 0;
  let v128Loads = 0;
  let trapped = 0;
  it.each(CASES.map((c) => [c.name, c] as const))('%s: bit-identical', (_name, c) => {
    const a = run(twins.pristine, c);
    const b = run(twins.patched, c);
    expect(a.mode).toBe('webasm');
    expect(b.mode).toBe('webasm');
    expect(b.error).toBe(a.error);
    if (a.error) trapped++;
    expect(b.out.length).toBe(a.out.length);
    const ua = new Uint32Array(a.out.buffer);
    const ub = new Uint32Array(b.out.buffer);
    for (let i = 0; i < ua.length; i++) {
      if (ua[i] !== ub[i]) {
        throw new Error(`${c.name}: element ${i} differs: pristine ${a.out[i]} (0x${ua[i].toString(16)}) vs patched ${b.out[i]} (0x${ub[i].toString(16)})`);
      }
    }
    if (!same(a.bytes, b.bytes)) changed++;
    // v128.load is 0xfd 0x00; count modules where the patched one has more of them
    const count = (u: Uint8Array) => { let n = 0; for (let i = 0; i + 1 < u.length; i++) if (u[i] === 0xfd && u[i + 1] === 0x00) n++; return n; };
    if (count(b.bytes) > count(a.bytes)) v128Loads++;
  });

  it('the patch changed the generated code of most kernels', () => {
    console.log(`gpujs-patch: ${changed}/${CASES.length} modules differ from pristine, ${v128Loads} gained v128.load reads, ${trapped} trapped identically on both (scalar-path out-of-bounds reads)`);
    expect(trapped).toBeLessThan(CASES.length / 10);
    expect(changed).toBeGreaterThan(CASES.length / 2);
    expect(v128Loads).toBeGreaterThan(40);
  });
});
