// Matching pytrees leaf by leaf with errors that list every difference by name.

import { isTensor, treeFlatten, treeFlattenWithPath, type Tensor, type TreeDef, fmtShape, opError } from '@tapegrad/tensor';
import { type Tree } from './util.ts';

export interface FlatTree {
  leaves: Tensor[];
  paths: string[];
  def: TreeDef;
}

/** Flatten a tree whose leaves must all be live tensors (errors name the offending path). */
export function flattenTensors(op: string, what: string, tree: Tree): FlatTree {
  const [leaves, def] = treeFlatten(tree);
  const paths = treeFlattenWithPath(tree).map(([p]) => p);
  leaves.forEach((l, i) => {
    const name = paths[i] === '' ? what : `${what}.${paths[i]}`;
    if (!isTensor(l)) throw opError(op, `${name} is ${l === null ? 'null' : typeof l}; expected a Tensor`);
    if (l.isDisposed) throw opError(op, `${name} (shape ${fmtShape(l.shape)}) was already disposed; expected a live tensor`);
  });
  return { leaves: leaves as Tensor[], paths, def };
}

/**
 * Check that `other` has exactly the names and shapes of `ref`; the error lists every name
 * missing from `other`, every extra name and every shape mismatch.
 */
export function checkSameTree(op: string, refName: string, ref: FlatTree, otherName: string, other: FlatTree): void {
  const a = new Map(ref.paths.map((p, i) => [p, ref.leaves[i]]));
  const b = new Map(other.paths.map((p, i) => [p, other.leaves[i]]));
  const problems: string[] = [];
  for (const [p, t] of a) {
    const u = b.get(p);
    if (!u) problems.push(`missing from ${otherName}: '${p}' ${fmtShape(t.shape)}`);
    else if (u.shape.join() !== t.shape.join()) problems.push(`shape of '${p}': ${otherName} ${fmtShape(u.shape)} vs ${refName} ${fmtShape(t.shape)}`);
  }
  for (const [p, u] of b) if (!a.has(p)) problems.push(`unexpected in ${otherName}: '${p}' ${fmtShape(u.shape)}`);
  if (problems.length === 0 && ref.paths.join('\0') !== other.paths.join('\0')) problems.push('same names in a different structure');
  if (problems.length) {
    throw opError(op, `${otherName} does not match ${refName} (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.join('; ')}`);
  }
}
