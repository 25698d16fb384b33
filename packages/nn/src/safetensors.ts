// The safetensors format (https://github.com/huggingface/safetensors), read and written here
// without dependencies:
//
//   bytes 0..8        N, the header length: unsigned 64-bit little-endian
//   bytes 8..8+N      the header: UTF-8 JSON object, padded with spaces (we pad to a multiple of 8)
//                       { "__metadata__": { string: string },               (optional)
//                         "<name>": { "dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end] }, ... }
//   bytes 8+N..       the data: each tensor's values, row-major, little-endian, at
//                     [begin, end) relative to the start of this section; the tensors
//                     cover it contiguously from 0 to its end (no gaps, no overlaps)
//
// Tensor names are pytree paths joined with '.' ({ out_proj: { weight } } -> 'out_proj.weight';
// array entries by index: '0.weight'), so a tree of PyTorch-named params is a PyTorch
// state_dict. We write F32 (F64 for float64 tensors); we read F32, F64, F16 and BF16.
// Every problem is a SafetensorsError with a `code` (listed in SafetensorsErrorCode) and a
// message naming the file and what is wrong.

import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { describeValue, fmtShape, isTensor, treeFlattenWithPath, treeUnflatten, type BackendName, type Tensor } from '@tapegrad/tensor';
import { flattenTensors } from './trees.ts';
import { type Tree } from './util.ts';

export type SafetensorsErrorCode =
  | 'IO' // the file cannot be read or written
  | 'FILE_TOO_SHORT' // fewer than 8 bytes: no header length
  | 'HEADER_TOO_LARGE' // header length above 100,000,000 bytes (the reference implementation's limit)
  | 'HEADER_TRUNCATED' // the file ends inside the header
  | 'HEADER_INVALID' // not UTF-8, not starting with '{', not JSON, or not a JSON object
  | 'METADATA_INVALID' // __metadata__ is not an object of string values
  | 'ENTRY_INVALID' // a tensor entry lacks dtype / shape / data_offsets or has ill-typed ones
  | 'DTYPE_UNSUPPORTED' // a dtype other than F32, F64, F16, BF16
  | 'SIZE_MISMATCH' // end - begin differs from prod(shape) * bytes per element
  | 'DATA_TRUNCATED' // an entry ends beyond the end of the file
  | 'OFFSETS_INVALID' // entries leave a gap, overlap, or do not start at 0
  | 'TRAILING_BYTES' // bytes after the last tensor
  | 'TREE_INVALID' // save: a leaf is not a live tensor, a name is empty, reserved or repeated
  | 'TENSOR_REFUSED' // load: a valid entry the backend cannot hold (e.g. over 2^24 elements on gpu.js)
  | 'MISMATCH'; // load into a template: names or shapes differ (every difference listed)

