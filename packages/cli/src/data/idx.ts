// A small reader for the IDX format of the MNIST files (LeCun et al.): a 4-byte magic
// 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dimensions, then the values row-major.
// Only unsigned bytes (type 0x08) are read; everything else is a clear error.

export interface Idx {
  dims: number[];
  data: Uint8Array;
}

/** Parse IDX bytes; `file` names the source in errors. The data is a view into `bytes`. */
export function parseIdx(bytes: Uint8Array, file = '<bytes>'): Idx {
  const op = 'readIdx';
  if (bytes.byteLength < 4) throw new Error(`${op}: '${file}' is ${bytes.byteLength} bytes, shorter than the 4-byte IDX magic; expected an IDX file`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`${op}: '${file}' does not start with an IDX magic (first bytes ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}); expected 00 00 08 <rank>`);
  }
  const type = bytes[2]!;
  const rank = bytes[3]!;
  if (type !== 0x08) throw new Error(`${op}: '${file}' holds IDX type 0x${type.toString(16).padStart(2, '0')}; only unsigned bytes (0x08) are supported`);
  if (rank < 1) throw new Error(`${op}: '${file}' has rank 0; expected at least one dimension`);
  const header = 4 + 4 * rank;
  if (bytes.byteLength < header) throw new Error(`${op}: '${file}' is truncated: ${bytes.byteLength} bytes, the header of a rank-${rank} IDX file needs ${header}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const need = header + count;
  if (bytes.byteLength < need) {
    throw new Error(`${op}: '${file}' is truncated: dims [${dims.join(',')}] need ${need} bytes, the file has ${bytes.byteLength}`);
  }
  if (bytes.byteLength > need) {
    throw new Error(`${op}: '${file}' has ${bytes.byteLength - need} bytes after the data of dims [${dims.join(',')}]; expected exactly ${need} bytes`);
  }
  return { dims, data: bytes.subarray(header, need) };
}

/** Serialize bytes as IDX (type 0x08): for tests and fixtures. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeIdx: dims [${dims.join(',')}] hold ${count} values, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
