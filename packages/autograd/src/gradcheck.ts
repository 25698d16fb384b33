// gradcheck / gradgradcheck: compare the VJP of a function on the backend under test with
// finite differences computed in float64 on the reference backend.
//
// Direction check (always): for random u (output shape) and v (input shapes),
//   analytic  = sum_i <(J_i^T u), v_i>          (one vjp on the backend under test)
//   numeric   = d/dt <u, f(x + t v)> at t = 0   (4-point central difference, float64)
// Full-Jacobian check (opts.jacobian, small inputs): every entry of J, the rows from vjps
// with basis cotangents, the columns from central differences along basis directions.
//
// Tolerance: |analytic - numeric| <= atol + rtol * scale, where scale is the same sum taken
// over absolute values (sum |J^T u| |v|), i.e. the size of the numbers that were added: a
// float32 backend is allowed float32 rounding of those terms, no more. Defaults per backend
// are in TOLERANCES; float32 rounding of a k-term reduction grows like k * 6e-8, so the
// defaults (rtol 2e-3 on float32 backends) leave ample room for real kernels and none for a
// wrong rule, whose error is of the order of the gradient itself.

import * as T from '@tapegrad/tensor';
import {
  checkFunction, checkInt, checkNumber, checkTensor, describeValue, fmtShape, fmtValue, isTensor, opError, randomKey, useBackend,
  type BackendName, type Tensor,
} from '@tapegrad/tensor';
import { vjp } from './transforms.ts';

export interface GradcheckOptions {
  /** Random (u, v) direction pairs (default 3). */
  directions?: number;
  /** Also compare every Jacobian entry (cost: one vjp per output element). */
  jacobian?: boolean;
  /** Finite-difference step in float64 (default 1e-4; the 4-point rule's error is O(h^4)). */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Seed of the random directions (default 0). */
  seed?: number;
  /** Indices of the inputs to check (default: all). */
  argnums?: number[];
  /** Throw an Error describing the worst mismatch (default true). */
  throwOnFailure?: boolean;
}

export interface GradcheckMismatch {
  kind: 'direction' | 'jacobian';
  /** Direction number, or for 'jacobian' the input index. */
  index: number;
  /** For 'jacobian': [output element, input element]. */
  entry?: [number, number];
  analytic: number;
  numeric: number;
  tolerance: number;
}

export interface GradcheckReport {
  ok: boolean;
  backend: BackendName;
  checks: number;
  /** max over checks of |analytic - numeric| / tolerance (<= 1 passes). */
  maxErrorRatio: number;
  maxAbsError: number;
  worst: GradcheckMismatch | null;
  rtol: number;
  atol: number;
}

/** Default tolerances per backend (float64 reference vs the float32 gpu.js backends). */
export const TOLERANCES: Record<BackendName, { rtol: number; atol: number }> = {
  reference: { rtol: 1e-6, atol: 1e-9 },
  cpu: { rtol: 2e-3, atol: 1e-5 },
  webasm: { rtol: 2e-3, atol: 1e-5 },
  webgpu: { rtol: 2e-3, atol: 1e-5 },
};

type Fn = (...xs: Tensor[]) => Tensor;

function normals(seed: number, n: number): Float64Array {
  // host-side Box-Muller over the library's counter-based generator
  const t = useBackend('reference', () => T.randomNormal(randomKey(seed), [n]));
  try {
    return t.dataSync() as Float64Array;
  } finally {
    t.dispose();
  }
}

async function host(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const absDot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] * b[i]);
  return s;
};

/** <u, f(x + t v)> in float64 on the reference backend. */
function phi(f: Fn, xs: Float64Array[], shapes: (readonly number[])[], dirs: Float64Array[], t: number, u: Float64Array): number {
  try {
    return useBackend('reference', () =>
      T.tidy(() => {
        const args = xs.map((x, i) => T.tensor(x.map((xv, k) => xv + t * dirs[i][k]), shapes[i]));
        const y = f(...args);
        if (!isTensor(y)) throw opError('gradcheck', 'f must return a Tensor');
        return dot(y.dataSync(), u);
      }),
    );
  } catch (e) {
    const msg = (e as Error).message ?? '';
    if (/live on different backends/.test(msg)) {
      throw opError(
        'gradcheck',
        `f reads a tensor it did not receive as an input (${msg}). The finite differences ` +
          'run f again in float64 on the reference backend, so pass every tensor f uses as an input ' +
          '(choose which ones are checked with the argnums option).',
      );
    }
    throw e;
  }
}

/** 4-point central difference of phi at 0: (-phi(2h) + 8phi(h) - 8phi(-h) + phi(-2h)) / 12h. */
function derivative(p: (t: number) => number, h: number): number {
  return (-p(2 * h) + 8 * p(h) - 8 * p(-h) + p(-2 * h)) / (12 * h);
}

