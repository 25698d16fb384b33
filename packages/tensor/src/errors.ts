// The one home of what every package needs to report bad input in the README's form,
// "<op the user called>: <what was passed and what is wrong>; expected <what>":
// the error constructor, the public-op context that makes internal ops report the op the
// user called, ONE shape/value formatter, argument checks (tensor, number, integer), and
// the collection of the tensors of a pytree (cycle-safe). Used by tensor, autograd and nn.

import { isTensor, type Tensor } from './tensor.ts';

// ---------------------------------------------------------------------------------------
// Public-op context

/**
 * The public ops currently running, outermost first. An error raised by an internal op
 * (`max` inside `softmax`, the backend's `binary` inside `add`, `pad` inside `conv2d`) is
 * reported under the op the user called, `softmax: max: ...`.
 */
const opStack: string[] = [];

/** The op the user called (the outermost running public op), if any. */
export function currentPublicOp(): string | undefined {
  return opStack[0];
}

/**
 * Run `fn` as the public op `name`: errors created with opError inside start with `name`.
 * Synchronous functions only (the context ends when `fn` returns).
 */
export function withOp<R>(name: string, fn: () => R): R {
  opStack.push(name);
  try {
    return fn();
  } finally {
    opStack.pop();
  }
}

/** Argument kinds a public op can declare: checked before the op runs. */
export type ArgKind =
  | 'tensor' // a live Tensor
  | 'tensorLike' // a live Tensor or a number
  | 'tensors' // a non-empty array of live tensors
  | 'required' // anything but undefined
  | 'any';

/**
 * Wrap `fn` as the public op `name`: declared arguments are checked (by position, with
 * their names, e.g. `['x:tensor', 'kernel:required']`), and errors raised inside name `name`.
 */
export function publicOp<F extends (...args: any[]) => any>(name: string, fn: F, args: readonly string[] = []): F { // eslint-disable-line @typescript-eslint/no-explicit-any
  const spec = args.map((a) => {
    const [argName, kind = 'any'] = a.split(':');
    return { argName, kind: kind as ArgKind };
  });
  const wrapped = function (this: unknown, ...callArgs: unknown[]) {
    opStack.push(name);
    try {
      spec.forEach(({ argName, kind }, i) => checkArg(name, argName, kind, callArgs[i], i, callArgs.length));
      return fn.apply(this, callArgs);
    } finally {
      opStack.pop();
    }
  };
  Object.defineProperty(wrapped, 'name', { value: name });
  return wrapped as unknown as F;
}

function checkArg(op: string, name: string, kind: ArgKind, v: unknown, i: number, n: number): void {
  if (kind === 'any') return;
  if (kind === 'required') {
    if (v === undefined) throw opError(op, `argument '${name}' (position ${i}) is missing${n <= i ? ` (called with ${n} argument${n === 1 ? '' : 's'})` : ''}; expected a value`);
    return;
  }
  if (kind === 'tensors') {
    if (!Array.isArray(v) || v.length === 0) throw opError(op, `argument '${name}' must be a non-empty array of tensors, got ${describeValue(v)}`);
    v.forEach((t, k) => checkTensor(op, `${name}[${k}]`, t));
    return;
  }
  if (kind === 'tensorLike' && typeof v === 'number') return;
  if (!isTensor(v)) {
    throw opError(op, `argument '${name}' must be a Tensor${kind === 'tensorLike' ? ' or a number' : ''}, got ${describeValue(v)}`);
  }
  checkTensor(op, name, v);
}

// ---------------------------------------------------------------------------------------
// Errors

/** The Error of every op: `message` is `<op>: <detail>`; `op` is the op the user called. */
export class OpError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(message);
    this.name = 'Error';
  }
}

/**
 * An Error whose message starts with the op name, e.g. `add: shapes [2,3] and [4] ...`.
 * Inside a public op other than `op` (an internal op of a composite), the message starts
 * with the public op: `softmax: max: ...`.
 */
export function opError(op: string, message: string): Error {
  const user = opStack[0];
  if (user !== undefined && user !== op && !op.startsWith(`${user}.`)) return new OpError(user, `${user}: ${op}: ${message}`);
  return new OpError(op, `${op}: ${message}`);
}

