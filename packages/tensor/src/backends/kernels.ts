// gpu.js kernel sources, generated per op family and (coalesced) rank.
//
// Rules that every source here follows (see ../../../../README.md "Kernels" and the measured
// notes in shared/gpujs-notes.md):
// - one output cell per thread; shapes arrive as `Integer` scalar arguments, never as
//   constants, so one compiled kernel serves every shape of a rank (webgpu) and webasm
//   compiles one module per shape signature;
// - flat index arithmetic runs in float32 on every gpu.js backend, which is exact only
//   below 2^24: the backend refuses tensors larger than that (MAX_ELEMENTS), and indices
//   are decomposed with exact divisions `(r - i) / d`;
// - loops bounded by arguments are silently capped by gpu.js at `loopMaxIterations`,
//   which the backend raises to MAX_ELEMENTS;
// - convolutions read a pre-padded input, so the inner loops carry no bounds checks.

import type { BinaryOp, UnaryOp } from '../backend.ts';

export const MAX_ELEMENTS = 1 << 24;

/** Array(4), or Array(5..16) with gpu.js patch 8 (webasm only). */
export type VecReturnType = `Array(${number})`;

export interface KernelSpec {
  /** Cache key (also the op family name in error messages). */
  key: string;
  source: string;
  argumentTypes: string[];
  /** 'Array(n)' for the register-blocked kernels (n > 4: webasm with gpu.js patch 8); a plain number otherwise. */
  returnType?: VecReturnType;
}

const clampArg = (x: string, lo: number, hi: number) => `Math.min(Math.max(${x}, ${lo}), ${hi})`;

/**
 * IEEE special values (README "Special values"). The one NaN test that survives every gpu.js
 * code generator: `!(v == v)`. `v != v` and `v !== v` are folded to false on webgpu
 * (lavapipe), `isNaN` does not build, and WGSL min/max/clamp drop a NaN operand; an ordered
 * `==` is kept. Every NaN-aware snippet below goes through this helper.
 */
export const isNaNExpr = (v: string) => `!(${v} == ${v})`;

// erf in float32: the rational approximation on [-4, 4] used by Eigen/XLA for float
// (|error| < 2e-7 against the float64 series in math64.ts; see the unary property test).
const ERF_HELPER = `
  const ex = Math.min(Math.max(EXPR, -4.0), 4.0);
  const ex2 = ex * ex;
  let ep = ex2 * -2.72614225801306e-10 + 2.77068142495902e-08;
  ep = ex2 * ep + -2.10102402082508e-06;
  ep = ex2 * ep + -5.69250639462346e-05;
  ep = ex2 * ep + -7.34990630326855e-04;
  ep = ex2 * ep + -2.95459980854025e-03;
  ep = ex2 * ep + -1.60960333262415e-02;
  ep = ex * ep;
  let eq = ex2 * -1.45660718464996e-05 + -2.13374055278905e-04;
  eq = ex2 * eq + -1.68282697438203e-03;
  eq = ex2 * eq + -7.37332916720468e-03;
  eq = ex2 * eq + -1.42647390514189e-02;
  const erfv = ep / eq;`;

/** Statements that leave the unary result of `x` in `res`. */
export function unaryBody(op: UnaryOp): string {
  const sig = (v: string) => `1.0 / (1.0 + Math.exp(-${clampArg(v, -80, 80)}))`;
  switch (op) {
    case 'neg': return 'const res = -x;';
    case 'abs': return 'const res = Math.abs(x);';
    // sign(+-0) = +0 (the NaN case is the shared pass-through in unaryKernel)
    case 'sign': return 'let res = 0.0; if (x > 0.0) { res = 1.0; } if (x < 0.0) { res = -1.0; }';
    case 'exp': return 'const res = Math.exp(x);';
    case 'log': return 'const res = Math.log(x);';
    case 'sqrt': return 'const res = Math.sqrt(x);';
    case 'rsqrt': return 'const res = 1.0 / Math.sqrt(x);';
    case 'square': return 'const res = x * x;';
    case 'reciprocal': return 'const res = 1.0 / x;';
    case 'sin': return 'const res = Math.sin(x);';
    case 'cos': return 'const res = Math.cos(x);';
    // tanh through exp overflows to NaN on some shader compilers: clamp where it is +-1 in f32
    case 'tanh': return `const res = Math.tanh(${clampArg('x', -15, 15)});`;
    // sigmoid(-Inf) = 0 exactly: below -80 (sigmoid < 2e-35) the result is 0, not the clamp's value
    case 'sigmoid': return `let res = ${sig('x')}; if (x < -80.0) { res = 0.0; }`;
    case 'relu': return 'let res = 0.0; if (x > 0.0) { res = x; }';
    // silu(-Inf) = 0 (the limit; x * sigmoid(x) would be -Inf * 0 = NaN): below -80 the
    // value is 0 (|x e^x| < 2e-33)
    case 'silu': return `let res = x * (${sig('x')}); if (x < -80.0) { res = 0.0; }`;
    case 'step': return 'let res = 0.0; if (x > 0.0) { res = 1.0; }';
    case 'floor': return 'const res = Math.floor(x);';
    case 'erf': return ERF_HELPER.replace('EXPR', 'x') + '\n  const res = erfv;';
    // gelu(-Inf) = 0: below -10 the float32 value is 0 (|gelu| < 1e-22), and -Inf * 0 is NaN
    case 'gelu': return ERF_HELPER.replace('EXPR', 'x * 0.7071067811865476') + '\n  let res = 0.5 * x * (1.0 + erfv);\n  if (x < -10.0) { res = 0.0; }';
  }
}

