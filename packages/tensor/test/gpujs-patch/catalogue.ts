// The kernels the patched gpu.js code generator must run bit-identically to the pristine one:
// hand-written shapes that hit each of the patch's three rewrites and their refusals (odd
// sizes, reads past both ends, divergent branches, scalar tails, counters used as floats,
// `+= 2` / `--` / `-= 3` counters, a counter assigned a float inside its loop, Array(4)
// returns, 1-D/2-D/3-D outputs, helpers) plus tapegrad's own kernel sources.

import * as K from '../../src/backends/kernels.ts';

export interface Case {
  name: string;
  source: string;
  output: number[];
  /** Builds the arguments with the given gpu.js copy (for `input()`). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  args: (lib: any) => unknown[];
  argumentTypes?: string[];
  constants?: Record<string, unknown>;
  functions?: string[];
  dynamic?: boolean;
}

/** Deterministic data: mostly [-2, 2], with -0, 0, a subnormal and large values mixed in. */
export function data(n: number, seed: number, special = true): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const u = s / 4294967296;
    out[i] = (u * 4 - 2);
    if (special) {
      const r = (s >>> 3) % 23;
      if (r === 0) out[i] = -0;
      else if (r === 1) out[i] = 0;
      else if (r === 2) out[i] = 1e-40;
      else if (r === 3) out[i] = -3e5;
    }
  }
  return out;
}

const fn = (args: string[], body: string) => `function (${args.join(', ')}) {\n  ${body}\n}`;
const X = 'this.thread.x';
const SIZES = [1, 3, 8, 13, 22];

const cases: Case[] = [];

/** A 1-D template over several odd and even output widths; `extra` is the input slack. */
function oneD(name: string, args: string[], body: string, mk: (n: number) => unknown[], opts: Partial<Case> = {}, sizes = SIZES) {
  for (const n of sizes) {
    cases.push({ name: `${name} n=${n}`, source: fn(args, body), output: [n], args: () => mk(n), ...opts });
  }
}

// --- contiguous reads (fix 2), with reads before the start and past the end
oneD('copy', ['a'], `return a[${X}];`, (n) => [data(n, 1)]);
for (const c of [-5, -1, 1, 3, 4, 7]) {
  const e = c < 0 ? `${X} - ${-c}` : `${X} + ${c}`;
  oneD(`shift literal ${c}`, ['a'], `return a[${e}] * 2.0;`, (n) => [data(n + 2, 2 + c)], {}, [3, 8, 13]);
}
for (const k of [-3, 0, 2, 9]) {
  oneD(`shift Integer arg ${k}`, ['a', 'k'], `return a[${X} + k] + a[k + ${X}] - a[${X} - k];`, (n) => [data(n + 3, 10 + k), k],
    { argumentTypes: ['Array', 'Integer'] }, [5, 12]);
}
oneD('two arrays, different lengths', ['a', 'b'], `return a[${X} + 1] * b[${X}] - b[${X} + 2];`, (n) => [data(n + 1, 3), data(Math.max(1, n - 2), 4)]);
oneD('float local offset (not contiguous)', ['a', 'k'], `const off = k * 2; return a[${X} + off];`, (n) => [data(n + 4, 5), 1], { argumentTypes: ['Array', 'Integer'] }, [3, 9]);
oneD('float arg offset (not contiguous)', ['a', 'f'], `return a[${X} + f];`, (n) => [data(n + 4, 6), 1.5], { argumentTypes: ['Array', 'Number'] }, [3, 9]);
oneD('constants array', ['a'], `return a[${X}] + this.constants.c[${X} + 2];`, (n) => [data(n, 7)], { constants: { c: data(12, 8) } }, [3, 8, 13]);