// ---------------------------------------------------------------------------------------
// Formatting: one format for shapes and values in every message

/** `[2,3]`: the README's shape format, used by every message. */
export function fmtShape(s: readonly unknown[]): string {
  return `[${Array.from(s, fmtValue).join(',')}]`;
}

/**
 * A value as a message shows it: numbers as JS prints them (NaN, Infinity, -0 stay
 * readable, unlike JSON), arrays as `[a,b]`, strings quoted, objects by class.
 */
export function fmtValue(v: unknown): string {
  return fmtInner(v, new Set());
}

function fmtInner(v: unknown, seen: Set<unknown>): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}`;
  if (typeof v === 'symbol') return v.toString();
  if (isTensor(v)) return v.toString();
  if (seen.has(v)) return '<cycle>';
  seen.add(v);
  try {
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      const a = Array.from(v as ArrayLike<unknown>);
      const shown = a.slice(0, 16).map((x) => fmtInner(x, seen));
      if (a.length > 16) shown.push(`... (${a.length} entries)`);
      return `[${shown.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const keys = Object.keys(v as object);
      const shown = keys.slice(0, 8).map((k) => `${k}: ${fmtInner((v as Record<string, unknown>)[k], seen)}`);
      if (keys.length > 8) shown.push('...');
      return `{ ${shown.join(', ')} }`;
    }
    return `an object of class ${(v as object).constructor?.name ?? 'Object'}`;
  } finally {
    seen.delete(v);
  }
}

/** What a value is, for "got ..." in messages: `a number (NaN)`, `null`, `an array`, ... */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `the number ${fmtValue(v)}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (typeof v === 'function') return fmtValue(v);
  if (isTensor(v)) return v.toString();
  if (Array.isArray(v)) return `an array ${fmtValue(v)}`;
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null ? `an object ${fmtValue(v)}` : fmtValue(v);
  }
  return typeof v;
}

// ---------------------------------------------------------------------------------------
// Argument checks

/** `t` is a live Tensor (named `name` in the error). */
export function checkTensor(op: string, name: string, t: unknown): Tensor {
  if (!isTensor(t)) throw opError(op, `${name} must be a Tensor, got ${describeValue(t)}`);
  if (t.isDisposed) throw opError(op, `${name} (tensor #${t.id} of shape ${fmtShape(t.shape)}) was already disposed; expected a live tensor`);
  return t;
}

/** A finite number in the range [lo, hi] (open ends with loOpen / hiOpen). */
export function checkNumber(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity, loOpen = false, hiOpen = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const range = `${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw opError(op, `${name} must be a finite number in ${range}, got ${typeof v === 'number' ? fmtValue(v) : describeValue(v)}`);
  }
  return v as number;
}

/** An integer >= min (and <= max). */
export function checkInt(op: string, name: string, v: unknown, min = 1, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw opError(op, `${name} must be an integer ${range}, got ${typeof v === 'number' ? fmtValue(v) : describeValue(v)}`);
  }
  return v;
}

/** A function argument (e.g. the f of a transform, the fn of tidy). */
export function checkFunction(op: string, name: string, v: unknown): void {
  if (typeof v !== 'function') throw opError(op, `${name} must be a function, got ${describeValue(v)}`);
}

// ---------------------------------------------------------------------------------------
// Pytree tensor collection

/** A plain object (Object.prototype or null prototype): a pytree node. */
export const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null);

/**
 * Add every tensor of a pytree (nested arrays and plain objects) to `into`. A tree that
 * contains itself is an error (`op: the tree contains a cycle ...`), never a stack overflow.
 */
export function collectTensors(op: string, x: unknown, into: Set<Tensor> = new Set()): Set<Tensor> {
  const path: unknown[] = [];
  const walk = (v: unknown): void => {
    if (isTensor(v)) {
      into.add(v);
      return;
    }
    if (!Array.isArray(v) && !isPlainObject(v)) return;
    if (path.includes(v)) throw opError(op, 'the tree contains a cycle (an array or object that contains itself); expected a tree of tensors');
    path.push(v);
    if (Array.isArray(v)) for (const c of v) walk(c);
    else for (const k of Object.keys(v)) walk(v[k]);
    path.pop();
  };
  walk(x);
  return into;
}