const OPTION_NAMES = ['directions', 'jacobian', 'eps', 'rtol', 'atol', 'seed', 'argnums', 'throwOnFailure'];

/**
 * Validate the options of the checking API: anything that could make a check vacuous (no
 * checks at all, a negative or non-finite tolerance, a zero step) or crash it later (an
 * argnum out of range) is an error of the README's form. `extra` names further accepted keys.
 */
export function checkGradcheckOptions(op: string, opts: unknown, nInputs: number | undefined, extra: readonly string[] = []): GradcheckOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw opError(op, `options must be an object, got ${describeValue(opts)}`);
  const o = opts as Record<string, unknown>;
  const known = [...OPTION_NAMES, ...extra];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw opError(op, `unknown option '${k}'; expected some of ${known.join(', ')}`);
  }
  if (o.directions !== undefined) checkInt(op, 'options.directions', o.directions, o.jacobian === true ? 0 : 1);
  for (const k of ['jacobian', 'throwOnFailure']) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw opError(op, `options.${k} must be a boolean, got ${describeValue(o[k])}`);
  }
  if (o.eps !== undefined) checkNumber(op, 'options.eps (the finite-difference step)', o.eps, 0, Infinity, true);
  if (o.rtol !== undefined) checkNumber(op, 'options.rtol', o.rtol, 0);
  if (o.atol !== undefined) checkNumber(op, 'options.atol', o.atol, 0);
  if (o.seed !== undefined) checkInt(op, 'options.seed', o.seed, 0, Number.MAX_SAFE_INTEGER);
  if (o.argnums !== undefined) {
    const a = o.argnums;
    if (!Array.isArray(a) || a.length === 0) throw opError(op, `options.argnums must be a non-empty array of input indices, got ${describeValue(a)}`);
    a.forEach((i, k) => checkInt(op, `options.argnums[${k}]`, i, 0, nInputs === undefined ? Infinity : nInputs - 1));
    if (new Set(a).size !== a.length) throw opError(op, `options.argnums ${fmtValue(a)} contains a duplicate`);
  }
  return o as GradcheckOptions;
}

