// safetensors: bit-exact round trips of random trees (property), a file written by hand byte
// by byte from the format spec, a file written by the Python `safetensors` library (0.8.0,
// numpy API) embedded as hex, rejection of corrupt / truncated files with the documented
// error codes, template loading that reports every mismatch, and atomic writes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import * as nn from '../src/index.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

// start the backend chosen by TAPEGRAD_BACKEND (webgpu needs an asynchronous start-up)
beforeAll(async () => {
  await T.ready();
});

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-nn-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
/** A safetensors file written by hand: the 8-byte header length, the header JSON, the data bytes. */
const withHeader = (json: string, data: ArrayLike<number> = []) => {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};

/** Host description of a random tree: nested objects / arrays of float32 arrays with shapes. */
type HostLeaf = { shape: number[]; values: number[] };
type HostTree = HostLeaf | HostTree[] | { [k: string]: HostTree };
const isLeaf = (h: HostTree): h is HostLeaf => !Array.isArray(h) && 'shape' in h && 'values' in h;

const leafArb: fc.Arbitrary<HostLeaf> = fc
  .array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })
  .chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // every float32 value except NaN: -0, +-Infinity, subnormals, extremes
    return fc.array(fc.float({ noNaN: true }), { minLength: n, maxLength: n }).map((values) => ({ shape, values }));
  });
const treeArb: fc.Arbitrary<HostTree> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
    fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,5}$/), tie('node'), { minKeys: 1, maxKeys: 3 }),
  ),
})).node as fc.Arbitrary<HostTree>;

function build(h: HostTree): unknown {
  if (isLeaf(h)) return T.tensor(Float32Array.from(h.values), h.shape);
  if (Array.isArray(h)) return h.map(build);
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, build(v)]));
}

async function expectTreesBitEqual(a: unknown, b: unknown): Promise<void> {
  const fa = T.treeFlattenWithPath(a);
  const fb = T.treeFlattenWithPath(b);
  expect(fb.map(([p]) => p)).toEqual(fa.map(([p]) => p));
  for (let i = 0; i < fa.length; i++) {
    const [ta, tb] = [fa[i][1] as Tensor, fb[i][1] as Tensor];
    expect(tb.shape).toEqual(ta.shape);
    expect(bits(await tb.data())).toEqual(bits(await ta.data()));
  }
}

describe('round trip', () => {
  it('random trees round-trip bit-exactly through a file (property)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(treeArb, { minLength: 1, maxLength: 3 }), fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,4}$/), treeArb, { minKeys: 1, maxKeys: 3 })), async (h) => {
        const tree = build(h);
        const file = join(dir, `rt-${n++}.safetensors`);
        try {
          await nn.saveSafetensors(file, tree, { note: 'round trip', n: String(n) });
          const back = await nn.loadSafetensorsInto(file, tree);
          await expectTreesBitEqual(tree, back.params);
          expect(back.metadata).toEqual({ note: 'round trip', n: String(n) });
          const flat = await nn.loadSafetensors(file);
          expect(Object.keys(flat.tensors).sort()).toEqual(nn.describeTree(tree).map((d) => d.name).sort());
          T.dispose([back.params, flat.tensors]);
        } finally {
          T.dispose(tree);
        }
      }),
      { numRuns: fcRuns(30), seed: 1 },
    );
  });

  it('layout: names are pytree paths joined with ".", F32 little-endian, header padded to 8 bytes, offsets contiguous', async () => {
    const k = T.randomKey(0);
    // float32 tensors (webasm) are written as F32, also when the suite runs on reference
    const tree = T.useBackend('webasm', () => ({ attn: nn.multiHeadSelfAttention.init(k, { dim: 2, heads: 1 }), seq: nn.sequential(nn.linear.module({ inFeatures: 2, outFeatures: 1 }), nn.relu).init(k) }));
    const file = join(dir, 'layout.safetensors');
    await nn.saveSafetensors(file, tree);
    const bytes = new Uint8Array(await readFile(file));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(Object.keys(header)).toEqual(['attn.in_proj_bias', 'attn.in_proj_weight', 'attn.out_proj.bias', 'attn.out_proj.weight', 'seq.0.bias', 'seq.0.weight']);
    expect(header['attn.in_proj_weight']).toEqual({ dtype: 'F32', shape: [6, 2], data_offsets: [24, 72] });
    expect(header['seq.0.weight']).toEqual({ dtype: 'F32', shape: [1, 2], data_offsets: [100, 108] });
    expect(bytes.length).toBe(8 + n + 108);
    const w = new Float32Array(bytes.slice(8 + n + 100, 8 + n + 108).buffer);
    expect(bits(w)).toEqual(bits(await tree.seq[0].weight.data()));
    T.dispose(tree);
  });
});