export class SafetensorsError extends Error {
  constructor(
    readonly code: SafetensorsErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const MAX_HEADER = 100_000_000;
const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

export interface SafetensorsEntry {
  name: string;
  shape: number[];
  /**
   * The values: a Float64Array for F64 (written from, and read back into, float64 tensors of
   * the reference backend), a Float32Array for every other dtype (F16 / BF16 are converted).
   */
  data: Float32Array | Float64Array;
  /** The dtype stored in the file. */
  dtype?: string;
}

export interface ParsedSafetensors {
  tensors: SafetensorsEntry[];
  metadata: Record<string, string>;
}

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function stError(code: SafetensorsErrorCode, op: string, file: string, msg: string): SafetensorsError {
  return new SafetensorsError(code, file, `${op}: ${file}: ${msg}`);
}

// ---------------------------------------------------------------------------------------
// bytes <-> entries

/**
 * Metadata as the loader accepts it: a plain object of string values (not an array, not a
 * class instance), copied to a null-prototype object.
 */
function checkMetadata(op: string, file: string, metadata: unknown): Record<string, string> {
  const proto = metadata !== null && typeof metadata === 'object' ? Object.getPrototypeOf(metadata) : undefined;
  if (Array.isArray(metadata) || (proto !== Object.prototype && proto !== null)) {
    throw stError('METADATA_INVALID', op, file, `metadata is ${describeValue(metadata)}; expected a plain object of string values (safetensors metadata is string -> string)`);
  }
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(metadata as object)) {
    if (typeof v !== 'string') throw stError('METADATA_INVALID', op, file, `metadata '${k}' is ${describeValue(v)}; expected string values (safetensors metadata is string -> string)`);
    out[k] = v;
  }
  return out;
}

/** Serialize entries (F64 for Float64Array data, F32 otherwise) with optional string metadata. */
export function serializeSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}, file = '<bytes>'): Uint8Array {
  const op = 'saveSafetensors';
  const meta = checkMetadata(op, file, metadata ?? {});
  // null prototype: a tensor named '__proto__' is an own key like any other
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(meta).length) header.__metadata__ = meta;
  let offset = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.name === '' || e.name === '__metadata__') throw stError('TREE_INVALID', op, file, `tensor name ${JSON.stringify(e.name)} is reserved or empty; expected a tree of tensors whose paths name them`);
    if (seen.has(e.name)) throw stError('TREE_INVALID', op, file, `two tensors are named '${e.name}' (keys containing '.' collide with nested paths); expected unique names`);
    seen.add(e.name);
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.data.length !== n) throw stError('TREE_INVALID', op, file, `'${e.name}' has ${e.data.length} values for shape ${fmtShape(e.shape)}`);
    const bpe = e.data instanceof Float64Array ? 8 : 4;
    header[e.name] = { dtype: bpe === 8 ? 'F64' : 'F32', shape: e.shape.slice(), data_offsets: [offset, offset + bpe * n] };
    offset += bpe * n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const e of entries) {
    const f64 = e.data instanceof Float64Array;
    if (LE) out.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), pos);
    else if (f64) for (let i = 0; i < e.data.length; i++) dv.setFloat64(pos + 8 * i, e.data[i], true);
    else for (let i = 0; i < e.data.length; i++) dv.setFloat32(pos + 4 * i, e.data[i], true);
    pos += e.data.byteLength;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Parse and validate a safetensors file's bytes; `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<bytes>'): ParsedSafetensors {
  const op = 'loadSafetensors';
  if (bytes.length < 8) throw stError('FILE_TOO_SHORT', op, file, `file is ${bytes.length} bytes; expected at least 8 (the little-endian u64 header length)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) throw stError('HEADER_TOO_LARGE', op, file, `header length ${n64} exceeds the 100000000-byte limit (file is ${bytes.length} bytes); expected a safetensors file`);
  const n = Number(n64);
  if (8 + n > bytes.length) throw stError('HEADER_TRUNCATED', op, file, `header length is ${n} bytes but only ${bytes.length - 8} follow the length field; the file is truncated or not safetensors`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw stError('HEADER_INVALID', op, file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw stError('HEADER_INVALID', op, file, `header starts with ${JSON.stringify(text.slice(0, 16))}; expected a JSON object '{...}'`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw stError('HEADER_INVALID', op, file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw stError('HEADER_INVALID', op, file, 'header is not a JSON object');
  const h = header as Record<string, unknown>;
  const metadata: Record<string, string> = Object.create(null);
  if (h.__metadata__ !== undefined) {
    const m = h.__metadata__;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw stError('METADATA_INVALID', op, file, '__metadata__ is not an object');
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') throw stError('METADATA_INVALID', op, file, `__metadata__['${k}'] is ${JSON.stringify(v)}; expected a string`);
      metadata[k] = v;
    }
  }
  const dataLen = bytes.length - 8 - n;
  const specs: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(h)) {
    if (name === '__metadata__') continue;
    const bad = (what: string) => stError('ENTRY_INVALID', op, file, `tensor '${name}': ${what}; expected {"dtype": string, "shape": [non-negative integers], "data_offsets": [begin, end]}`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('entry is not an object');
    const e = raw as Record<string, unknown>;
    if (typeof e.dtype !== 'string') throw bad(`dtype is ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`shape is ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
      throw bad(`data_offsets is ${JSON.stringify(off)}`);
    }
    const bpe = DTYPE_BYTES[e.dtype];
    if (!bpe) throw stError('DTYPE_UNSUPPORTED', op, file, `tensor '${name}' has dtype ${e.dtype}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== count * bpe) {
      throw stError('SIZE_MISMATCH', op, file, `tensor '${name}' (${e.dtype} ${fmtShape(e.shape as number[])}) spans data_offsets [${off[0]}, ${off[1]}] = ${off[1] - off[0]} bytes; expected ${count * bpe}`);
    }
    if (off[1] > dataLen) {
      throw stError('DATA_TRUNCATED', op, file, `tensor '${name}' ends at byte ${off[1]} of the data section but the file has only ${dataLen} data bytes (file ${bytes.length} bytes, header ${n}); the file is truncated`);
    }
    specs.push({ name, dtype: e.dtype, shape: e.shape as number[], begin: off[0], end: off[1] });
  }
  const sorted = specs.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const s of sorted) {
    if (s.begin !== pos) {
      throw stError('OFFSETS_INVALID', op, file, `tensor '${s.name}' starts at data byte ${s.begin} but the previous tensor ends at ${pos}; expected tensors to cover the data section contiguously (${s.begin > pos ? 'gap' : 'overlap'})`);
    }
    pos = s.end;
  }
  if (pos !== dataLen) throw stError('TRAILING_BYTES', op, file, `the tensors end at data byte ${pos} but the data section has ${dataLen} bytes`);
  const base = 8 + n;
  const tensors = specs.map((s): SafetensorsEntry => {
    const count = s.shape.reduce((a, b) => a * b, 1);
    const at = bytes.byteOffset + base + s.begin;
    let data: Float32Array | Float64Array;
    if (s.dtype === 'F32' && LE) {
      data = new Float32Array(bytes.buffer.slice(at, at + 4 * count));
    } else if (s.dtype === 'F64') {
      data = LE ? new Float64Array(bytes.buffer.slice(at, at + 8 * count)) : Float64Array.from({ length: count }, (_, i) => dv.getFloat64(base + s.begin + 8 * i, true));
    } else {
      data = new Float32Array(count);
      const o = base + s.begin;
      // BF16 is the top half of a float32: write the bits through an integer view of data
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) {
        if (s.dtype === 'F32') data[i] = dv.getFloat32(o + 4 * i, true);
        else if (s.dtype === 'F64') data[i] = dv.getFloat64(o + 8 * i, true);
        else if (s.dtype === 'F16') data[i] = halfToFloat(dv.getUint16(o + 2 * i, true));
        else bits[i] = dv.getUint16(o + 2 * i, true) << 16;
      }
    }
    return { name: s.name, shape: s.shape.slice(), data, dtype: s.dtype };
  });
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------
// files

