// The float64 reference backend: every op written the obvious way, as loops over ndarray
// views (transpose, broadcast with stride 0, slice with lo/hi/step), straight from its
// definition. It is the oracle of the property tests, never a fast path.

import ndarray, { type NdArray } from 'ndarray';
import type {
  ArgReduceOp, Backend, BinaryOp, Conv2dAttrs, ConvTranspose2dAttrs, GroupNormAttrs, Pool2dAttrs, ReduceOp, Storage, UnaryOp,
} from '../backend.ts';
import { broadcastStrides, sizeOf, stridesOf, type Shape } from '../shape.ts';
import { BINARY64, UNARY64 } from './math64.ts';

type F64 = Float64Array;

/** Call `fn` with every multi-index of `shape` in row-major order. */
function forEachIndex(shape: Shape, fn: (idx: number[], flat: number) => void): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

const view = (x: Storage, shape: Shape): NdArray<F64> => ndarray(x as F64, shape.slice());

/** A view of `x` (shape `shape`) broadcast to `outShape` through zero strides. */
const broadcastView = (x: Storage, shape: Shape, outShape: Shape): NdArray<F64> =>
  ndarray(x as F64, outShape.slice(), broadcastStrides(shape, outShape), 0);

function materialize(v: NdArray<F64>): F64 {
  const out = new Float64Array(sizeOf(v.shape));
  forEachIndex(v.shape, (idx, i) => (out[i] = v.get(...idx)));
  return out;
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference' as const;
  readonly bytesPerElement = 8;

  describe(): string {
    return 'reference (float64 loops over ndarray views)';
  }

  upload(values: Float32Array | Float64Array, size: number): Storage {
    const out = new Float64Array(size);
    out.set(values.subarray(0, size));
    return out;
  }
  async download(s: Storage): Promise<Float64Array> {
    return (s as F64).slice();
  }
  downloadSync(s: Storage): Float64Array {
    return (s as F64).slice();
  }
  free(): void {}
  kernelBuilds(): number {
    return 0;
  }
  async destroy(): Promise<void> {}

  unary(op: UnaryOp, x: Storage, size: number, _outShape: Shape): Storage {
    const f = UNARY64[op];
    const a = x as F64;
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = f(a[i]);
    return out;
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const f = BINARY64[op];
    const va = broadcastView(a, aShape, outShape);
    const vb = broadcastView(b, bShape, outShape);
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, i) => (out[i] = f(va.get(...idx), vb.get(...idx))));
    return out;
  }

  where(c: Storage, cShape: Shape, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const vc = broadcastView(c, cShape, outShape);
    const va = broadcastView(a, aShape, outShape);
    const vb = broadcastView(b, bShape, outShape);
    const out = new Float64Array(sizeOf(outShape));
    // a NaN condition is nonzero: it selects a
    forEachIndex(outShape, (idx, i) => (out[i] = vc.get(...idx) !== 0 ? va.get(...idx) : vb.get(...idx)));
    return out;
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: number[], _outShape: Shape): Storage {
    const outShape = shape.filter((_, i) => !axes.includes(i));
    const outStrides = stridesOf(outShape);
    const out = new Float64Array(sizeOf(outShape)).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
    const v = view(x, shape);
    forEachIndex(shape, (idx) => {
      let o = 0;
      for (let d = 0, k = 0; d < shape.length; d++) if (!axes.includes(d)) o += idx[d] * outStrides[k++];
      const val = v.get(...idx);
      if (op === 'sum') out[o] += val;
      else if (op === 'max') out[o] = val > out[o] || Number.isNaN(val) ? val : out[o];
      else out[o] = val < out[o] || Number.isNaN(val) ? val : out[o];
    });
    return out;
  }

  argReduce(op: ArgReduceOp, x: Storage, shape: Shape, axis: number, _outShape: Shape): Storage {
    const outShape = shape.filter((_, i) => i !== axis);
    const v = view(x, shape);
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, o) => {
      let best = 0;
      let bestVal = NaN;
      for (let r = 0; r < shape[axis]; r++) {
        const full = [...idx.slice(0, axis), r, ...idx.slice(axis)];
        const val = v.get(...full);
        // the first NaN wins (NumPy): once bestVal is NaN nothing compares above it
        if (r === 0 || (op === 'argmax' ? val > bestVal : val < bestVal) || (Number.isNaN(val) && !Number.isNaN(bestVal))) {
          best = r;
          bestVal = val;
        }
      }
      out[o] = best;
    });
    return out;
  }

  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const r = outShape.length;
    const [M, N] = [outShape[r - 2], outShape[r - 1]];
    const K = aShape[aShape.length - 1];
    const batch = outShape.slice(0, r - 2);
    const va = broadcastView(a, aShape, [...batch, M, K]);
    const vb = broadcastView(b, bShape, [...batch, K, N]);
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, o) => {
      const bi = idx.slice(0, r - 2);
      const [m, n] = [idx[r - 2], idx[r - 1]];
      let s = 0;
      for (let k = 0; k < K; k++) s += va.get(...bi, m, k) * vb.get(...bi, k, n);
      out[o] = s;
    });
    return out;
  }

  transpose(x: Storage, shape: Shape, perm: number[], _outShape: Shape): Storage {
    return materialize(view(x, shape).transpose(...perm));
  }

  broadcastTo(x: Storage, shape: Shape, outShape: Shape): Storage {
    return materialize(broadcastView(x, shape, outShape));
  }

  slice(x: Storage, shape: Shape, begin: number[], size: number[], step: number[], _outShape: Shape): Storage {
    const v = view(x, shape).lo(...begin).step(...step).hi(...size);
    return materialize(v);
  }

  pad(x: Storage, shape: Shape, pads: [number, number][], value: number, _outShape: Shape): Storage {
    const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
    const v = view(x, shape);
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, o) => {
      const src = idx.map((j, d) => j - pads[d][0]);
      const inside = src.every((j, d) => j >= 0 && j < shape[d]);
      out[o] = inside ? v.get(...src) : value;
    });
    return out;
  }

  concat(xs: Storage[], shapes: Shape[], axis: number, _outShape: Shape): Storage {
    const outShape = shapes[0].slice();
    outShape[axis] = shapes.reduce((s, sh) => s + sh[axis], 0);
    const views = xs.map((x, i) => view(x, shapes[i]));
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, o) => {
      let j = idx[axis];
      let k = 0;
      while (j >= shapes[k][axis]) j -= shapes[k++][axis];
      const src = idx.slice();
      src[axis] = j;
      out[o] = views[k].get(...src);
    });
    return out;
  }

  gather(x: Storage, shape: Shape, indices: Storage, nIndices: number, axis: number, _outShape: Shape): Storage {
    const outShape = [...shape.slice(0, axis), nIndices, ...shape.slice(axis + 1)];
    const v = view(x, shape);
    const ind = indices as F64;
    const out = new Float64Array(sizeOf(outShape));
    forEachIndex(outShape, (idx, o) => {
      const src = idx.slice();
      src[axis] = ind[idx[axis]];
      out[o] = v.get(...src);
    });
    return out;
  }

  scatterAdd(g: Storage, gShape: Shape, indices: Storage, nIndices: number, axis: number, dimSize: number, _outShape: Shape): Storage {
    const outShape = gShape.slice();
    outShape[axis] = dimSize;
    const out = view(new Float64Array(sizeOf(outShape)), outShape);
    const vg = view(g, gShape);
    const ind = indices as F64;
    forEachIndex(gShape, (idx) => {
      const dst = idx.slice();
      dst[axis] = ind[idx[axis]];
      out.set(...dst, out.get(...dst) + vg.get(...idx));
    });
    return out.data;
  }

  conv2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, a: Conv2dAttrs, _outShape: Shape): Storage {
    const [N, C, H, W] = xShape;
    const [O, Cg, KH, KW] = wShape;
    const Og = O / a.groups;
    const Ho = Math.floor((H + 2 * a.padding[0] - a.dilation[0] * (KH - 1) - 1) / a.stride[0]) + 1;
    const Wo = Math.floor((W + 2 * a.padding[1] - a.dilation[1] * (KW - 1) - 1) / a.stride[1]) + 1;
    const vx = view(x, xShape);
    const vw = view(w, wShape);
    const out = new Float64Array(N * O * Ho * Wo);
    forEachIndex([N, O, Ho, Wo], ([n, o, y, xo], i) => {
      const g = Math.floor(o / Og);
      let s = 0;
      for (let c = 0; c < Cg; c++)
        for (let ky = 0; ky < KH; ky++)
          for (let kx = 0; kx < KW; kx++) {
            const iy = y * a.stride[0] - a.padding[0] + ky * a.dilation[0];
            const ix = xo * a.stride[1] - a.padding[1] + kx * a.dilation[1];
            // zero padding takes part in the products (as im2col and the padded-input kernels:
            // a non-finite weight over padding gives NaN, 0 * Inf)
            const xv = iy >= 0 && iy < H && ix >= 0 && ix < W ? vx.get(n, g * Cg + c, iy, ix) : 0;
            s += xv * vw.get(o, c, ky, kx);
          }
      out[i] = s;
    });
    void C;
    return out;
  }

  convTranspose2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, a: ConvTranspose2dAttrs, _outShape: Shape): Storage {
    // Scatter form, the definition: every input pixel adds w * x into a window of the output.
    const [N, Cin, H, W] = xShape;
    const [, Og, KH, KW] = wShape; // weight layout (Cin, Cout/groups, KH, KW), as in PyTorch
    const Cg = Cin / a.groups;
    const O = Og * a.groups;
    const Ho = (H - 1) * a.stride[0] - 2 * a.padding[0] + a.dilation[0] * (KH - 1) + a.outputPadding[0] + 1;
    const Wo = (W - 1) * a.stride[1] - 2 * a.padding[1] + a.dilation[1] * (KW - 1) + a.outputPadding[1] + 1;
    const vx = view(x, xShape);
    const vw = view(w, wShape);
    const out = view(new Float64Array(N * O * Ho * Wo), [N, O, Ho, Wo]);
    forEachIndex([N, Cin, H, W], ([n, c, iy, ix]) => {
      const g = Math.floor(c / Cg);
      const xv = vx.get(n, c, iy, ix);
      for (let o = 0; o < Og; o++)
        for (let ky = 0; ky < KH; ky++)
          for (let kx = 0; kx < KW; kx++) {
            const y = iy * a.stride[0] - a.padding[0] + ky * a.dilation[0];
            const xo = ix * a.stride[1] - a.padding[1] + kx * a.dilation[1];
            if (y >= 0 && y < Ho && xo >= 0 && xo < Wo) {
              const oc = g * Og + o;
              out.set(n, oc, y, xo, out.get(n, oc, y, xo) + xv * vw.get(c, o, ky, kx));
            }
          }
    });
    return out.data;
  }

  conv2dFilterGrad(x: Storage, xShape: Shape, dy: Storage, dyShape: Shape, wShape: Shape, a: Conv2dAttrs, _outShape: Shape): Storage {
    const [N, , H, W] = xShape;
    const [, , Ho, Wo] = dyShape;
    const [O, Cg, KH, KW] = wShape;
    const Og = O / a.groups;
    const vx = view(x, xShape);
    const vdy = view(dy, dyShape);
    const out = new Float64Array(sizeOf(wShape));
    forEachIndex(wShape, ([o, c, ky, kx], i) => {
      const g = Math.floor(o / Og);
      let s = 0;
      for (let n = 0; n < N; n++)
        for (let y = 0; y < Ho; y++)
          for (let xo = 0; xo < Wo; xo++) {
            const iy = y * a.stride[0] - a.padding[0] + ky * a.dilation[0];
            const ix = xo * a.stride[1] - a.padding[1] + kx * a.dilation[1];
            // padding zeros take part, as in conv2d
            const xv = iy >= 0 && iy < H && ix >= 0 && ix < W ? vx.get(n, g * Cg + c, iy, ix) : 0;
            s += xv * vdy.get(n, o, y, xo);
          }
      out[i] = s;
    });
    return out;
  }

  /** Window (n, c, y, x) -> the flat input position of its first maximum, or first NaN (padding never wins). */
  private argmaxWindows(x: Storage, xShape: Shape, a: Pool2dAttrs): { outShape: number[]; pos: Int32Array } {
    const [N, C, H, W] = xShape;
    const Ho = Math.floor((H + 2 * a.padding[0] - a.kernel[0]) / a.stride[0]) + 1;
    const Wo = Math.floor((W + 2 * a.padding[1] - a.kernel[1]) / a.stride[1]) + 1;
    const vx = view(x, xShape);
    const pos = new Int32Array(N * C * Ho * Wo);
    forEachIndex([N, C, Ho, Wo], ([n, c, y, xo], i) => {
      let best = -1;
      let bestVal = -Infinity;
      for (let ky = 0; ky < a.kernel[0]; ky++)
        for (let kx = 0; kx < a.kernel[1]; kx++) {
          const iy = y * a.stride[0] - a.padding[0] + ky;
          const ix = xo * a.stride[1] - a.padding[1] + kx;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          const v = vx.get(n, c, iy, ix);
          if (best < 0 || v > bestVal || (Number.isNaN(v) && !Number.isNaN(bestVal))) {
            best = ((n * C + c) * H + iy) * W + ix;
            bestVal = v;
          }
        }
      pos[i] = best;
    });
    return { outShape: [N, C, Ho, Wo], pos };
  }

  maxPool2dGather(x: Storage, v: Storage, xShape: Shape, a: Pool2dAttrs, _outShape: Shape): Storage {
    const { pos } = this.argmaxWindows(x, xShape, a);
    const vv = v as F64;
    return Float64Array.from(pos, (p) => vv[p]);
  }

  maxPool2dScatter(x: Storage, g: Storage, xShape: Shape, _gShape: Shape, a: Pool2dAttrs, _outShape: Shape): Storage {
    const { pos } = this.argmaxWindows(x, xShape, a);
    const gg = g as F64;
    const out = new Float64Array(sizeOf(xShape));
    pos.forEach((p, i) => (out[p] += gg[i]));
    return out;
  }

  // ---------------------------------------------------------------- GroupNorm (float64, two-pass)

  groupNormStats(x: Storage, xShape: Shape, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, G, M } = gnDims(xShape, attrs);
    const a = x as F64;
    const out = new Float64Array(N * G * 2);
    for (let r = 0; r < N * G; r++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += a[r * M + i];
      const mean = s / M;
      let v = 0;
      for (let i = 0; i < M; i++) v += (a[r * M + i] - mean) ** 2;
      out[r * 2] = mean;
      out[r * 2 + 1] = 1 / Math.sqrt(v / M + attrs.eps);
    }
    return out;
  }

  groupNormForward(x: Storage, xShape: Shape, stats: Storage, gamma: Storage | null, beta: Storage | null, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, HW, Cg } = gnDims(xShape, attrs);
    const [a, st, gm, bt] = [x as F64, stats as F64, gamma as F64 | null, beta as F64 | null];
    const out = new Float64Array(N * C * HW);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const r = n * (C / Cg) + Math.floor(c / Cg);
        for (let s = 0; s < HW; s++) {
          const i = (n * C + c) * HW + s;
          out[i] = (a[i] - st[r * 2]) * st[r * 2 + 1] * (gm ? gm[c] : 1) + (bt ? bt[c] : 0);
        }
      }
    }
    return out;
  }

  groupNormChannelSums(x: Storage, xShape: Shape, g: Storage, stats: Storage, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, HW, Cg } = gnDims(xShape, attrs);
    const [a, gr, st] = [x as F64, g as F64, stats as F64];
    const out = new Float64Array(N * C * 2);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const r = n * (C / Cg) + Math.floor(c / Cg);
        let sgh = 0;
        let sg = 0;
        for (let s = 0; s < HW; s++) {
          const i = (n * C + c) * HW + s;
          sgh += gr[i] * (a[i] - st[r * 2]) * st[r * 2 + 1];
          sg += gr[i];
        }
        out[(n * C + c) * 2] = sgh;
        out[(n * C + c) * 2 + 1] = sg;
      }
    }
    return out;
  }

  groupNormInputGrad(x: Storage, xShape: Shape, g: Storage, stats: Storage, sums: Storage, gamma: Storage | null, attrs: GroupNormAttrs, _outShape: Shape): Storage {
    const { N, C, HW, Cg, G, M } = gnDims(xShape, attrs);
    const [a, gr, st, sm, gm] = [x as F64, g as F64, stats as F64, sums as F64, gamma as F64 | null];
    const out = new Float64Array(N * C * HW);
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < G; gi++) {
        // group means of d = g * gamma and of d * h
        let sdh = 0;
        let sd = 0;
        for (let c = gi * Cg; c < (gi + 1) * Cg; c++) {
          const w = gm ? gm[c] : 1;
          sdh += w * sm[(n * C + c) * 2];
          sd += w * sm[(n * C + c) * 2 + 1];
        }
        const r = n * G + gi;
        const [mean, rstd] = [st[r * 2], st[r * 2 + 1]];
        for (let c = gi * Cg; c < (gi + 1) * Cg; c++) {
          const w = gm ? gm[c] : 1;
          for (let s = 0; s < HW; s++) {
            const i = (n * C + c) * HW + s;
            const h = (a[i] - mean) * rstd;
            out[i] = rstd * (gr[i] * w - sd / M - (h * sdh) / M);
          }
        }
      }
    }
    return out;
  }

  groupNormParamGrad(sums: Storage, sumsShape: Shape, _outShape: Shape): Storage {
    const [N, C] = sumsShape;
    const sm = sums as F64;
    const out = new Float64Array(2 * C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        out[c] += sm[(n * C + c) * 2];
        out[C + c] += sm[(n * C + c) * 2 + 1];
      }
    }
    return out;
  }
}

/** Sizes of a GroupNorm view: x [N, C, HW] in groups of Cg channels (M elements per group). */
function gnDims(xShape: Shape, attrs: GroupNormAttrs) {
  const [N, C] = xShape;
  const HW = sizeOf(xShape.slice(2));
  const G = attrs.groups;
  const Cg = C / G;
  return { N, C, HW, G, Cg, M: Cg * HW };
}