describe('reading files written elsewhere', () => {
  it('loads a file written by hand, byte by byte, from the format spec', async () => {
    // 135 bytes of JSON + 9 spaces of padding = 144 = 0x90
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"},"m":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}         ';
    const hb = Array.from(header, (c) => c.charCodeAt(0));
    expect(hb.length).toBe(144);
    const bytes = Uint8Array.from([
      0x90, 0, 0, 0, 0, 0, 0, 0, // header length, u64 little-endian
      ...hb,
      0x00, 0x00, 0x80, 0x3f, // a[0] = 1.0f
      0x00, 0x00, 0x00, 0xc0, // a[1] = -2.0f
      0x00, 0x00, 0xc0, 0x7f, // m[0][0] = NaN (quiet)
    ]);
    const file = join(dir, 'hand.safetensors');
    await writeFile(file, bytes);
    const r = await nn.loadSafetensors(file);
    expect(r.metadata).toEqual({ k: 'v' });
    expect(r.tensors.a.shape).toEqual([2]);
    expect(Array.from(await r.tensors.a.data())).toEqual([1, -2]);
    expect(r.tensors.m.shape).toEqual([1, 1]);
    expect(Number.isNaN((await r.tensors.m.data())[0])).toBe(true);
    const tpl = { a: T.zeros([2]), m: T.zeros([1, 1]) };
    const into = await nn.loadSafetensorsInto(file, tpl);
    expect(Array.from(await into.params.a.data())).toEqual([1, -2]);
    T.dispose([r.tensors, tpl, into.params]);
  });

  it('loads a file written by Python safetensors 0.8.0 (F64, F32, F16 entries, metadata)', async () => {
    // save_file({'w': arange(6, f32).reshape(2,3), 'b': [1.5,-2] f32, 'h': [1.5,-0.25,65504] f16,
    //            'd': [[1e-300, 3.0]] f64}, metadata={'format': 'np'})
    const hex =
      '00010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a226e70227d2c2264223a7b226474797065223a22463634222c227368617065223a5b312c325d2c22646174615f6f666673657473223a5b302c31365d7d2c2262223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b31362c32345d7d2c2277223a7b226474797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b32342c34385d7d2c2268223a7b226474797065223a22463136222c227368617065223a5b335d2c22646174615f6f666673657473223a5b34382c35345d7d7d2059f3f8c21f6ea50100000000000008400000c03f000000c0000000000000803f0000004000004040000080400000a040003e00b4ff7b';
    const parsed = nn.parseSafetensors(Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16))), 'python.safetensors');
    expect(parsed.metadata).toEqual({ format: 'np' });
    const by = Object.fromEntries(parsed.tensors.map((t) => [t.name, t]));
    expect(by.w).toMatchObject({ dtype: 'F32', shape: [2, 3] });
    expect(Array.from(by.w.data)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(by.b.data)).toEqual([1.5, -2]);
    expect(by.h.dtype).toBe('F16');
    expect(Array.from(by.h.data)).toEqual([1.5, -0.25, 65504]);
    expect(by.d.dtype).toBe('F64');
    expect(by.d.data).toBeInstanceOf(Float64Array);
    expect(Array.from(by.d.data)).toEqual([1e-300, 3]); // F64 is read exactly
  });

  it('float64 tensors (reference backend) are written as F64 and read back bit for bit', async () => {
    const x = T.useBackend('reference', () => T.tensor([[1e-300, Math.PI, -1 / 3]]));
    const file = join(dir, 'f64.safetensors');
    await nn.saveSafetensors(file, { x });
    const parsed = nn.parseSafetensors(new Uint8Array(await readFile(file)), file);
    expect(parsed.tensors[0]).toMatchObject({ name: 'x', dtype: 'F64', shape: [1, 3] });
    expect(Array.from(parsed.tensors[0].data)).toEqual([1e-300, Math.PI, -1 / 3]);
    const back = T.useBackend('reference', () => T.tensor(parsed.tensors[0].data, [1, 3]));
    expect(Array.from(await back.data())).toEqual([1e-300, Math.PI, -1 / 3]);
    T.dispose([x, back]);
  });
  it('converts BF16 and F16 (including subnormals and infinities) to float32', () => {
    const json = '{"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"h":{"dtype":"F16","shape":[3],"data_offsets":[6,12]}}';
    const hb = Array.from(json, (c) => c.charCodeAt(0));
    const bytes = Uint8Array.from([
      hb.length, 0, 0, 0, 0, 0, 0, 0, ...hb,
      0x80, 0x3f, 0x00, 0xc0, 0x80, 0xff, // BF16: 1, -2, -Infinity
      0x01, 0x00, 0x00, 0x7c, 0x00, 0x80, // F16: 2^-24 (smallest subnormal), +Infinity, -0
    ]);
    const { tensors } = nn.parseSafetensors(bytes, 'half.safetensors');
    expect(Array.from(tensors[0].data)).toEqual([1, -2, -Infinity]);
    expect(Array.from(tensors[1].data)).toEqual([2 ** -24, Infinity, -0]);
    expect(Object.is(tensors[1].data[2], -0)).toBe(true);
  });
});