function checkInputs(op: string, f: unknown, inputs: unknown): asserts inputs is Tensor[] {
  checkFunction(op, 'f', f);
  if (!Array.isArray(inputs) || inputs.length === 0) throw opError(op, `inputs must be a non-empty array of tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => checkTensor(op, `inputs[${i}]`, t));
}

/** Check the VJP of `f` at `inputs` (tensors on the backend under test). */
export async function gradcheck(f: Fn, inputs: Tensor[], opts: GradcheckOptions = {}): Promise<GradcheckReport> {
  checkInputs('gradcheck', f, inputs);
  checkGradcheckOptions('gradcheck', opts, inputs.length);
  const backend = inputs[0].backend;
  const tol = { ...TOLERANCES[backend], ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}), ...(opts.atol !== undefined ? { atol: opts.atol } : {}) };
  const h = opts.eps ?? 1e-4;
  const argnums = opts.argnums ?? inputs.map((_, i) => i);
  const shapes = inputs.map((t) => t.shape);
  const xs = await Promise.all(inputs.map(host));
  const onB = <R>(fn: () => R): R => useBackend(backend, fn);

  const mark = T.creationMark();
  const [out, vjpFn] = onB(() => vjp(f, ...inputs));
  const report: GradcheckReport = { ok: true, backend, checks: 0, maxErrorRatio: 0, maxAbsError: 0, worst: null, ...tol };
  const consider = (m: GradcheckMismatch, scale: number) => {
    const err = Math.abs(m.analytic - m.numeric);
    m.tolerance = tol.atol + tol.rtol * scale;
    const ratio = err / m.tolerance;
    report.checks++;
    report.maxAbsError = Math.max(report.maxAbsError, err);
    if (!(ratio <= report.maxErrorRatio) || report.worst === null) {
      if (ratio > report.maxErrorRatio || report.worst === null || Number.isNaN(ratio)) {
        report.maxErrorRatio = Number.isNaN(ratio) ? Infinity : Math.max(report.maxErrorRatio, ratio);
        report.worst = m;
      }
    }
    if (!(ratio <= 1)) report.ok = false;
  };
  try {
    if (!isTensor(out)) throw opError('gradcheck', 'f must return a Tensor');
    const outShape = out.shape;
    const nOut = out.size;
    /** The input cotangents for a host cotangent `u` of the output (on the backend under test). */
    const vjpAt = (u: Float64Array): Tensor[] =>
      onB(() => {
        const ut = T.tensor(u, outShape);
        try {
          return vjpFn(ut) as Tensor[];
        } finally {
          ut.dispose();
        }
      });
    const seed = opts.seed ?? 0;
    for (let d = 0; d < (opts.directions ?? 3); d++) {
      const u = normals(seed * 1000 + d * 97 + 1, nOut);
      const dirs = inputs.map((t, i) => (argnums.includes(i) ? normals(seed * 1000 + d * 97 + 2 + i, t.size) : new Float64Array(t.size)));
      const gs = vjpAt(u);
      let analytic = 0;
      let scale = 0;
      try {
        for (const i of argnums) {
          const g = await host(gs[i]);
          analytic += dot(g, dirs[i]);
          scale += absDot(g, dirs[i]);
        }
      } finally {
        T.dispose(gs);
      }
      const numeric = derivative((t) => phi(f, xs, shapes, dirs, t, u), h);
      consider({ kind: 'direction', index: d, analytic, numeric, tolerance: 0 }, scale);
    }
    if (opts.jacobian) {
      for (const i of argnums) {
        const n = inputs[i].size;
        // numeric columns
        const cols: Float64Array[] = [];
        for (let j = 0; j < n; j++) {
          const dirs = inputs.map((t, k) => {
            const z = new Float64Array(t.size);
            if (k === i) z[j] = 1;
            return z;
          });
          const col = new Float64Array(nOut);
          for (let o = 0; o < nOut; o++) {
            const e = new Float64Array(nOut);
            e[o] = 1;
            col[o] = derivative((t) => phi(f, xs, shapes, dirs, t, e), h);
          }
          cols.push(col);
        }
        // analytic rows
        for (let o = 0; o < nOut; o++) {
          const e = new Float64Array(nOut);
          e[o] = 1;
          const gs = vjpAt(e);
          let row: Float64Array;
          try {
            row = await host(gs[i]);
          } finally {
            T.dispose(gs);
          }
          for (let j = 0; j < n; j++) {
            consider({ kind: 'jacobian', index: i, entry: [o, j], analytic: row[j], numeric: cols[j][o], tolerance: 0 }, Math.abs(cols[j][o]) + 1e-3);
          }
        }
      }
    }
  } finally {
    vjpFn.dispose();
    T.disposeCreatedSince(out, mark); // never a tensor f returned from outside
  }
  if (!report.ok && opts.throwOnFailure !== false) {
    const w = report.worst!;
    const where = w.kind === 'direction' ? `random direction ${w.index}` : `Jacobian entry (output ${w.entry![0]}, input ${w.index} element ${w.entry![1]})`;
    throw opError(
      'gradcheck',
      `failed on backend '${backend}' at ${where}: analytic ${w.analytic} vs numeric ${w.numeric} ` +
        `(|diff| ${Math.abs(w.analytic - w.numeric).toExponential(3)} > tolerance ${w.tolerance.toExponential(3)}; rtol ${tol.rtol}, atol ${tol.atol}); ` +
        `${report.checks} checks, input shapes ${shapes.map(fmtShape).join(', ')}`,
    );
  }
  return report;
}

/**
 * Check second derivatives: gradcheck of (xs, u) -> sum_i <vjp(f, xs)(u)_i, w_i> for a fixed
 * random u-shaped input and random w, i.e. of the backward pass itself.
 */
export async function gradgradcheck(f: Fn, inputs: Tensor[], opts: GradcheckOptions = {}): Promise<GradcheckReport> {
  checkInputs('gradgradcheck', f, inputs);
  checkGradcheckOptions('gradgradcheck', opts, inputs.length);
  const backend = inputs[0].backend;
  const outShape = useBackend(backend, () => T.tidy(() => f(...inputs).shape.slice()));
  const seed = (opts.seed ?? 0) + 7919;
  const ws = inputs.map((t, i) => normals(seed + i, t.size));
  const u0 = normals(seed + 101, outShape.reduce((a, b) => a * b, 1));
  const F = (...args: Tensor[]): Tensor => {
    const xs = args.slice(0, inputs.length);
    const u = args[inputs.length];
    return T.tidy(() => {
      const [, back] = vjp(f, ...xs);
      try {
        const gs = back(u) as Tensor[];
        return gs.map((g, i) => T.sum(T.mul(g, T.tensor(ws[i], g.shape)))).reduce((a, b) => T.add(a, b));
      } finally {
        back.dispose();
      }
    });
  };
  const u = useBackend(backend, () => T.tensor(u0, outShape));
  try {
    return await gradcheck(F, [...inputs, u], { ...opts, argnums: opts.argnums ? [...opts.argnums, inputs.length] : undefined });
  } finally {
    u.dispose();
  }
}