/** Statements computing `res` from `x` and `y`. */
export function binaryBody(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'const res = x + y;';
    case 'sub': return 'const res = x - y;';
    case 'mul': return 'const res = x * y;';
    case 'div': return 'const res = x / y;';
    // pow: shader pow() is undefined for x < 0 and for 0^0; follow IEEE/JS Math.pow:
    // negative bases only for integer exponents (sign from parity), NaN otherwise.
    case 'pow':
      // (0^y for y < 0 is +Infinity in IEEE/JS; shader pow leaves it undefined, lavapipe
      // returns 0: compute it as a run-time 1 / 0.)
      // Special values follow C99 pow (as NumPy / PyTorch): pow(x, 0) = pow(1, y) = 1 even
      // for NaN, pow(-1, +-Inf) = 1, -0 and -Inf bases take the sign of odd integer powers,
      // and only finite negative bases with non-integer exponents give NaN. A NaN operand is
      // passed through explicitly: shader pow(0, NaN) is 0 on lavapipe.
      return `let res = Math.pow(Math.abs(x), y);
  if (x == 0.0 && y < 0.0) { res = 1.0 / Math.abs(x); }
  if (x < 0.0 || 1.0 / x < 0.0) {
    const fy = Math.floor(y);
    if (fy == y) {
      const half = fy * 0.5;
      if (Math.floor(half) != half) { res = -res; }
    } else {
      if (x < 0.0 && x > -3.4e38) { res = Math.sqrt(x); }
    }
  }
  if (${isNaNExpr('y')}) { res = y; }
  if (${isNaNExpr('x')}) { res = x; }
  if (Math.abs(x) == 1.0 && Math.abs(y) > 3.4e38) { res = 1.0; }
  if (y == 0.0 || x == 1.0) { res = 1.0; }`;
    // NaN from either side (torch.maximum): a NaN y is never replaced (x >= NaN is false)
    case 'maximum': return `let res = y; if (x >= y || ${isNaNExpr('x')}) { res = x; }`;
    case 'minimum': return `let res = y; if (x <= y || ${isNaNExpr('x')}) { res = x; }`;
    case 'greater': return 'let res = 0.0; if (x > y) { res = 1.0; }';
    case 'greaterEqual': return 'let res = 0.0; if (x >= y) { res = 1.0; }';
    case 'less': return 'let res = 0.0; if (x < y) { res = 1.0; }';
    case 'lessEqual': return 'let res = 0.0; if (x <= y) { res = 1.0; }';
    case 'equal': return 'let res = 0.0; if (x == y) { res = 1.0; }';
    // the complement of an ordered ==: true when either side is NaN (x != y may be folded)
    case 'notEqual': return 'let res = 1.0; if (x == y) { res = 0.0; }';
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const ints = (n: number) => range(n).map(() => 'Integer');

/**
 * Statements decomposing `this.thread.x` into indices i0..i{R-1} of an output with dims
 * d0..d{R-1} (d0 is never needed). Exact in float32 below 2^24.
 */
function decompose(rank: number): string {
  if (rank === 1) return 'const i0 = this.thread.x;';
  const lines = ['let r = this.thread.x;'];
  for (let k = rank - 1; k >= 1; k--) {
    lines.push(`const i${k} = r % d${k};`);
    lines.push(k === 1 ? `const i0 = (r - i1) / d1;` : `r = (r - i${k}) / d${k};`);
  }
  return lines.join('\n  ');
}

const dimArgs = (rank: number) => range(rank).slice(1).map((k) => `d${k}`);
const strideArgs = (p: string, rank: number) => range(rank).map((k) => `${p}${k}`);
const offsetExpr = (p: string, rank: number) => range(rank).map((k) => `i${k} * ${p}${k}`).join(' + ');

function fn(args: string[], body: string): string {
  return `function (${args.join(', ')}) {\n  ${body}\n}`;
}

/**
 * webasm variants of the exp-based activations: IEEE arithmetic in wasm (exp overflows to
 * +Inf, x / Inf = -+0, NaN propagates through every operation), so the clamp of exp's
 * argument and the separate NaN pass-through that shader compilers need can go: 1.3x less
 * time in the kernel for SiLU, whose cost is the in-module exp (about 1.0x per call, where
 * gpu.js's copies dominate; bench/micro/memory-bound.ts). Values below -80 are still set to
 * exactly 0 (sigmoid(-Inf) = silu(-Inf) = 0).
 */
const LEAN_UNARY: Partial<Record<UnaryOp, string>> = {
  sigmoid: 'let res = 1.0 / (1.0 + Math.exp(-x));\n  if (x < -80.0) { res = 0.0; }',
  silu: 'let res = x / (1.0 + Math.exp(-x));\n  if (x < -80.0) { res = 0.0; }',
};

/** `lean`: the webasm-only form of sigmoid/silu (LEAN_UNARY); other ops are unchanged. */
export function unaryKernel(op: UnaryOp, lean = false): KernelSpec {
  const body = lean ? LEAN_UNARY[op] : undefined;
  if (body) return { key: `unary:${op}:lean`, source: fn(['a'], `const x = a[this.thread.x];\n  ${body}\n  return res;`), argumentTypes: ['Array'] };
  return {
    key: `unary:${op}`,
    // every unary op maps NaN to NaN: one pass-through here rather than per op (clamps,
    // comparisons and erf's rational form would otherwise turn NaN into a number)
    source: fn(['a'], `const x = a[this.thread.x];\n  ${unaryBody(op)}\n  let out = res;\n  if (${isNaNExpr('x')}) { out = x; }\n  return out;`),
    argumentTypes: ['Array'],
  };
}

/** Elementwise binary op on a coalesced broadcast of rank R (strides 0 where broadcast). */
export function binaryKernel(op: BinaryOp, rank: number): KernelSpec {
  const args = ['a', 'b', ...dimArgs(rank), ...strideArgs('sa', rank), ...strideArgs('sb', rank)];
  const body = `${decompose(rank)}
  const x = a[${offsetExpr('sa', rank)}];
  const y = b[${offsetExpr('sb', rank)}];
  ${binaryBody(op)}
  return res;`;
  return { key: `binary:${op}:${rank}`, source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

export function whereKernel(rank: number): KernelSpec {
  const args = ['c', 'a', 'b', ...dimArgs(rank), ...strideArgs('sc', rank), ...strideArgs('sa', rank), ...strideArgs('sb', rank)];
  const body = `${decompose(rank)}
  let res = a[${offsetExpr('sa', rank)}];
  if (c[${offsetExpr('sc', rank)}] == 0.0) { res = b[${offsetExpr('sb', rank)}]; }
  return res;`;
  return { key: `where:${rank}`, source: fn(args, body), argumentTypes: ['Array', 'Array', 'Array', ...ints(args.length - 3)] };
}

/** out[i] = a[off + sum_k i_k * s_k]: transpose, broadcast, strided slice. */
export function stridedKernel(rank: number): KernelSpec {
  const args = ['a', 'off', ...dimArgs(rank), ...strideArgs('s', rank)];
  const body = `${decompose(rank)}
  return a[off + ${offsetExpr('s', rank)}];`;
  return { key: `strided:${rank}`, source: fn(args, body), argumentTypes: ['Array', ...ints(args.length - 1)] };
}

/** Constant padding: out index minus `before` read from the input where inside. */
export function padKernel(rank: number): KernelSpec {
  const args = ['a', 'value', ...dimArgs(rank), ...range(rank).map((k) => `n${k}`), ...range(rank).map((k) => `p${k}`), ...strideArgs('s', rank)];
  const checks = range(rank).map((k) => `j${k} >= 0 && j${k} < n${k}`).join(' && ');
  const body = `${decompose(rank)}
  ${range(rank).map((k) => `const j${k} = i${k} - p${k};`).join('\n  ')}
  let res = value;
  if (${checks}) { res = a[${range(rank).map((k) => `j${k} * s${k}`).join(' + ')}]; }
  return res;`;
  return { key: `pad:${rank}`, source: fn(args, body), argumentTypes: ['Array', 'Float', ...ints(args.length - 2)] };
}

/** Two tensors joined along the middle axis of an [outer, La | Lb] view (La = na*inner). */
export function concat2Kernel(): KernelSpec {
  const body = `const L = La + Lb;
  const j = this.thread.x % L;
  const o = (this.thread.x - j) / L;
  let res = 0.0;
  if (j < La) { res = a[o * La + j]; } else { res = b[o * Lb + j - La]; }
  return res;`;
  return { key: 'concat2', source: fn(['a', 'b', 'La', 'Lb'], body), argumentTypes: ['Array', 'Array', 'Integer', 'Integer'] };
}

/**
 * Reduce the middle axis of an [outer, R, inner] view. Sums run in blocks of 256 so the
 * float32 rounding error grows like (256 + R/256) eps rather than R eps.
 */
export function reduceKernel(op: 'sum' | 'max' | 'min'): KernelSpec {
  // max/min: a NaN anywhere wins (acc stays NaN once set: nothing compares above it)
  const combine = op === 'sum' ? 'acc += v;' : `if (v ${op === 'max' ? '>' : '<'} acc || ${isNaNExpr('v')}) { acc = v; }`;
  let body: string;
  if (op === 'sum') {
    body = `const n = this.thread.x % inner;
  const base = (this.thread.x - n) * R + n;
  let total = 0.0;
  for (let b0 = 0; b0 < R; b0 += 256) {
    let part = 0.0;
    for (let r = 0; r < 256; r++) {
      const rr = b0 + r;
      if (rr < R) { part += a[base + rr * inner]; }
    }
    total += part;
  }
  return total;`;
  } else {
    body = `const n = this.thread.x % inner;
  const base = (this.thread.x - n) * R + n;
  let acc = a[base];
  for (let r = 1; r < R; r++) { const v = a[base + r * inner]; ${combine} }
  return acc;`;
  }
  return { key: `reduce:${op}`, source: fn(['a', 'R', 'inner'], body), argumentTypes: ['Array', 'Integer', 'Integer'] };
}

export function argReduceKernel(op: 'argmax' | 'argmin'): KernelSpec {
  const cmp = op === 'argmax' ? '>' : '<';
  const body = `const n = this.thread.x % inner;
  const base = (this.thread.x - n) * R + n;
  let best = a[base];
  let arg = 0.0;
  for (let r = 1; r < R; r++) {
    const v = a[base + r * inner];
    if (v ${cmp} best || (${isNaNExpr('v')} && best == best)) { best = v; arg = r * 1.0; }
  }
  return arg;`;
  return { key: `argreduce:${op}`, source: fn(['a', 'R', 'inner'], body), argumentTypes: ['Array', 'Integer', 'Integer'] };
}

/**
 * Batched matmul, output [N, M, B] (x = column, so webasm's SIMD lanes read `b` rows
 * contiguously). `sa`/`sb` are batch strides (0 broadcasts one matrix over the batch).
 * Indices are strength-reduced and the k loop unrolled by 4 (1.6x on webasm), with the
 * remainder in a literal-bounded loop (WGSL has no `++` for float-typed counters).
 */
export function matmulKernel(): KernelSpec {
  const body = `const z = this.thread.z;
  let ai = z * sa + this.thread.y * K;
  let bi = z * sb + this.thread.x;
  const K4 = Math.floor(K / 4);
  const rem = K - K4 * 4;
  const N2 = N * 2;
  const N3 = N * 3;
  const N4 = N * 4;
  let s = 0.0;
  for (let k = 0; k < K4; k++) {
    s += a[ai] * b[bi] + a[ai + 1] * b[bi + N] + a[ai + 2] * b[bi + N2] + a[ai + 3] * b[bi + N3];
    ai += 4;
    bi += N4;
  }
  for (let r = 0; r < 3; r++) {
    if (r < rem) { s += a[ai + r] * b[bi + r * N]; }
  }
  return s;`;
  return { key: 'matmul', source: fn(['a', 'b', 'K', 'N', 'sa', 'sb'], body), argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer', 'Integer'] };
}

/**
 * Direct conv2d over a pre-padded NCHW input, OIHW weights; output [Wo, Ho, N*O]. The
 * kernel size is baked in (part of the cache key) and the taps are fully unrolled with
 * per-thread offsets: 3.7x faster on webasm than tap loops with index arithmetic.
 */
export function conv2dKernel(KH: number, KW: number): KernelSpec {
  const args = ['xp', 'w', 'Cg', 'Og', 'O', 'Cin', 'Hp', 'Wp', 'sh', 'sw', 'dh', 'dw'];
  const rows = range(KH).slice(1).map((ky) => `const ry${ky} = ${ky} * dh * Wp;`);
  const cols = range(KW).slice(1).map((kx) => `const cx${kx} = ${kx} * dw;`);
  const off = (ky: number, kx: number) => [ky ? `ry${ky}` : '', kx ? `cx${kx}` : ''].filter(Boolean).join(' + ');
  const taps = range(KH)
    .flatMap((ky) => range(KW).map((kx) => `xp[xb${off(ky, kx) ? ' + ' + off(ky, kx) : ''}] * w[wb${ky * KW + kx ? ' + ' + (ky * KW + kx) : ''}]`))
    .join('\n      + ');
  const body = `const z = this.thread.z;
  const o = z % O;
  const n = (z - o) / O;
  const g = Math.floor(o / Og);
  ${[...rows, ...cols].join('\n  ')}
  const plane = Hp * Wp;
  let xb = ((n * Cin + g * Cg) * Hp + this.thread.y * sh) * Wp + this.thread.x * sw;
  let wb = o * Cg * ${KH * KW};
  let s = 0.0;
  for (let c = 0; c < Cg; c++) {
    s += ${taps};
    xb += plane;
    wb += ${KH * KW};
  }
  return s;`;
  return { key: `conv2d:${KH}x${KW}`, source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

/**
 * dL/dw of conv2d from the pre-padded input and dy. The output is 1-D over (o, c, ky, kx):
 * with a [KW, KH, ...] output the x extent is only KW, too narrow for webasm's 4-lane
 * SIMD over thread.x (measured 2.8x slower).
 */
export function conv2dFilterGradKernel(): KernelSpec {
  const args = ['xp', 'dy', 'N', 'Ho', 'Wo', 'Cg', 'Og', 'O', 'Cin', 'Hp', 'Wp', 'sh', 'sw', 'dh', 'dw', 'KH', 'KW'];
  const body = `let r = this.thread.x;
  const kx = r % KW;
  r = (r - kx) / KW;
  const ky = r % KH;
  const z = (r - ky) / KH;
  const c = z % Cg;
  const o = (z - c) / Cg;
  const g = Math.floor(o / Og);
  const rowStep = sh * Wp;
  let s = 0.0;
  for (let n = 0; n < N; n++) {
    let part = 0.0;
    let xr = ((n * Cin + g * Cg + c) * Hp + ky * dh) * Wp + kx * dw;
    let dr = (n * O + o) * Ho * Wo;
    for (let y = 0; y < Ho; y++) {
      let xi = xr;
      let di = dr;
      for (let x = 0; x < Wo; x++) {
        part += xp[xi] * dy[di];
        xi += sw;
        di += 1;
      }
      xr += rowStep;
      dr += Wo;
    }
    s += part;
  }
  return s;`;
  return { key: 'conv2dFilterGrad', source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

/**
 * The input of the stride-1 convolution that equals a transposed convolution: zeros
 * inserted between input pixels (stride), `pt`/`pl` leading rows/cols (may be negative:
 * a crop). Output [Wd, Hd, N*C].
 */
export function dilatePadKernel(): KernelSpec {
  const args = ['a', 'H', 'W', 'sh', 'sw', 'pt', 'pl'];
  const body = `const x = this.thread.x - pl;
  const y = this.thread.y - pt;
  const z = this.thread.z;
  let res = 0.0;
  if (x >= 0 && y >= 0) {
    const rx = x % sw;
    const ry = y % sh;
    const ix = (x - rx) / sw;
    const iy = (y - ry) / sh;
    if (rx == 0 && ry == 0 && ix < W && iy < H) { res = a[(z * H + iy) * W + ix]; }
  }
  return res;`;
  return { key: 'dilatePad', source: fn(args, body), argumentTypes: ['Array', ...ints(args.length - 1)] };
}

/**
 * Weights of a transposed conv (Cin, Og, KH, KW) -> weights of the equivalent conv
 * (Og*groups, Cg, KH, KW), spatially flipped. Output is 1D.
 */
export function convTransposeWeightKernel(): KernelSpec {
  const args = ['w', 'Cg', 'Og', 'KH', 'KW'];
  const body = `${decompose(4).replace(/d1/g, 'Cg').replace(/d2/g, 'KH').replace(/d3/g, 'KW')}
  const oc = i0;
  const g = Math.floor(oc / Og);
  const o = oc - g * Og;
  const cin = g * Cg + i1;
  return w[((cin * Og + o) * KH + (KH - 1 - i2)) * KW + (KW - 1 - i3)];`;
  return { key: 'convTransposeWeight', source: fn(args, body), argumentTypes: ['Array', ...ints(args.length - 1)] };
}

/** Flat position of the first maximum of x in window (yo, xo) of plane z (the first NaN wins), or -1. */
function windowArgmax(KH: number, KW: number): string {
  return `let best = -1;
  let bestVal = 0.0;
  for (let ky = 0; ky < ${KH}; ky++) {
    for (let kx = 0; kx < ${KW}; kx++) {
      const iy = yo * sh - ph + ky;
      const ix = xo * sw - pw + kx;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
        const p = (z * H + iy) * W + ix;
        const xv = x[p];
        if (best < 0 || xv > bestVal || (${isNaNExpr('xv')} && bestVal == bestVal)) { best = p; bestVal = xv; }
      }
    }
  }`;
}

/** Output [Wo, Ho, N*C]: v at the arg-max of x in each pooling window. */
export function maxPoolGatherKernel(KH: number, KW: number): KernelSpec {
  const args = ['x', 'v', 'H', 'W', 'sh', 'sw', 'ph', 'pw'];
  const body = `const xo = this.thread.x;
  const yo = this.thread.y;
  const z = this.thread.z;
  ${windowArgmax(KH, KW)}
  return v[best];`;
  return { key: `maxPoolGather:${KH}x${KW}`, source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

/** Output [W, H, N*C]: sum of g over the windows whose arg-max is this input pixel. */
export function maxPoolScatterKernel(KH: number, KW: number): KernelSpec {
  const args = ['x', 'g', 'H', 'W', 'Ho', 'Wo', 'sh', 'sw', 'ph', 'pw'];
  const body = `const px = this.thread.x;
  const py = this.thread.y;
  const z = this.thread.z;
  const me = (z * H + py) * W + px;
  let s = 0.0;
  for (let wy = 0; wy < ${KH}; wy++) {
    for (let wx = 0; wx < ${KW}; wx++) {
      const ty = py + ph - wy;
      const tx = px + pw - wx;
      if (ty >= 0 && tx >= 0) {
        const ry = ty % sh;
        const rx = tx % sw;
        const yo = (ty - ry) / sh;
        const xo = (tx - rx) / sw;
        if (ry == 0 && rx == 0 && yo < Ho && xo < Wo) {
          ${windowArgmax(KH, KW).replace(/\n/g, '\n          ')}
          if (best == me) { s += g[(z * Ho + yo) * Wo + xo]; }
        }
      }
    }
  }
  return s;`;
  return { key: `maxPoolScatter:${KH}x${KW}`, source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

/** out[o, j, n] = x[o, idx[j], n] over an [outer, D, inner] view. */
export function gatherKernel(): KernelSpec {
  const args = ['x', 'idx', 'nI', 'D', 'inner'];
  const body = `const n = this.thread.x % inner;
  const r = (this.thread.x - n) / inner;
  const j = r % nI;
  const o = (r - j) / nI;
  return x[(o * D + idx[j]) * inner + n];`;
  return { key: 'gather', source: fn(args, body), argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer'] };
}

/** out[o, d, n] = sum_{j: idx[j] == d} g[o, j, n]: the transpose of gather. */
export function scatterAddKernel(): KernelSpec {
  const args = ['g', 'idx', 'nI', 'D', 'inner'];
  const body = `const n = this.thread.x % inner;
  const r = (this.thread.x - n) / inner;
  const d = r % D;
  const o = (r - d) / D;
  let s = 0.0;
  for (let j = 0; j < nI; j++) { if (idx[j] == d) { s += g[(o * nI + j) * inner + n]; } }
  return s;`;
  return { key: 'scatterAdd', source: fn(args, body), argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer'] };
}

/** One operation of a fused elementwise chain; operands are chain inputs or earlier nodes. */
export type FusedRef = { input: number } | { node: number };
export type FusedNode =
  | { kind: 'unary'; op: UnaryOp; x: FusedRef }
  | { kind: 'binary'; op: BinaryOp; x: FusedRef; y: FusedRef };

/** Rename a snippet's locals (and x / y / res) so several snippets can share one kernel body. */
function renameSnippet(body: string, suffix: string, x: string, y: string): string {
  const names = new Set(['res', ...[...body.matchAll(/\b(?:const|let)\s+([A-Za-z_]\w*)/g)].map((m) => m[1])]);
  return body.replace(/(^|[^.\w])([A-Za-z_]\w*)\b/g, (all, pre: string, name: string) => {
    if (name === 'x') return pre + x;
    if (name === 'y') return pre + y;
    return names.has(name) ? `${pre}${name}_${suffix}` : all;
  });
}

/**
 * A chain of elementwise unary/binary ops as one kernel (used by @tapegrad/compile's
 * plans): every input is read once with broadcast strides of the coalesced output rank,
 * then each node runs the same snippet (unaryBody / binaryBody, and the unary NaN
 * pass-through) as its eager kernel, in order; the last node is the result.
 */
export function fusedElementwiseKernel(nodes: readonly FusedNode[], nInputs: number, rank: number, lean = false): KernelSpec {
  const ins = range(nInputs).map((k) => `a${k}`);
  const args = [...ins, ...dimArgs(rank), ...ins.flatMap((_, k) => strideArgs(`s${k}_`, rank))];
  const lines = [decompose(rank)];
  ins.forEach((a, k) => lines.push(`const in${k} = ${a}[${offsetExpr(`s${k}_`, rank)}];`));
  lines.push(...chainLines(nodes, lean));
  return {
    key: `fused:${nInputs}:${rank}:${lean ? 'lean:' : ''}${chainKey(nodes)}`,
    source: fn(args, lines.join('\n  ')),
    argumentTypes: [...ins.map(() => 'Array'), ...ints(args.length - nInputs)],
  };
}

/**
 * The statements of a chain over inputs in0.. (declared by the caller); returns the last node.
 * `lean`: sigmoid/silu use the webasm form of the eager kernel (LEAN_UNARY, no NaN
 * pass-through), as the eager webasm kernels do when the backend's `tidKernels` is on.
 */
function chainLines(nodes: readonly FusedNode[], lean: boolean): string[] {
  const lines: string[] = [];
  const refExpr = (r: FusedRef) => ('input' in r ? `in${r.input}` : `v${r.node}`);
  nodes.forEach((n, j) => {
    const leanBody = lean && n.kind === 'unary' ? LEAN_UNARY[n.op] : undefined;
    if (leanBody) {
      lines.push(renameSnippet(leanBody, String(j), refExpr(n.x), ''));
      lines.push(`const v${j} = res_${j};`);
    } else if (n.kind === 'unary') {
      const x = refExpr(n.x);
      lines.push(renameSnippet(unaryBody(n.op), String(j), x, ''));
      lines.push(`let v${j} = res_${j};`, `if (${isNaNExpr(x)}) { v${j} = ${x}; }`);
    } else {
      lines.push(renameSnippet(binaryBody(n.op), String(j), refExpr(n.x), refExpr(n.y)));
      lines.push(`const v${j} = res_${j};`);
    }
  });
  lines.push(`return v${nodes.length - 1};`);
  return lines;
}

const chainKey = (nodes: readonly FusedNode[]) =>
  nodes.map((n) => (n.kind === 'unary' ? `${n.op}(${refKey(n.x)})` : `${n.op}(${refKey(n.x)},${refKey(n.y)})`)).join(';');

/**
 * fusedElementwiseKernel over a coalesced view of rank 1-3, one output cell per thread id
 * (webasm, like binaryTidKernel): input k is read at i32 index tidIndex with its innermost
 * pattern `pats[k]` (contiguous: one v128.load; broadcast: one lane-uniform load). Same
 * snippets and order of operations as the flat form, so the same bits.
 */
export function fusedElementwiseTidKernel(nodes: readonly FusedNode[], pats: readonly InnerPattern[], rank: number, lean = false): KernelSpec {
  const ins = pats.map((_, k) => `a${k}`);
  const args = [...ins, ...ins.flatMap((_, k) => strideArgs(`s${k}_`, rank))];
  const lines = ins.map((a, k) => `const in${k} = ${a}[${tidIndex(`s${k}_`, rank, pats[k])}];`);
  lines.push(...chainLines(nodes, lean));
  return {
    key: `fused:tid${rank}:${pats.join('')}:${lean ? 'lean:' : ''}${chainKey(nodes)}`,
    source: fn(args, lines.join('\n  ')),
    argumentTypes: [...ins.map(() => 'Array'), ...ints(args.length - ins.length)],
  };
}

/**
 * One chain applied to G independent groups of inputs in one launch (a multi-tensor
 * kernel, e.g. one optimizer update over every parameter): the output is the groups'
 * results back to back; thread x belongs to the group whose range [o_g, o_{g+1}) holds it
 * (o_0 = 0; o_1.. are Integer arguments). Input k of every group is either a full-size
 * array read at the thread's offset in its group, or (`scalar[k]`) a one-element array.
 */
export function fusedElementwiseMultiKernel(nodes: readonly FusedNode[], scalar: readonly boolean[], groups: number, lean = false): KernelSpec {
  const nIn = scalar.length;
  const arr = (g: number, k: number) => `a${g}_${k}`;
  const arrays = range(groups).flatMap((g) => range(nIn).map((k) => arr(g, k)));
  const offs = range(groups).slice(1).map((g) => `o${g}`);
  const lines = ['const x = this.thread.x;'];
  range(nIn).forEach((k) => lines.push(`let in${k} = 0.0;`));
  const reads = (g: number) => range(nIn).map((k) => `in${k} = ${arr(g, k)}[${scalar[k] ? '0' : g === 0 ? 'x' : `x - o${g}`}];`).join(' ');
  if (groups === 1) lines.push(reads(0));
  else {
    const parts = range(groups).map((g) => {
      if (g === 0) return `if (x < o1) { ${reads(0)} }`;
      if (g === groups - 1) return `else { ${reads(g)} }`;
      return `else if (x < o${g + 1}) { ${reads(g)} }`;
    });
    lines.push(parts.join(' '));
  }
  lines.push(...chainLines(nodes, lean));
  return {
    key: `fusedMulti:${groups}:${scalar.map((b) => (b ? 's' : 'f')).join('')}:${lean ? 'lean:' : ''}${chainKey(nodes)}`,
    source: fn([...arrays, ...offs], lines.join('\n  ')),
    argumentTypes: [...arrays.map(() => 'Array'), ...offs.map(() => 'Integer')],
  };
}
const refKey = (r: FusedRef) => ('input' in r ? `i${r.input}` : `n${r.node}`);

export function copyKernel(): KernelSpec {
  return { key: 'copy', source: fn(['a'], 'return a[this.thread.x];'), argumentTypes: ['Array'] };
}

// ---------------------------------------------------------------- memory-bound kernels, thread-id form
//
// webasm only (gpujs.ts picks them by shape; the flat kernels above serve webgpu and cpu).
// Under the patched generator an index is i32 end to end only when it is written inline
// from `this.thread.*`, Integer arguments, integer literals and patched loop counters with
// an Integer leftmost operand (a `const` local, `/` and `%` are float), and only a read whose
// index is `<lane-uniform Integer> + this.thread.x` becomes one v128.load. So these kernels
// take a coalesced view of rank <= 3 as a 1-3-D output (x = innermost dim) and build every
// index from the thread ids directly: an operand whose innermost stride is 1 is read
// contiguously, one whose innermost stride is 0 is a lane-uniform scalar read (one load per
// quad: the per-channel read of a [N,C,H,W] op [1,C,1,1] add), any other stride an i32 gather.

/** How an operand is read along the innermost dim: stride 1, stride 0, or another stride. */
export type InnerPattern = 'c' | 'b' | 'g';

export const innerPattern = (stride: number): InnerPattern => (stride === 1 ? 'c' : stride === 0 ? 'b' : 'g');

/** Thread id of dim k of a rank-R view (dim R-1 is x). */
const threadOf = (k: number, rank: number) => `this.thread.${'xyz'[rank - 1 - k]}`;

/**
 * Flat index of operand `p` (strides p0..p{R-1}) at the thread's cell: Integer-typed from its
 * leftmost term on, and `<uniform> + this.thread.x` for a contiguous operand.
 */
function tidIndex(p: string, rank: number, pat: InnerPattern, off?: string): string {
  const terms = off ? [off] : [];
  for (let k = 0; k < rank - 1; k++) terms.push(`${threadOf(k, rank)} * ${p}${k}`);
  if (pat === 'c') terms.push('this.thread.x');
  if (pat === 'g') terms.push(`this.thread.x * ${p}${rank - 1}`);
  return terms.length ? terms.join(' + ') : '0';
}

/** Output dims (gpu.js order, x first) of a rank <= 3 view. */
export const tidDims = (shape: readonly number[]): number[] => [...shape].reverse();

/** binaryKernel over a coalesced view of rank 1-3, one output cell per thread id. */
export function binaryTidKernel(op: BinaryOp, rank: number, pa: InnerPattern, pb: InnerPattern): KernelSpec {
  const args = ['a', 'b', ...strideArgs('sa', rank), ...strideArgs('sb', rank)];
  const body = `const x = a[${tidIndex('sa', rank, pa)}];
  const y = b[${tidIndex('sb', rank, pb)}];
  ${binaryBody(op)}
  return res;`;
  return { key: `binary:${op}:tid${rank}:${pa}${pb}`, source: fn(args, body), argumentTypes: ['Array', 'Array', ...ints(args.length - 2)] };
}

export function whereTidKernel(rank: number, pc: InnerPattern, pa: InnerPattern, pb: InnerPattern): KernelSpec {
  const args = ['c', 'a', 'b', ...strideArgs('sc', rank), ...strideArgs('sa', rank), ...strideArgs('sb', rank)];
  const body = `let res = a[${tidIndex('sa', rank, pa)}];
  if (c[${tidIndex('sc', rank, pc)}] == 0.0) { res = b[${tidIndex('sb', rank, pb)}]; }
  return res;`;
  return { key: `where:tid${rank}:${pc}${pa}${pb}`, source: fn(args, body), argumentTypes: ['Array', 'Array', 'Array', ...ints(args.length - 3)] };
}

/** stridedKernel (transpose, broadcast, strided slice) over a view of rank 1-3. */
export function stridedTidKernel(rank: number, ps: InnerPattern): KernelSpec {
  const args = ['a', 'off', ...strideArgs('s', rank)];
  return { key: `strided:tid${rank}:${ps}`, source: fn(args, `return a[${tidIndex('s', rank, ps, 'off')}];`), argumentTypes: ['Array', ...ints(args.length - 1)] };
}

/** concat2Kernel with output [La + Lb, outer]: both sides read contiguously. */
export function concat2TidKernel(): KernelSpec {
  const body = `let res = 0.0;
  if (this.thread.x < La) { res = a[this.thread.y * La + this.thread.x]; } else { res = b[this.thread.y * Lb + this.thread.x - La]; }
  return res;`;
  return { key: 'concat2:tid', source: fn(['a', 'b', 'La', 'Lb'], body), argumentTypes: ['Array', 'Array', 'Integer', 'Integer'] };
}

/**
 * Constant padding of the last two dims of a [B, H, W] view (leading dims unpadded), output
 * [W + pl + pr, H + pt + pb, B]: the interior of each row is read contiguously.
 */
export function pad2TidKernel(): KernelSpec {
  const body = `let res = value;
  if (this.thread.y >= pt && this.thread.y - pt < H && this.thread.x >= pl && this.thread.x - pl < W) {
    res = a[(this.thread.z * H + this.thread.y - pt) * W + this.thread.x - pl];
  }
  return res;`;
  return { key: 'pad:tid2', source: fn(['a', 'value', 'H', 'W', 'pt', 'pl'], body), argumentTypes: ['Array', 'Float', 'Integer', 'Integer', 'Integer', 'Integer'] };
}

const combineOf = (op: 'sum' | 'max' | 'min', acc: string, v: string) =>
  op === 'sum' ? `${acc} += ${v};` : `if (${v} ${op === 'max' ? '>' : '<'} ${acc} || ${isNaNExpr(v)}) { ${acc} = ${v}; }`;

/**
 * Stage 1 of a reduction over the last axis of an [outer, R] view: output [4, outer], lane
 * q of row y combines elements q, q + 4, q + 8, ... of the row, so each quad reads its row
 * with one v128.load per 4 elements (R4 = floor(R / 4) full quads, then a masked tail).
 * Sums of more than 256 quads (`blocked`) run in blocks of 256 quads (error ~ (256 + R/1024)
 * eps); shorter ones in one loop, which a block loop would pad to 256 steps. max/min start from the
 * row's first element (combining it twice changes nothing). reduceRowsFinalKernel combines
 * the 4 partials.
 */
export function reduceRowsKernel(op: 'sum' | 'max' | 'min', blocked: boolean): KernelSpec {
  const tail = 'R4 * 4 + this.thread.x';
  const tailRead = `a[this.thread.y * R + R4 * 4 + this.thread.x]`;
  let body: string;
  if (op === 'sum' && !blocked) {
    body = `let total = 0.0;
  for (let k = 0; k < R4; k++) { total += a[this.thread.y * R + k * 4 + this.thread.x]; }
  if (${tail} < R) { total += ${tailRead}; }
  return total;`;
  } else if (op === 'sum') {
    body = `let total = 0.0;
  for (let b0 = 0; b0 < R4; b0 += 256) {
    let part = 0.0;
    for (let k = 0; k < 256; k++) {
      if (b0 + k < R4) { part += a[this.thread.y * R + (b0 + k) * 4 + this.thread.x]; }
    }
    total += part;
  }
  if (${tail} < R) { total += ${tailRead}; }
  return total;`;
  } else {
    body = `let acc = a[this.thread.y * R];
  for (let k = 0; k < R4; k++) {
    const v = a[this.thread.y * R + k * 4 + this.thread.x];
    ${combineOf(op, 'acc', 'v')}
  }
  if (${tail} < R) {
    const v = ${tailRead};
    ${combineOf(op, 'acc', 'v')}
  }
  return acc;`;
  }
  return { key: `reduce:${op}:rows${op === 'sum' && blocked ? 'Blocked' : ''}`, source: fn(['a', 'R', 'R4'], body), argumentTypes: ['Array', 'Integer', 'Integer'] };
}

/** Stage 2: combine the 4 partials of each row ([outer, 4] -> [outer]). */
export function reduceRowsFinalKernel(op: 'sum' | 'max' | 'min'): KernelSpec {
  const body = op === 'sum'
    ? 'return p[this.thread.x * 4] + p[this.thread.x * 4 + 1] + p[this.thread.x * 4 + 2] + p[this.thread.x * 4 + 3];'
    : `let acc = p[this.thread.x * 4];
  ${[1, 2, 3].map((q) => `const v${q} = p[this.thread.x * 4 + ${q}];\n  ${combineOf(op, 'acc', `v${q}`)}`).join('\n  ')}
  return acc;`;
  return { key: `reduce:${op}:rowsFinal`, source: fn(['p'], body), argumentTypes: ['Array'] };
}

/**
 * Reduce the middle axis of an [outer, R, inner] view with output [inner, outer]: the
 * threads of a row read `inner` adjacent elements per step (contiguous quads). Sums blocked
 * in 256 steps when R > 256 (`blocked`).
 */
export function reduceMiddleKernel(op: 'sum' | 'max' | 'min', blocked: boolean): KernelSpec {
  const read = (r: string) => `a[(this.thread.y * R + ${r}) * inner + this.thread.x]`;
  let body: string;
  if (op === 'sum' && !blocked) {
    body = `let total = 0.0;
  for (let r = 0; r < R; r++) { total += ${read('r')}; }
  return total;`;
  } else if (op === 'sum') {
    body = `let total = 0.0;
  for (let b0 = 0; b0 < R; b0 += 256) {
    let part = 0.0;
    for (let r = 0; r < 256; r++) {
      if (b0 + r < R) { part += ${read('b0 + r')}; }
    }
    total += part;
  }
  return total;`;
  } else {
    body = `let acc = ${read('0')};
  for (let r = 1; r < R; r++) {
    const v = ${read('r')};
    ${combineOf(op, 'acc', 'v')}
  }
  return acc;`;
  }
  return { key: `reduce:${op}:middle${op === 'sum' && blocked ? 'Blocked' : ''}`, source: fn(['a', 'R', 'inner'], body), argumentTypes: ['Array', 'Integer', 'Integer'] };
}

/**
 * Reduce the last axis of an [outer, R] view with R < 8 (too short for reduceRowsKernel's
 * 4 lanes per row): one output per thread, an i32 gather per element, no block loop (the
 * flat kernel's 256-step block loop costs 256 steps per output even for R = 2, as in the
 * gradient of a nearest-neighbour upsample).
 */
export function reduceShortKernel(op: 'sum' | 'max' | 'min'): KernelSpec {
  const body = `let acc = a[this.thread.x * R];
  for (let r = 1; r < R; r++) {
    const v = a[this.thread.x * R + r];
    ${combineOf(op, 'acc', 'v')}
  }
  return acc;`;
  return { key: `reduce:${op}:short`, source: fn(['a', 'R'], body), argumentTypes: ['Array', 'Integer'] };
}

// ---------------------------------------------------------------- register-blocked kernels
//
// webasm only (gpujs.ts dispatches them there). gpu.js runs 4 adjacent `this.thread.x`
// cells as one f32x4 SIMD quad, and every read whose index varies across those lanes is a
// 4-lane gather (four clamped scalar loads) while a lane-uniform read is one scalar load.
// These kernels return `Array(4)`: four outputs per thread that share each gathered read
// (shared/gpujs-webasm-speed.md, "Kernel shapes that win"). The output x extent is padded
// to a multiple of 4 (no scalar tail); lanes past the real width read neighbouring cells
// and their results are dropped.
//
// Index expressions are integer-clean, written for our patched code generator
// (patches/gpu.js+2.24.1.patch): every index is built from thread ids, Integer arguments,
// integer literals, `for` counters and locals that only ever hold such integers (patch 7
// keeps those in i32 locals instead of f32), so no read pays a float->int conversion; and
// the lane-varying read of the stride-1 kernels is `<uniform> + this.thread.x`, which
// patch 2 turns into one 16-byte load. Lane-uniform reads are not bounds-clamped by gpu.js,
// so the caller pads the operand read that way (matmul `a` rows to a multiple of 4, conv
// weights to an even channel count, conv dy to a multiple of 4 channels): every uniform
// read stays inside its array. Without the patch the same sources run correctly, slower.
//
// webasm returns an Array(4) result as one buffer laid out [.., x, 4]; gpujs.ts
// de-interleaves it into the op's layout (`deinterleaveN` below).

/** Round up to a multiple of 4. */
export const pad4 = (n: number): number => Math.ceil(n / 4) * 4;

/**
 * Batched matmul, R = `rows` rows per thread (4; 5..16 need gpu.js patch 8). `a` has a
 * multiple of R rows per batch (the caller pads) and batch stride `sa` (0: one matrix for
 * every batch); `b` is [.., K, N] with batch stride `sb`. Output dims [pad4(N), MR / R, B],
 * Array(R): thread (x, y, z) computes rows Ry..Ry+R-1 of column x of batch z. The `b` read
 * (contiguous across lanes) is shared by the R rows; the R `a` reads are lane-uniform.
 */
export function matmulBlockedKernel(rows = 4): KernelSpec {
  const r = Array.from({ length: rows }, (_, i) => i);
  const body = `let ai = this.thread.z * sa + this.thread.y * ${rows} * K;
  let bi = this.thread.z * sb;
  ${r.map((i) => `let s${i} = 0.0;`).join('\n  ')}
  for (let k = 0; k < K; k++) {
    const bv = b[bi + this.thread.x];
    ${r.map((i) => `s${i} += a[ai${i ? (i === 1 ? ' + K' : ` + K * ${i}`) : ''}] * bv;`).join('\n    ')}
    ai += 1;
    bi += N;
  }
  return [${r.map((i) => `s${i}`).join(', ')}];`;
  return {
    returnType: vecReturnType(rows),
    key: rows === 4 ? 'matmulBlocked' : `matmulBlocked:r${rows}`,
    source: fn(['a', 'b', 'K', 'N', 'sa', 'sb'], body),
    argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer', 'Integer'],
  };
}

/** The register tiles the blocked conv kernels support: [output rows, output channels] per thread. */
export type ConvTile = readonly [rows: number, channels: number];
/** Array(n) result types (n > 4: gpu.js patch 8, webasm only). */
export const vecReturnType = (n: number): VecReturnType => {
  if (!(Number.isInteger(n) && n >= 4 && n <= 16)) throw new Error(`vecReturnType: ${n} outputs per thread; expected 4 to 16`);
  return `Array(${n})` as VecReturnType;
};

/**
 * Direct conv2d (groups = 1) over a pre-padded NCHW input, OIHW weights with a multiple of
 * TC channels (TC * Ob: the caller pads), a tile of TR output rows x TC output channels per
 * thread (TR * TC = 4, 8 or 16 outputs; 8 and 16 need gpu.js patch 8). Output dims
 * [pad4(Wo), ceil(Ho/TR), N * Ob], Array(TR*TC): lane q = j * TR + r holds output channel
 * o = TC * (z % Ob) + j, row y = TR * thread.y + r. Kernel size, stride and dilation are
 * baked in (cache key), so the taps of the rows that read the same input pixel share one read.
 */
export function conv2dBlockedKernel(KH: number, KW: number, sh: number, sw: number, dh: number, dw: number, tile: ConvTile = [2, 2]): KernelSpec {
  const [TR, TC] = tile;
  const args = ['xp', 'w', 'Ob', 'Cin', 'Hp', 'Wp'];
  // distinct (input row, input col) offsets read by output rows r = 0..TR-1
  const reads = new Map<string, { rr: number; cc: number }>();
  const taps: { r: number; k: number; v: string }[] = [];
  for (let r = 0; r < TR; r++) {
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        const rr = r * sh + ky * dh;
        const cc = kx * dw;
        const v = `v${rr}_${cc}`;
        reads.set(v, { rr, cc });
        taps.push({ r, k: ky * KW + kx, v });
      }
    }
  }
  const KK = KH * KW;
  const lane = sw === 1 ? 'this.thread.x' : `this.thread.x * ${sw}`;
  const lines: string[] = [];
  for (const [v, { rr, cc }] of reads) {
    const off = [rr ? `Wp * ${rr}` : '', cc ? `${cc}` : ''].filter(Boolean).join(' + ');
    lines.push(`const ${v} = xp[xb${off ? ' + ' + off : ''} + ${lane}];`);
  }
  for (let j = 0; j < TC; j++) {
    for (let k = 0; k < KK; k++) {
      const off = [j ? (j === 1 ? 'wo1' : `wo1 * ${j}`) : '', k ? `${k}` : ''].filter(Boolean).join(' + ');
      lines.push(`const w${j}_${k} = w[wb${off ? ' + ' + off : ''}];`);
    }
  }
  const acc = (j: number, r: number) =>
    taps.filter((t) => t.r === r).map((t) => `${t.v} * w${j}_${t.k}`).join(' + ');
  const sums: string[] = [];
  for (let j = 0; j < TC; j++) for (let r = 0; r < TR; r++) sums.push(`s${j}_${r}`);
  const body = `const n = ((this.thread.z - this.thread.z % Ob) / Ob) | 0;
  const ob = this.thread.z - n * Ob;
  const wo1 = Cin * ${KK};
  const plane = Hp * Wp;
  let xb = n * Cin * plane + this.thread.y * ${TR * sh} * Wp;
  let wb = ob * ${TC} * wo1;
  ${sums.map((v) => `let ${v} = 0.0;`).join('\n  ')}
  for (let c = 0; c < Cin; c++) {
    ${lines.join('\n    ')}
    ${sums.map((v) => { const [j, r] = v.slice(1).split('_').map(Number); return `${v} += ${acc(j, r)};`; }).join('\n    ')}
    xb += plane;
    wb += ${KK};
  }
  return [${sums.join(', ')}];`;
  const tag = TR === 2 && TC === 2 ? '' : `:t${TR}x${TC}`;
  return {
    returnType: vecReturnType(TR * TC),
    key: `conv2dBlocked:${KH}x${KW}:s${sh},${sw}:d${dh},${dw}${tag}`,
    source: fn(args, body),
    argumentTypes: ['Array', 'Array', ...ints(args.length - 2)],
  };
}

/**
 * dL/dw of a groups = 1 conv2d, 4 output channels per thread, from the pre-padded input
 * and dy with a multiple of 4 channels (O4: the caller pads). Output dims
 * [pad4(Cin*KH*KW), O4 / 4], Array(4): thread (x, y) computes w[4y+q, c, ky, kx] for
 * x = (c * KH + ky) * KW + kx. The input read (a gather across lanes) is shared by the 4
 * channels; the 4 dy reads are lane-uniform.
 */
export function conv2dFilterGradBlockedKernel(KH: number, KW: number, sh: number, sw: number, dh: number, dw: number): KernelSpec {
  const args = ['xp', 'dy', 'N', 'Ho', 'Wo', 'O4', 'Cin', 'Hp', 'Wp'];
  const body = `const r = ((this.thread.x - this.thread.x % ${KW}) / ${KW}) | 0;
  const kx = this.thread.x - r * ${KW};
  const c = ((r - r % ${KH}) / ${KH}) | 0;
  const ky = r - c * ${KH};
  const P = Ho * Wo;
  const rowStep = Wp * ${sh};
  const plane = Cin * Hp * Wp;
  const dplane = O4 * P;
  let xn = (c * Hp + ky * ${dh}) * Wp + kx * ${dw};
  let dn = this.thread.y * 4 * P;
  let s0 = 0.0;
  let s1 = 0.0;
  let s2 = 0.0;
  let s3 = 0.0;
  for (let n = 0; n < N; n++) {
    let p0 = 0.0;
    let p1 = 0.0;
    let p2 = 0.0;
    let p3 = 0.0;
    let xr = xn;
    let di = dn;
    for (let y = 0; y < Ho; y++) {
      let xi = xr;
      for (let x = 0; x < Wo; x++) {
        const v = xp[xi];
        p0 += v * dy[di];
        p1 += v * dy[di + P];
        p2 += v * dy[di + P * 2];
        p3 += v * dy[di + P * 3];
        xi += ${sw};
        di += 1;
      }
      xr += rowStep;
    }
    s0 += p0;
    s1 += p1;
    s2 += p2;
    s3 += p3;
    xn += plane;
    dn += dplane;
  }
  return [s0, s1, s2, s3];`;
  return {
    returnType: 'Array(4)',
    key: `conv2dFilterGradBlocked:${KH}x${KW}:s${sh},${sw}:d${dh},${dw}`,
    source: fn(args, body),
    argumentTypes: ['Array', 'Array', ...ints(args.length - 2)],
  };
}

/**
 * dL/dw of a groups = 1 conv2d with column dilation 1 and KW <= 4, lanes over the kernel
 * column: thread (x, y, z) = (kx, c, output-channel block) computes w[TC*z + j, c, ky, kx]
 * for every ky and j < TC, Array(KH * TC) with lane q = j * KH + ky (needs gpu.js patch 8
 * when KH * TC > 4). The output x extent is 4 (one SIMD quad; lanes kx >= KW are dropped),
 * so the KH input reads per step are `<uniform> + this.thread.x`: contiguous v128 loads under
 * the patched generator instead of the 4-lane gathers of conv2dFilterGradBlockedKernel, and
 * each is shared by TC output channels. dy has a multiple of TC channels (OT: the caller
 * pads); its TC reads are lane-uniform. Output dims [4, Cin, OT / TC].
 */
export function conv2dFilterGradLaneKernel(KH: number, KW: number, sh: number, sw: number, dh: number, TC: number): KernelSpec {
  if (KW > 4) throw new Error(`conv2dFilterGradLaneKernel: KW ${KW}; expected <= 4`);
  const args = ['xp', 'dy', 'N', 'Ho', 'Wo', 'OT', 'Cin', 'Hp', 'Wp'];
  const acc: string[] = [];
  for (let j = 0; j < TC; j++) for (let ky = 0; ky < KH; ky++) acc.push(`${j}_${ky}`);
  const reads: string[] = [];
  for (let ky = 0; ky < KH; ky++) {
    const off = ky * dh;
    reads.push(`const v${ky} = xp[xi${off ? ` + Wp * ${off}` : ''} + this.thread.x];`);
  }
  for (let j = 0; j < TC; j++) reads.push(`const d${j} = dy[di${j ? (j === 1 ? ' + P' : ` + P * ${j}`) : ''}];`);
  const body = `const P = Ho * Wo;
  const rowStep = Wp * ${sh};
  const plane = Cin * Hp * Wp;
  const dplane = OT * P;
  let xn = this.thread.y * Hp * Wp;
  let dn = this.thread.z * ${TC} * P;
  ${acc.map((a) => `let s${a} = 0.0;`).join('\n  ')}
  for (let n = 0; n < N; n++) {
    ${acc.map((a) => `let p${a} = 0.0;`).join('\n    ')}
    let xr = xn;
    let di = dn;
    for (let y = 0; y < Ho; y++) {
      let xi = xr;
      for (let x = 0; x < Wo; x++) {
        ${reads.join('\n        ')}
        ${acc.map((a) => { const [j, ky] = a.split('_'); return `p${a} += v${ky} * d${j};`; }).join('\n        ')}
        xi += ${sw};
        di += 1;
      }
      xr += rowStep;
    }
    ${acc.map((a) => `s${a} += p${a};`).join('\n    ')}
    xn += plane;
    dn += dplane;
  }
  return [${acc.map((a) => `s${a}`).join(', ')}];`;
  return {
    returnType: vecReturnType(KH * TC),
    key: `conv2dFilterGradLane:${KH}x${KW}:s${sh},${sw}:d${dh}:t${TC}`,
    source: fn(args, body),
    argumentTypes: ['Array', 'Array', ...ints(args.length - 2)],
  };
}

/**
 * Undo the interleave of an Array(n) result (Array(4) through Array(16)). The buffer is
 * [nb, Hb, W4, n] (x padded to W4); lane q's value at (block b, row y, column x < W) goes to
 * out[dest(b, y, q) + x], and nowhere when dest returns -1.
 */
export function deinterleaveN(
  buf: Float32Array,
  out: Float32Array,
  n: number,
  nb: number,
  W4: number,
  W: number,
  Hb: number,
  dest: (b: number, y: number, q: number) => number,
): void {
  const d = new Array<number>(n);
  const rowLen = W4 * n;
  let base = 0;
  for (let b = 0; b < nb; b++) {
    for (let y = 0; y < Hb; y++, base += rowLen) {
      for (let q = 0; q < n; q++) d[q] = dest(b, y, q);
      for (let q = 0; q < n; q++) {
        const dq = d[q];
        if (dq < 0) continue;
        for (let x = 0, i = base + q; x < W; x++, i += n) out[dq + x] = buf[i];
      }
    }
  }
}