describe('corrupt and truncated files are rejected with the documented errors', () => {
  const good = () =>
    nn.serializeSafetensors([
      { name: 'x', shape: [2], data: Float32Array.of(1, 2) },
      { name: 'y', shape: [1], data: Float32Array.of(3) },
    ]);
  const cases: [string, () => Uint8Array, nn.SafetensorsErrorCode, RegExp][] = [
    ['empty file', () => new Uint8Array(0), 'FILE_TOO_SHORT', /file is 0 bytes; expected at least 8/],
    ['5 bytes', () => good().slice(0, 5), 'FILE_TOO_SHORT', /file is 5 bytes/],
    ['huge header length', () => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 123), 'HEADER_TOO_LARGE', /header length 72057594037927936 exceeds the 100000000-byte limit/],
    ['truncated inside the header', () => good().slice(0, 20), 'HEADER_TRUNCATED', /header length is \d+ bytes but only 12 follow/],
    ['header not JSON', () => withHeader('{"x": [1,'), 'HEADER_INVALID', /header is not valid JSON/],
    ['header not an object', () => withHeader('[1, 2]'), 'HEADER_INVALID', /header starts with "\[1, 2\]"; expected a JSON object/],
    ['header not UTF-8', () => { const b = withHeader('{"a":1}'); b[10] = 0xff; return b; }, 'HEADER_INVALID', /not valid UTF-8/],
    ['metadata not strings', () => withHeader('{"__metadata__":{"a":1}}'), 'METADATA_INVALID', /__metadata__\['a'\] is 1; expected a string/],
    ['entry without shape', () => withHeader('{"x":{"dtype":"F32","data_offsets":[0,4]}}', [0, 0, 0, 0]), 'ENTRY_INVALID', /tensor 'x': shape is undefined/],
    ['negative offsets', () => withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}'), 'ENTRY_INVALID', /data_offsets is \[-4,0\]/],
    ['unsupported dtype', () => withHeader('{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', new Array(8).fill(0)), 'DTYPE_UNSUPPORTED', /tensor 'x' has dtype I64; expected one of F32, F64, F16, BF16/],
    ['size mismatch', () => withHeader('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Array(8).fill(0)), 'SIZE_MISMATCH', /spans data_offsets \[0, 8\] = 8 bytes; expected 12/],
    ['truncated data', () => good().slice(0, good().length - 2), 'DATA_TRUNCATED', /tensor 'y' ends at byte 12 of the data section but the file has only 10 data bytes/],
    ['gap between tensors', () => withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), 'OFFSETS_INVALID', /starts at data byte 4 but the previous tensor ends at 0.*\(gap\)/],
    ['overlapping tensors', () => withHeader('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0)), 'OFFSETS_INVALID', /overlap/],
    ['trailing bytes', () => withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Array(6).fill(0)), 'TRAILING_BYTES', /the tensors end at data byte 4 but the data section has 6 bytes/],
  ];
  for (const [name, make, code, re] of cases) {
    it(`${name} -> ${code}`, async () => {
      const file = join(dir, `bad-${name.replace(/\W+/g, '_')}.safetensors`);
      await writeFile(file, make());
      const err = await nn.loadSafetensors(file).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(nn.SafetensorsError);
      const e = err as nn.SafetensorsError;
      expect(e.code).toBe(code);
      expect(e.file).toBe(file);
      expect(e.message.startsWith(`loadSafetensors: ${file}: `)).toBe(true);
      expect(e.message).toMatch(re);
    });
  }

  it('a missing file is an IO error naming it', async () => {
    const file = join(dir, 'nope.safetensors');
    await expect(nn.loadSafetensors(file)).rejects.toMatchObject({ code: 'IO', file, message: expect.stringMatching(/^loadSafetensors: .*nope.safetensors: cannot read \(ENOENT/) });
  });
});

describe('loading into a params tree', () => {
  it('reports every missing name, unexpected name and shape mismatch', async () => {
    const file = join(dir, 'mismatch.safetensors');
    const saved = { layer: { weight: T.zeros([2, 3]), bias: T.zeros([2]) }, norm: { weight: T.zeros([4]) }, old: T.zeros([1]) };
    await nn.saveSafetensors(file, saved);
    const tpl = { layer: { weight: T.zeros([3, 2]), bias: T.zeros([2]) }, norm: { weight: T.zeros([4]), bias: T.zeros([4]) } };
    const err = (await nn.loadSafetensorsInto(file, tpl).then(() => null, (e: unknown) => e)) as nn.SafetensorsError;
    expect(err.code).toBe('MISMATCH');
    expect(err.message).toContain(`loadSafetensors: ${file}: does not match the params tree (3 problems)`);
    expect(err.message).toContain("shape of 'layer.weight' is [2,3] in the file, [3,2] in the template");
    expect(err.message).toContain("missing 'norm.bias' [4]");
    expect(err.message).toContain("unexpected 'old' [1]");
    const before = T.memory().tensors;
    const tpl2 = { layer: { weight: T.zeros([2, 3]), bias: T.zeros([2]) } };
    await expect(nn.loadSafetensorsInto(file, tpl2)).rejects.toThrow(/2 problems.*unexpected 'norm.weight' \[4\]; unexpected 'old' \[1\]/);
    const ok = await nn.loadSafetensorsInto(file, tpl2, { allowUnexpected: true });
    expect(ok.params.layer.weight.shape).toEqual([2, 3]);
    expect(T.memory().tensors).toBe(before + 4);
    T.dispose([saved, tpl, tpl2, ok.params]);
  });
});

describe('writing', () => {
  it('is atomic: a failed save leaves the previous file intact and no temporary file behind', async () => {
    const file = join(dir, 'atomic.safetensors');
    const a = { w: T.tensor([1, 2, 3]) };
    await nn.saveSafetensors(file, a);
    const first = await readFile(file);
    const bad = { w: T.tensor([9]), n: 3 };
    await expect(nn.saveSafetensors(file, bad)).rejects.toMatchObject({ code: 'TREE_INVALID', message: expect.stringContaining("leaf 'n' is number; expected a Tensor") });
    const disposed = T.tensor([1]);
    disposed.dispose();
    await expect(nn.saveSafetensors(file, { d: disposed })).rejects.toMatchObject({ code: 'TREE_INVALID', message: expect.stringContaining("leaf 'd' (shape [1]) was already disposed") });
    await expect(nn.saveSafetensors(file, a.w)).rejects.toMatchObject({ code: 'TREE_INVALID', message: expect.stringContaining('bare tensor') });
    await expect(nn.saveSafetensors(file, { 'a.b': a.w, a: { b: a.w } })).rejects.toMatchObject({ code: 'TREE_INVALID', message: expect.stringContaining("two tensors are named 'a.b'") });
    await expect(nn.saveSafetensors(file, a, { step: 3 } as never)).rejects.toMatchObject({ code: 'METADATA_INVALID' });
    await expect(nn.saveSafetensors(join(dir, 'no', 'such', 'dir.safetensors'), a)).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/cannot write/) });
    expect(Buffer.compare(await readFile(file), first)).toBe(0);
    const b = { w: T.tensor([4, 5, 6]) };
    await nn.saveSafetensors(file, b);
    const r = await nn.loadSafetensors(file);
    expect(Array.from(await r.tensors.w.data())).toEqual([4, 5, 6]);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    T.dispose([a, bad, b, r.tensors]);
  });

  it('reference-backend (float64) tensors are written rounded to float32', async () => {
    const file = join(dir, 'f64.safetensors');
    const t = T.useBackend('reference', () => ({ x: T.tensor([0.1, 1 / 3]) }));
    await nn.saveSafetensors(file, t);
    const r = await nn.loadSafetensors(file);
    expect(bits(await r.tensors.x.data())).toEqual(bits([Math.fround(0.1), Math.fround(1 / 3)]));
    T.dispose([t, r.tensors]);
  });
});