/** Read every tensor of a tree back to the host as named float32 entries (paths joined with '.'). */
export async function treeToEntries(tree: Tree, file = '<tree>'): Promise<SafetensorsEntry[]> {
  const op = 'saveSafetensors';
  if (isTensor(tree)) throw stError('TREE_INVALID', op, file, 'got a bare tensor; expected a tree (object or array) of tensors so that each has a name');
  const named = treeFlattenWithPath(tree);
  const out: SafetensorsEntry[] = [];
  for (const [name, t] of named) {
    if (!isTensor(t)) throw stError('TREE_INVALID', op, file, `leaf '${name}' is ${t === null ? 'null' : typeof t}; expected a Tensor (store numbers in metadata)`);
    if (t.isDisposed) throw stError('TREE_INVALID', op, file, `leaf '${name}' (shape ${fmtShape(t.shape)}) was already disposed`);
    const d = await t.data();
    // float64 tensors (reference backend) are written as F64, so a checkpoint round-trips exactly
    out.push({ name, shape: t.shape.slice(), data: d instanceof Float64Array ? d : d instanceof Float32Array ? d : Float32Array.from(d) });
  }
  return out;
}

/**
 * Write a tree of tensors as a safetensors file, atomically: the bytes go to a temporary
 * file in the same directory, are flushed to disk, and the temporary file is renamed over
 * `path`. On any failure `path` is untouched and the temporary file removed. float32
 * tensors are written as F32, float64 tensors (the reference backend) as F64.
 */
export async function saveSafetensors(path: string, tree: Tree, metadata: Record<string, string> = {}): Promise<void> {
  checkMetadata('saveSafetensors', path, metadata ?? {}); // before reading any tensor back
  const bytes = serializeSafetensors(await treeToEntries(tree, path), metadata, path);
  await removeStaleTemporaries(path);
  try {
    await writeFileAtomic(path, bytes);
  } catch (e) {
    throw new SafetensorsError('IO', path, `saveSafetensors: ${path}: cannot write (${(e as Error).message})`);
  }
}

/**
 * Write `data` to `path` atomically: into a temporary file beside it (`.<name>.tmp-<pid>-<hex>`),
 * flushed to disk, then renamed over `path`, then the directory flushed (best effort). On any
 * failure `path` is untouched, the temporary file is removed and the error is rethrown. The
 * one atomic write of the repository (safetensors, checkpoints' JSON, diffusers folders).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let written = false;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    written = true;
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw written ? new Error(`${(e as Error).message} (during the final rename)`) : e;
  }
  try {
    const dh = await open(dirname(path), 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // directory fsync is best effort (not supported everywhere)
  }
}

/**
 * Remove the temporary files a killed save of `path` left behind: `.<name>.tmp-<pid>-<hex>`
 * in the same directory whose process no longer runs. A live process's temporary file (a
 * save in progress elsewhere) is left alone. Best effort: a failure here never fails a save.
 */
