// nn's own helpers: a rank check, constants created on the backend of an existing tensor,
// and pytree helpers for ownership (dispose what an update replaced, never what it kept).
// The error constructor, the shape formatter and the tensor / number / integer checks are
// @tapegrad/tensor's (errors.ts), shared by every package.

import * as T from '@tapegrad/tensor';
import { isTensor, treeFlatten, treeFlattenWithPath, type Tensor, fmtShape, opError } from '@tapegrad/tensor';

/** A pytree: nested plain objects / arrays whose leaves are tensors (or host numbers). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Tree = any;

/** Parameters of a layer without parameters (activations, dropout, flatten, ...). */
export type NoParams = Record<string, never>;

export function checkRank(op: string, name: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) throw opError(op, `${name} must have rank ${rank} (${layout}), got shape ${fmtShape(t.shape)}`);
}

/** A constant from host values on the backend that holds `like` (not the current one). */
export function constOn(like: Tensor, values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return T.useBackend(like.backend, () => T.tensor(Float64Array.from(values), shape));
}

/** Run `fn` with `like`'s backend current (creation ops inside land next to `like`). */
export function withBackendOf<R>(like: Tensor, fn: () => R): R {
  return T.useBackend(like.backend, fn);
}

/** Every tensor leaf of a tree (non-tensor leaves are skipped). */
export function tensorsIn(tree: Tree): Tensor[] {
  return (treeFlatten(tree)[0] as unknown[]).filter(isTensor) as Tensor[];
}

/**
 * Dispose the tensors of `old` that do not appear (as the same object) in `next`: what an
 * update replaced. Tensors shared by both trees stay alive.
 */
export function disposeReplaced(old: Tree, next: Tree): void {
  const keep = new Set(tensorsIn(next));
  for (const t of tensorsIn(old)) if (!keep.has(t)) t.dispose();
}

/** Total number of scalar parameters in a tree of tensors. */
export function countParams(tree: Tree): number {
  return tensorsIn(tree).reduce((n, t) => n + t.size, 0);
}

/** Names (paths joined with '.') and shapes of every tensor in a tree, in flattening order. */
export function describeTree(tree: Tree): { name: string; shape: number[] }[] {
  return treeFlattenWithPath(tree)
    .filter(([, v]) => isTensor(v))
    .map(([name, v]) => ({ name, shape: (v as Tensor).shape.slice() }));
}
