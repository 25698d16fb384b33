// Shared helpers: error construction in the project's "<op>: <what>; expected <what>" form,
// argument validation, constants created on the backend of an existing tensor, and pytree
// helpers for ownership (dispose what an update replaced, never what it kept).

import * as T from '@tapegrad/tensor';
import { isTensor, treeFlatten, treeFlattenWithPath, type Tensor } from '@tapegrad/tensor';

/** A pytree: nested plain objects / arrays whose leaves are tensors (or host numbers). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Tree = any;

/** Parameters of a layer without parameters (activations, dropout, flatten, ...). */
export type NoParams = Record<string, never>;

export const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

export function nnError(op: string, message: string): Error {
  return new Error(`${op}: ${message}`);
}

export function checkInt(op: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw nnError(op, `${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkNumber(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity, loOpen = false, hiOpen = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const range = `${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw nnError(op, `${name} must be a finite number in ${range}, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

export function checkTensor(op: string, name: string, t: unknown): Tensor {
  if (!isTensor(t)) throw nnError(op, `${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.isDisposed) throw nnError(op, `${name} (shape ${fmt(t.shape)}) was already disposed; expected a live tensor`);
  return t;
}

export function checkRank(op: string, name: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) throw nnError(op, `${name} must have rank ${rank} (${layout}), got shape ${fmt(t.shape)}`);
}

/** A constant from host values on the backend that holds `like` (not the current one). */
export function constOn(like: Tensor, values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return T.useBackend(like.backend, () => T.tensor(Float64Array.from(values), shape));
}

/** Run `fn` with `like`'s backend current (creation ops inside land next to `like`). */
export function onBackendOf<R>(like: Tensor, fn: () => R): R {
  return T.useBackend(like.backend, fn);
}

/** Every tensor leaf of a tree (non-tensor leaves are skipped). */
export function tensorLeaves(tree: Tree): Tensor[] {
  return (treeFlatten(tree)[0] as unknown[]).filter(isTensor) as Tensor[];
}

/**
 * Dispose the tensors of `old` that do not appear (as the same object) in `next`: what an
 * update replaced. Tensors shared by both trees stay alive.
 */
export function disposeReplaced(old: Tree, next: Tree): void {
  const keep = new Set(tensorLeaves(next));
  for (const t of tensorLeaves(old)) if (!keep.has(t)) t.dispose();
}

/** Total number of scalar parameters in a tree of tensors. */
export function countParams(tree: Tree): number {
  return tensorLeaves(tree).reduce((n, t) => n + t.size, 0);
}

/** Names (paths joined with '.') and shapes of every tensor in a tree, in flattening order. */
export function describeTree(tree: Tree): { name: string; shape: number[] }[] {
  return treeFlattenWithPath(tree)
    .filter(([, v]) => isTensor(v))
    .map(([name, v]) => ({ name, shape: (v as Tensor).shape.slice() }));
}