// --- loop counters (fix 1)
oneD('i++ window', ['a', 'b'], `let s = 0.0;\n  for (let i = 0; i < 7; i++) { s += a[${X} + i] * b[i]; }\n  return s;`, (n) => [data(n + 4, 11), data(7, 12)]);
oneD('i-- window, counter as float', ['a'], `let s = 0.0;\n  for (let i = 6; i >= 0; i--) { s += a[${X} + i] * (i + 0.5); }\n  return s;`, (n) => [data(n + 6, 13)]);
oneD('i += 2', ['a'], `let s = 0.0;\n  for (let i = 1; i < 9; i += 2) { s += a[i + ${X}] - i; }\n  return s;`, (n) => [data(n + 3, 14)]);
oneD('i -= 3', ['a'], `let s = 1.0;\n  for (let i = 9; i > -4; i -= 3) { s = s * 0.5 + a[${X} + i]; }\n  return s;`, (n) => [data(n + 5, 15)]);
oneD('counter used as float', ['a'], `let s = a[${X}];\n  for (let i = 0; i < 5; i++) { s += i * 0.5 + i / 3 + Math.sqrt(i) + Math.exp(-i * 0.25) + i % 2; s += i; }\n  return s;`, (n) => [data(n, 16)]);
oneD('counter assigned a float', ['a'], `let s = 0.0;\n  for (let i = 0; i < 6; i++) { if (a[${X}] > 0.0) { i = i + 0.5; } s += a[${X} + i] + i; }\n  return s;`, (n) => [data(n + 8, 17)]);
oneD('counter += float', ['a'], `let s = 0.0;\n  for (let i = 0; i < 4; i += 0.75) { s += a[${X} + i] * i; }\n  return s;`, (n) => [data(n + 8, 18)]);
oneD('negated counter', ['a'], `let s = 0.0;\n  for (let i = 0; i < 4; i++) { s += -i * a[${X}]; }\n  return s;`, (n) => [data(n, 19)]);
oneD('counter times Integer (may be -0)', ['a', 'k'], `let s = 0.0;\n  let t = 1.0;\n  for (let i = 0; i < 4; i++) { s += (i - 2) * k; t = t * ((i - 1) * k); }\n  return s + a[${X}] + t;`, (n) => [data(n, 20), -1], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);
oneD('negated counter returned (-0)', ['a'], `for (let i = 0; i < 4; i++) { if (a[${X} + i] > -5.0) { return -i; } }\n  return 1.0;`, (n) => [data(n + 4, 41)], {}, [3, 8]);
oneD('counter product returned (-0)', ['a', 'k'], `for (let i = 0; i < 4; i++) { if (i >= 1 && a[${X}] > -5.0) { return (i - 1) * k; } }\n  return 1.0;`, (n) => [data(n, 42), -1], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);
oneD('counter product returned, literal factor', ['a'], `for (let i = 0; i < 4; i++) { if (a[${X} + i] > 0.0) { return i * 3 + a[${X}]; } }\n  return 1.0;`, (n) => [data(n + 4, 43)], {}, [3, 8]);
oneD('counter product in index', ['a', 'k'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { s += a[i * k + ${X}]; }\n  return s;`, (n) => [data(n + 12, 21), 4], { argumentTypes: ['Array', 'Integer'] });
oneD('nested counters', ['a'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { for (let j = 0; j < 3; j++) { s += a[${X} + i * 3 + j] * (j - i); } }\n  return s;`, (n) => [data(n + 9, 22)]);
oneD('counter in ternary and bitwise', ['a'], `let s = 0.0;\n  for (let i = 0; i < 6; i++) { s += (i > 2 ? a[${X} + i] : i) + (i & 1) * 0.25 + (i << 1); }\n  return s;`, (n) => [data(n + 6, 23)]);
oneD('counter bound by Number arg', ['a', 'f'], `let s = 0.0;\n  for (let i = 0; i < f; i++) { s += a[${X} + i]; }\n  return s;`, (n) => [data(n + 4, 24), 2.5], { argumentTypes: ['Array', 'Number'] });
oneD('counter bound by Integer arg', ['a', 'm'], `let s = 0.0;\n  for (let i = 0; i < m; i++) { s += a[${X} + i] * i; }\n  return s;`, (n) => [data(n + 6, 25), 5], { argumentTypes: ['Array', 'Integer'] });
oneD('large literal with counter', ['a'], `let s = a[${X}];\n  for (let i = 0; i < 3; i++) { s += i * 20000000 + 1; }\n  return s;`, (n) => [data(n, 26)], {}, [3, 8]);
oneD('switch on counter', ['a'], `let s = 0.0;\n  for (let i = 0; i < 4; i++) { switch (i) { case 1: s += a[${X}]; break; case 2: s -= 1.0; break; default: s += 0.5; } }\n  return s;`, (n) => [data(n, 27)], {}, [3, 8]);
oneD('while inside for', ['a'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { let j = 0; while (j < i) { s += a[${X} + j]; j++; } }\n  return s;`, (n) => [data(n + 3, 28)], {}, [3, 9]);
oneD('returned counter', ['a'], `for (let i = 0; i < 9; i++) { if (a[${X} + i] > 1.0) { return i; } }\n  return -1;`, (n) => [data(n + 9, 29)]);

// --- integer locals (patch 7) and scalar arguments in locals (patch 6)
oneD('int local strength-reduced index', ['a', 'K'], `let ai = ${X} * 2;\n  const K2 = K * 2;\n  let s = 0.0;\n  for (let k = 0; k < 4; k++) { s += a[ai] - a[ai + K2]; ai += K; }\n  return s;`, (n) => [data(n * 2 + 40, 200), 3], { argumentTypes: ['Array', 'Integer'] });
oneD('uniform int local + thread.x (contiguous)', ['a', 'W'], `let base = W * 3;\n  let s = 0.0;\n  for (let r = 0; r < 3; r++) { s += a[base + ${X}] * (r + 1); base -= W; }\n  return s;`, (n) => [data(n * 4 + 8, 201), n], { argumentTypes: ['Array', 'Integer'] });
oneD('int local negated and returned (stays f32: -0)', ['a', 'k'], `const t = ${X} * k;\n  if (a[${X}] > 100.0) { return 1.0; }\n  return -t;`, (n) => [data(n, 202), 2], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);
oneD('int local negated and divided (stays f32: -Inf)', ['a', 'k'], `const t = ${X} - k;\n  return 1.0 / -t + a[${X}];`, (n) => [data(n, 203), 1], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);
oneD('int local as a float value (stays f32)', ['a'], `let t = ${X} * 3;\n  let s = a[${X}];\n  s += t;\n  return s;`, (n) => [data(n, 204)], {}, [3, 8]);
oneD('int local assigned a float (stays f32)', ['a'], `let t = 2;\n  if (a[${X}] > 0.0) { t = 0.5; }\n  return a[${X} + t];`, (n) => [data(n + 3, 205)], {}, [3, 8]);
oneD('int local *= (stays f32)', ['a'], `let t = 1;\n  for (let i = 0; i < 3; i++) { t *= 2; }\n  return a[t + ${X}];`, (n) => [data(n + 9, 206)], {}, [3, 8]);
oneD('int local from bitwise', ['a', 'O'], `const q = ((${X} - ${X} % O) / O) | 0;\n  const r = ${X} - q * O;\n  return a[q * 10 + r] + a[r];`, (n) => [data(40, 207), 3], { argumentTypes: ['Array', 'Integer'] });
oneD('int local in comparisons and ternary', ['a', 'm'], `const t = ${X} + m;\n  let s = 0.0;\n  if (t > 5) { s = a[t - 5]; }\n  return (t == 7 ? 1.0 : 0.0) + s;`, (n) => [data(n + 4, 208), 2], { argumentTypes: ['Array', 'Integer'] });
oneD('int local declared twice (stays f32)', ['a'], `let s = 0.0;\n  for (let i = 0; i < 2; i++) { const t = i * 2; s += a[t + ${X}]; }\n  for (let j = 0; j < 2; j++) { const t = j + 1; s += a[t + ${X}] * 2.0; }\n  return s;`, (n) => [data(n + 4, 209)], {}, [3, 8]);
oneD('int local negated in index', ['a', 'k'], `const t = ${X} * k;\n  return a[-t + 20];`, (n) => [data(24, 210), -1], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);
oneD('int local under a divergent branch', ['a'], `let t = 0;\n  if (a[${X}] > 0.0) { t = ${X} + 1; } else { t = ${X} + 2; }\n  return a[t];`, (n) => [data(n + 3, 211)]);
oneD('Number argument in a loop', ['a', 'f'], `let s = 0.0;\n  for (let i = 0; i < 5; i++) { s += a[${X} + i] * f; }\n  return s;`, (n) => [data(n + 5, 212), 0.75], { argumentTypes: ['Array', 'Number'] });
oneD('Boolean argument', ['a', 'flag'], `let s = a[${X}];\n  if (flag) { s = s * 2.0; }\n  return s;`, (n) => [data(n, 213), true], { argumentTypes: ['Array', 'Boolean'] }, [3, 8]);
oneD('assigned Integer argument', ['a', 'k'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { s += a[${X} + k]; k += 1; }\n  return s;`, (n) => [data(n + 6, 214), 1], { argumentTypes: ['Array', 'Integer'] }, [3, 8]);

// --- divergent control flow (masked gathers, varying loops)
oneD('divergent branch', ['a', 'b'], `if (a[${X}] > 0.0) { return b[${X} + 1]; } else { return b[${X} - 1] * 2.0; }`, (n) => [data(n, 30), data(n, 31)]);
oneD('masked uniform read', ['a', 'b', 'k'], `let s = 0.0;\n  if (a[${X}] > 0.5) { s = b[k] + b[${X} + k]; }\n  return s;`, (n) => [data(n, 32), data(n + 2, 33), 1], { argumentTypes: ['Array', 'Array', 'Integer'] });
oneD('varying trip count', ['a'], `let s = 0.0;\n  for (let i = 0; i < ${X} % 5; i++) { s += a[${X} + i]; }\n  return s;`, (n) => [data(n + 5, 34)]);
oneD('varying break', ['a'], `let s = 0.0;\n  for (let i = 0; i < 8; i++) { if (a[${X} + i] > 1.0) { break; } s += a[${X} + i]; }\n  return s;`, (n) => [data(n + 8, 35)]);
oneD('varying continue', ['a'], `let s = 0.0;\n  for (let i = 0; i < 6; i++) { if (a[${X} + i] < 0.0) { continue; } s += a[${X} + i] * i; }\n  return s;`, (n) => [data(n + 6, 36)]);
oneD('ternary reads', ['a'], `return a[${X}] > 0.0 ? a[${X} + 1] : a[${X} - 2];`, (n) => [data(n + 1, 37)]);
oneD('thread.x as float', [], `return ${X} * 0.5 - ${X} / 3;`, () => []);

// --- helpers (fix 3 must stay off: a helper may read thread state per lane)
cases.push(...[5, 12].map((n) => ({
  name: `helper reading thread.x n=${n}`,
  source: fn(['a'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { s += helperScale(a[${X} + i], i); }\n  return s + ${X};`),
  output: [n], args: () => [data(n + 3, 38)],
  functions: ['function helperScale(v, i) { return v * (i + 1) + this.thread.x; }'],
})));
cases.push(...[4, 11].map((n) => ({
  name: `helper without thread n=${n}`,
  source: fn(['a'], `return sq(a[${X}]) + a[${X} + 1];`),
  output: [n], args: () => [data(n + 1, 39)],
  functions: ['function sq(v) { return v * v; }'],
})));

// --- 2-D and 3-D outputs
for (const [w, h] of [[3, 2], [8, 3], [13, 5], [16, 4]]) {
  cases.push({
    name: `2-D nested input ${w}x${h}`,
    source: fn(['a'], `let s = 0.0;\n  for (let i = 0; i < 3; i++) { s += a[this.thread.y][${X} + i] * (i + 1); }\n  return s;`),
    output: [w, h], args: (lib) => [lib.input(data((w + 2) * h, 40 + w), [w + 2, h])],
  });
  cases.push({
    name: `2-D flat index ${w}x${h}`,
    source: fn(['a', 'W'], `return a[this.thread.y * W + ${X}] - a[this.thread.y * W + ${X} + 1];`),
    output: [w, h], args: () => [data(w * h, 50 + w), w], argumentTypes: ['Array', 'Integer'],
  });
  cases.push({
    name: `2-D Array(4) rows ${w}x${h}`,
    source: fn(['a', 'W'], `const r = this.thread.y * 4;\n  return [a[r * W + ${X}], a[(r + 1) * W + ${X}], a[(r + 2) * W + ${X}], a[(r + 3) * W + ${X}] * 2.0];`),
    output: [w, h], args: () => [data(w * h * 4, 60 + w), w], argumentTypes: ['Array', 'Integer'],
  });
}
for (const [w, h, d] of [[3, 2, 2], [8, 2, 3], [9, 3, 2]]) {
  cases.push({
    name: `3-D input ${w}x${h}x${d}`,
    source: fn(['a'], `return a[this.thread.z][this.thread.y][${X} + 1] + this.thread.z * 0.5 - this.thread.y;`),
    output: [w, h, d], args: (lib) => [lib.input(data(w * h * d, 70 + w), [w, h, d])],
  });
  cases.push({
    name: `3-D thread ids ${w}x${h}x${d}`,
    source: fn([], `return ${X} * 0.5 + this.thread.y - this.thread.z * 2;`),
    output: [w, h, d], args: () => [],
  });
}

// --- register-blocked matmul (Array(4) over 4 rows) and a direct 3x3 conv, at odd sizes
for (const [M, N, KK] of [[4, 3, 5], [8, 13, 7], [12, 8, 16], [4, 21, 3]]) {
  cases.push({
    name: `matmul 4-row block ${M}x${N}x${KK}`,
    source: fn(['a', 'b', 'K', 'N'], `const r0 = this.thread.y * 4;
  let s0 = 0.0; let s1 = 0.0; let s2 = 0.0; let s3 = 0.0;
  for (let k = 0; k < K; k++) {
    const bv = b[k * N + ${X}];
    s0 += a[r0 * K + k] * bv;
    s1 += a[(r0 + 1) * K + k] * bv;
    s2 += a[(r0 + 2) * K + k] * bv;
    s3 += a[(r0 + 3) * K + k] * bv;
  }
  return [s0, s1, s2, s3];`),
    output: [N, M / 4], args: () => [data(M * KK, 80 + M, false), data(KK * N, 81 + N, false), KK, N],
    argumentTypes: ['Array', 'Array', 'Integer', 'Integer'],
  });
}
for (const [W, H, C] of [[3, 3, 1], [8, 5, 2], [13, 4, 3], [16, 2, 2]]) {
  cases.push({
    name: `conv3x3 padded ${W}x${H} C${C}`,
    source: fn(['x', 'w', 'C', 'Hp', 'Wp'], `let s = 0.0;
  for (let c = 0; c < C; c++) {
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        s += x[((c * Hp + this.thread.y + ky) * Wp) + ${X} + kx] * w[(c * 3 + ky) * 3 + kx];
      }
    }
  }
  return s;`),
    output: [W, H], args: () => [data(C * (H + 2) * (W + 2), 90 + W), data(C * 9, 91 + C), C, H + 2, W + 2],
    argumentTypes: ['Array', 'Array', 'Integer', 'Integer', 'Integer'],
  });
}

// --- tapegrad's own kernels
function spec(name: string, s: K.KernelSpec, output: number[], args: () => unknown[]) {
  cases.push({ name: `tapegrad ${name} [${output}]`, source: s.source, argumentTypes: s.argumentTypes, output, args, dynamic: true });
}
for (const n of [5, 16, 23]) {
  for (const op of ['exp', 'silu', 'tanh', 'gelu', 'log', 'sigmoid', 'abs'] as const) spec(`unary ${op}`, K.unaryKernel(op), [n], () => [data(n, 100 + n)]);
  spec('copy', K.copyKernel(), [n], () => [data(n, 101)]);
}
for (const [M, N, KK, B] of [[3, 5, 7, 1], [4, 8, 9, 2], [2, 13, 4, 1]]) {
  spec('matmul', K.matmulKernel(), [N, M, B], () => [data(B * M * KK, 110 + M, false), data(B * KK * N, 111, false), KK, N, M * KK, KK * N]);
}
for (const [Wo, Ho, Cin, O] of [[3, 3, 1, 2], [8, 6, 2, 3], [13, 5, 3, 2]]) {
  const Hp = Ho + 2; const Wp = Wo + 2;
  spec('conv2d 3x3', K.conv2dKernel(3, 3), [Wo, Ho, O], () => [data(Cin * Hp * Wp, 120 + Wo), data(O * Cin * 9, 121), Cin, O, O, Cin, Hp, Wp, 1, 1, 1, 1]);
  spec('conv2d 1x1', K.conv2dKernel(1, 1), [Wo, Ho, O], () => [data(Cin * Ho * Wo, 122 + Wo), data(O * Cin, 123), Cin, O, O, Cin, Ho, Wo, 1, 1, 1, 1]);
  spec('conv2dFilterGrad', K.conv2dFilterGradKernel(), [O * Cin * 9], () => [data(Cin * Hp * Wp, 124 + Wo), data(O * Ho * Wo, 125), 1, Ho, Wo, Cin, O, O, Cin, Hp, Wp, 1, 1, 1, 1, 3, 3]);
}
for (const [outer, R, inner] of [[3, 5, 1], [2, 7, 4], [1, 300, 3]]) {
  for (const op of ['sum', 'max', 'min'] as const) spec(`reduce ${op}`, K.reduceKernel(op), [outer * inner], () => [data(outer * R * inner, 130 + R), R, inner]);
  for (const op of ['argmax', 'argmin'] as const) spec(op, K.argReduceKernel(op), [outer * inner], () => [data(outer * R * inner, 131 + R), R, inner]);
}
for (const [W, H] of [[5, 3], [8, 4]]) {
  spec('binary add rank 2', K.binaryKernel('add', 2), [W * H], () => [data(W * H, 140), data(W, 141), W, W, 1, 0, 1]);
  spec('maxPoolGather 2x2', K.maxPoolGatherKernel(2, 2), [W, H, 2], () => [data(2 * 2 * H * 2 * W, 142), data(2 * 2 * H * 2 * W, 143), 2 * H, 2 * W, 2, 2, 0, 0]);
  spec('dilatePad', K.dilatePadKernel(), [2 * W + 1, 2 * H + 1, 2], () => [data(2 * H * W, 144), H, W, 2, 2, 1, 1]);
}
// the register-blocked kernels, with the operands padded as gpujs.ts pads them
for (const [M4, N, KK, B] of [[4, 5, 7, 1], [8, 13, 3, 2], [4, 4, 16, 1]]) {
  spec('matmulBlocked', K.matmulBlockedKernel(), [K.pad4(N), M4 / 4, B], () => [data(B * M4 * KK, 160 + N, false), data(B * KK * N, 161, false), KK, N, M4 * KK, KK * N]);
}
for (const [Wo, Ho, Cin, Ob, s] of [[3, 3, 1, 1, 1], [8, 5, 2, 2, 1], [13, 4, 3, 1, 1], [5, 3, 2, 1, 2]]) {
  const Hp = (2 * Math.ceil(Ho / 2) - 1) * s + 3; const Wp = (K.pad4(Wo) - 1) * s + 3;
  spec(`conv2dBlocked 3x3 s${s}`, K.conv2dBlockedKernel(3, 3, s, s, 1, 1), [K.pad4(Wo), Math.ceil(Ho / 2), 2 * Ob], () => [data(2 * Cin * Hp * Wp, 162 + Wo), data(Ob * 2 * Cin * 9, 163), Ob, Cin, Hp, Wp]);
  spec(`conv2dFilterGradBlocked 3x3 s${s}`, K.conv2dFilterGradBlockedKernel(3, 3, s, s, 1, 1), [K.pad4(Cin * 9), Ob], () => [data(2 * Cin * Hp * Wp, 164 + Wo), data(2 * Ob * 4 * Ho * Wo, 165), 2, Ho, Wo, Ob * 4, Cin, Hp, Wp]);
}
spec('gather', K.gatherKernel(), [2 * 3 * 5], () => [data(2 * 4 * 5, 150), new Float32Array([3, 0, 2]), 3, 4, 5]);
spec('scatterAdd', K.scatterAddKernel(), [2 * 4 * 5], () => [data(2 * 3 * 5, 151), new Float32Array([3, 0, 3]), 3, 4, 5]);

export const CASES = cases;

// --- patch 8: Array(5..16) results. Pristine gpu.js cannot build them, so each wide kernel is
// compared with the same source cut into Array(4) kernels (its `return [...]` lists split into
// groups of 4, padded with 0.0) run on the pristine copy: every component must match bit for bit.

export interface WideCase extends Case {
  /** Components per cell (5..16). */
  n: number;
}

/** The source with every `return [e0, ..., e(n-1)];` cut to components 4k..4k+3 (0.0-padded). */
export function widePiece(source: string, k: number): string {
  let seen = 0;
  const out = source.replace(/return \[([\w\s,.]*)\];/g, (_m, list: string) => {
    seen++;
    const els = list.split(',').map((e) => e.trim());
    const part = els.slice(4 * k, 4 * k + 4);
    while (part.length < 4) part.push('0.0');
    return `return [${part.join(', ')}];`;
  });
  if (!seen) throw new Error('widePiece: no `return [...]` of identifiers in the source');
  return out;
}

const wide: WideCase[] = [];
const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
for (const n of [5, 8, 12, 16]) {
  // 1-D, quads and scalar tails, reads past both ends of the SIMD path's contiguous window
  const consts = ids('e', n).map((e, i) => `const ${e} = a[${X} + ${i % 3}] * ${i + 1}.0 - ${i}.5;`).join('\n  ');
  for (const size of [1, 3, 8, 13, 22]) {
    wide.push({ name: `Array(${n}) 1-D n=${size}`, n, source: fn(['a'], `${consts}\n  return [${ids('e', n).join(', ')}];`), output: [size], args: () => [data(size + 3, 200 + n + size)] });
  }
  // a divergent return under a lane mask, then the fall-through return
  const other = ids('f', n).map((e, i) => `const ${e} = a[${X}] * ${i}.0 + ${X};`).join('\n  ');
  for (const size of [7, 16]) {
    wide.push({ name: `Array(${n}) divergent return n=${size}`, n, source: fn(['a'], `${consts}\n  if (a[${X}] > 0.0) {\n    return [${ids('e', n).join(', ')}];\n  }\n  ${other}\n  return [${ids('f', n).join(', ')}];`), output: [size], args: () => [data(size + 3, 220 + n + size)] });
  }
  // the register-blocked form: loop accumulators, a 3-D output with a padded x extent
  const accs = ids('s', n);
  const body = `${accs.map((v) => `let ${v} = 0.0;`).join('\n  ')}
  for (let k = 0; k < K; k++) {
    const v = a[this.thread.z * K + k + ${X}];
    ${accs.map((v, i) => `${v} += v * ${i % 2 ? `(this.thread.y + ${i}.0)` : `b[k * ${n} + ${i}]`};`).join('\n    ')}
  }
  return [${accs.join(', ')}];`;
  for (const [w, h, d] of [[4, 1, 1], [8, 3, 2], [5, 2, 3]]) {
    wide.push({
      name: `Array(${n}) accumulators ${w}x${h}x${d}`, n, source: fn(['a', 'b', 'K'], body), output: [w, h, d], dynamic: true,
      args: () => [data(d * 7 + w + 8, 240 + n + w, false), data(7 * n, 241 + n, false), 7], argumentTypes: ['Array', 'Array', 'Integer'],
    });
  }
}
// tapegrad's wide conv kernels, with the operands padded as gpujs.ts pads them
function wideSpec(name: string, s: K.KernelSpec, output: number[], args: () => unknown[]) {
  const n = Number(/Array\((\d+)\)/.exec(s.returnType ?? '')?.[1]);
  wide.push({ name: `tapegrad ${name} [${output}]`, n, source: s.source, argumentTypes: s.argumentTypes, output, args, dynamic: true });
}
for (const [TR, TC] of [[4, 2], [2, 4], [4, 4], [2, 8], [3, 3], [1, 16]] as const) {
  for (const [Wo, Ho, Cin, Ob, st, dl] of [[3, 3, 1, 1, 1, 1], [8, 5, 2, 2, 1, 1], [13, 4, 3, 1, 1, 2], [5, 3, 2, 1, 2, 1]]) {
    const Hp = (TR * Math.ceil(Ho / TR) - 1) * st + 2 * dl + 1; const Wp = (K.pad4(Wo) - 1) * st + 2 * dl + 1;
    wideSpec(`conv2dBlocked 3x3 s${st} d${dl} tile ${TR}x${TC}`, K.conv2dBlockedKernel(3, 3, st, st, dl, dl, [TR, TC]), [K.pad4(Wo), Math.ceil(Ho / TR), 2 * Ob],
      () => [data(2 * Cin * Hp * Wp, 260 + Wo + TR), data(Ob * TC * Cin * 9, 261 + TC), Ob, Cin, Hp, Wp]);
  }
}
for (const [KH, KW, TC] of [[3, 3, 2], [3, 3, 4], [3, 3, 5], [2, 4, 4], [4, 2, 3]] as const) {
  for (const [Wo, Ho, Cin, Ob, st] of [[3, 3, 1, 1, 1], [7, 5, 2, 2, 1], [5, 3, 3, 1, 2]]) {
    const Hp = (Ho - 1) * st + KH; const Wp = (Wo - 1) * st + KW;
    wideSpec(`conv2dFilterGradLane ${KH}x${KW} s${st} TC${TC}`, K.conv2dFilterGradLaneKernel(KH, KW, st, st, 1, TC), [4, Cin, Ob],
      () => [data(2 * Cin * Hp * Wp, 280 + Wo + TC), data(2 * Ob * TC * Ho * Wo, 281 + KH), 2, Ho, Wo, Ob * TC, Cin, Hp, Wp]);
  }
}

for (const [R, M, N, KK, B] of [[8, 8, 5, 7, 1], [8, 16, 13, 3, 2], [16, 16, 4, 9, 1], [12, 24, 7, 5, 1]]) {
  wideSpec(`matmulBlocked rows ${R}`, K.matmulBlockedKernel(R), [K.pad4(N), M / R, B], () => [data(B * M * KK, 290 + N, false), data(B * KK * N, 291, false), KK, N, M * KK, KK * N]);
}

export const WIDE_CASES = wide;