async function removeStaleTemporaries(path: string): Promise<void> {
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]{12}$/.exec(name.slice(prefix.length));
    if (!m || processRuns(Number(m[1]))) continue;
    await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SafetensorsError('IO', path, `loadSafetensors: ${path}: cannot read (${(e as Error).message})`);
  }
}

export interface LoadedSafetensors {
  /** Tensors by name (new; the caller owns and disposes them). */
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  /** dtype of each tensor as stored in the file. */
  dtypes: Record<string, string>;
}

/** Read a safetensors file: every tensor by name, on the current backend, and the metadata. */
export async function loadSafetensors(path: string): Promise<LoadedSafetensors> {
  const parsed = parseSafetensors(await readBytes(path), path);
  // null prototypes: a tensor named '__proto__' is an own key, never the object's prototype
  const tensors: Record<string, Tensor> = Object.create(null);
  const dtypes: Record<string, string> = Object.create(null);
  const made = createAll(parsed.tensors, () => undefined, path);
  parsed.tensors.forEach((e, i) => {
    tensors[e.name] = made[i];
    dtypes[e.name] = e.dtype ?? 'F32';
  });
  return { tensors, metadata: parsed.metadata, dtypes };
}

/**
 * Create one tensor per entry (on the backend `backendOf(i)` names, or the current one);
 * if the backend refuses one (too large for it), dispose those already made and throw a
 * SafetensorsError naming the file and the tensor: all or nothing.
 */
function createAll(entries: readonly SafetensorsEntry[], backendOf: (i: number) => BackendName | undefined, file: string): Tensor[] {
  const made: Tensor[] = [];
  try {
    entries.forEach((e, i) => {
      const b = backendOf(i);
      made.push(b ? T.useBackend(b, () => T.tensor(e.data, e.shape)) : T.tensor(e.data, e.shape));
    });
  } catch (err) {
    T.dispose(made);
    const e = entries[made.length];
    throw stError('TENSOR_REFUSED', 'loadSafetensors', file, `tensor '${e.name}' (${e.dtype ?? 'F32'} ${fmtShape(e.shape)}, ${e.data.length} elements) cannot be created on the backend (${(err as Error).message}); nothing was loaded`);
  }
  return made;
}

export interface LoadIntoOptions {
  /** Ignore tensors in the file that the template does not have. Default false. */
  allowUnexpected?: boolean;
}

/**
 * Build a tree with the structure of `template` from named entries: every name the template
 * has must be present with the same shape, and (unless allowUnexpected) no other. The error
 * lists every missing name, unexpected name and shape mismatch. New tensors are created on
 * the backend of the template's corresponding leaf; the template is left alone.
 */
export function entriesToTree<P extends Tree>(entries: readonly SafetensorsEntry[], template: P, opts: LoadIntoOptions = {}, file = '<bytes>'): P {
  const op = 'loadSafetensors';
  const tpl = flattenTensors(op, 'template', template);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const problems: string[] = [];
  tpl.paths.forEach((p, i) => {
    const e = byName.get(p);
    const want = tpl.leaves[i].shape;
    if (!e) problems.push(`missing '${p}' ${fmtShape(want)}`);
    else if (e.shape.join() !== want.join()) problems.push(`shape of '${p}' is ${fmtShape(e.shape)} in the file, ${fmtShape(want)} in the template`);
  });
  if (!opts.allowUnexpected) {
    const names = new Set(tpl.paths);
    for (const e of entries) if (!names.has(e.name)) problems.push(`unexpected '${e.name}' ${fmtShape(e.shape)}`);
  }
  if (problems.length) {
    throw stError('MISMATCH', op, file, `does not match the params tree (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.join('; ')}`);
  }
  const chosen = tpl.paths.map((p) => byName.get(p)!);
  const leaves = createAll(chosen, (i) => tpl.leaves[i].backend, file);
  return treeUnflatten<P>(tpl.def, leaves);
}

/** Load a safetensors file into the structure of `template` (see entriesToTree). */
export async function loadSafetensorsInto<P extends Tree>(path: string, template: P, opts: LoadIntoOptions = {}): Promise<{ params: P; metadata: Record<string, string> }> {
  const parsed = parseSafetensors(await readBytes(path), path);
  return { params: entriesToTree(parsed.tensors, template, opts, path), metadata: parsed.metadata };
}