describe('issue 8 §5: names, refused tensors, metadata on write, stale temporary files', () => {
  it("a tensor named '__proto__' is an own key of the result, never its prototype, and nothing leaks", async () => {
    const file = join(dir, 'proto.safetensors');
    const data = new Uint8Array(Float32Array.of(7, 8).buffer);
    await writeFile(file, withHeader('{"__metadata__":{"__proto__":"m"},"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data));
    const before = T.memory();
    const r = await nn.loadSafetensors(file);
    expect(Object.keys(r.tensors).sort()).toEqual(['__proto__', 'x']);
    expect(Object.getPrototypeOf(r.tensors)).toBe(null);
    expect(Array.from(await r.tensors['__proto__'].data())).toEqual([7]);
    expect(r.dtypes['__proto__']).toBe('F32');
    expect(Object.keys(r.metadata)).toEqual(['__proto__']);
    expect(r.metadata['__proto__']).toBe('m');
    T.dispose(r.tensors);
    expect(T.memory()).toEqual(before);
    // and a tree with an own '__proto__' key is written under that name and read back
    const tree = JSON.parse('{"__proto__": 0, "y": 0}') as Record<string, unknown>;
    tree['__proto__'] = undefined; // JSON.parse made it an own data property
    Object.defineProperty(tree, '__proto__', { value: T.tensor([1, 2]), enumerable: true });
    tree.y = T.tensor([3]);
    const file2 = join(dir, 'proto2.safetensors');
    await nn.saveSafetensors(file2, tree);
    const back = await nn.loadSafetensors(file2);
    expect(Object.keys(back.tensors).sort()).toEqual(['__proto__', 'y']);
    expect(Array.from(await back.tensors['__proto__'].data())).toEqual([1, 2]);
    T.dispose([tree, back.tensors]);
  });

  it('a valid file whose later tensor the backend refuses (over 2^24 elements) is a SafetensorsError with code and file; nothing leaks', async () => {
    const prev = T.getBackend();
    await T.setBackend('webasm'); // a gpu.js backend refuses tensors over 2^24 elements
    try {
      const big = 2 ** 24 + 1; // F32 zeros: 64 MiB on disk, read as one slice
      const data = new Uint8Array(8 + 4 * big);
      data.set(new Uint8Array(Float32Array.of(1, 2).buffer), 0);
      const file = join(dir, 'too-big.safetensors');
      await writeFile(file, withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[${big}],"data_offsets":[8,${8 + 4 * big}]}}`, data));
      const before = T.memory();
      const err = await nn.loadSafetensors(file).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(nn.SafetensorsError);
      expect(err).toMatchObject({ code: 'TENSOR_REFUSED', file });
      expect((err as Error).message).toMatch(new RegExp(`^loadSafetensors: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tensor 'b' \\(F32 \\[16777217\\], 16777217 elements\\) cannot be created on the backend \\(.*2\\^24.*\\); nothing was loaded`));
      expect(T.memory()).toEqual(before);
    } finally {
      await T.setBackend(prev);
    }
  });

  it('saveSafetensors refuses on write the metadata its loader rejects (arrays, strings, class instances, non-string values)', async () => {
    const file = join(dir, 'meta.safetensors');
    const a = { w: T.tensor([1]) };
    try {
      for (const m of [['x', 'y'], 'abc', new Map([['k', 'v']]), { k: 1 }, { k: null }]) {
        await expect(nn.saveSafetensors(file, a, m as never)).rejects.toMatchObject({ code: 'METADATA_INVALID', file, message: expect.stringMatching(/^saveSafetensors: .*meta\.safetensors: metadata .*expected (a plain object of )?string values/) });
        expect(() => nn.serializeSafetensors([], m as never)).toThrow(/METADATA|metadata/);
      }
      await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
      // what it accepts, its loader accepts
      await nn.saveSafetensors(file, a, { step: '3' });
      const r = await nn.loadSafetensors(file);
      expect({ ...r.metadata }).toEqual({ step: '3' });
      T.dispose(r.tensors);
    } finally {
      T.dispose(a);
    }
  });

  it('the temporary file a killed save left behind is removed by the next save of that path (a live process\'s is kept)', async () => {
    const file = join(dir, 'stale.safetensors');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // has exited: its pid names no process
    const stale = `.stale.safetensors.tmp-${dead}-0123456789ab`;
    const live = `.stale.safetensors.tmp-${process.ppid}-abcdef012345`;
    const other = `.other.safetensors.tmp-${dead}-0123456789ab`;
    for (const n of [stale, live, other]) await writeFile(join(dir, n), 'partial');
    const a = { w: T.tensor([1, 2]) };
    try {
      await nn.saveSafetensors(file, a);
      const names = await readdir(dir);
      expect(names).not.toContain(stale);
      expect(names).toContain(live);
      expect(names).toContain(other);
    } finally {
      T.dispose(a);
      for (const n of [live, other]) await rm(join(dir, n), { force: true });
    }
  });
});
