// Pytrees: nested plain objects and arrays whose leaves are tensors (or anything that is
// not a plain object or array). Object keys are visited in sorted order, as in JAX, so a
// tree's flattening does not depend on how its objects were built.

import { isPlainObject, opError } from './errors.ts';

export type TreeDef =
  | { kind: 'leaf' }
  | { kind: 'array'; children: TreeDef[] }
  | { kind: 'object'; keys: string[]; children: TreeDef[] };


/** Refuse a tree that contains itself (it has no flattening), naming the op and the path. */
function enter(op: string, stack: unknown[], x: unknown, path: readonly string[]): void {
  if (stack.includes(x)) {
    throw opError(op, `the tree contains a cycle: ${path.length ? `'${path.join('.')}'` : 'the root'} contains one of its ancestors; expected a tree (nested arrays and plain objects without cycles)`);
  }
  stack.push(x);
}

/** Leaves in order and the structure to rebuild the tree from them. */
export function treeFlatten(tree: unknown, op = 'treeFlatten'): [unknown[], TreeDef] {
  const leaves: unknown[] = [];
  const stack: unknown[] = [];
  const walk = (x: unknown, path: string[]): TreeDef => {
    if (Array.isArray(x) || isPlainObject(x)) {
      enter(op, stack, x, path);
      try {
        if (Array.isArray(x)) return { kind: 'array', children: x.map((v, i) => walk(v, [...path, String(i)])) };
        const keys = Object.keys(x).sort();
        return { kind: 'object', keys, children: keys.map((k) => walk(x[k], [...path, k])) };
      } finally {
        stack.pop();
      }
    }
    leaves.push(x);
    return { kind: 'leaf' };
  };
  const def = walk(tree, []);
  return [leaves, def];
}

/** Leaves with their paths, e.g. ['down.0.conv.weight', t] (keys joined with '.'). */
export function treeFlattenWithPath(tree: unknown, sep = '.'): [string, unknown][] {
  const out: [string, unknown][] = [];
  const stack: unknown[] = [];
  const walk = (x: unknown, path: string[]): void => {
    if (!Array.isArray(x) && !isPlainObject(x)) {
      out.push([path.join(sep), x]);
      return;
    }
    enter('treeFlattenWithPath', stack, x, path);
    if (Array.isArray(x)) x.forEach((v, i) => walk(v, [...path, String(i)]));
    else for (const k of Object.keys(x).sort()) walk(x[k], [...path, k]);
    stack.pop();
  };
  walk(tree, []);
  return out;
}

export function treeLeaves(tree: unknown): unknown[] {
  return treeFlatten(tree, 'treeLeaves')[0];
}

export function treeUnflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    if (d.kind === 'leaf') {
      if (i >= leaves.length) throw opError('treeUnflatten', `the structure needs more than the ${leaves.length} leaves given`);
      return leaves[i++];
    }
    if (d.kind === 'array') return d.children.map(build);
    const o: Record<string, unknown> = {};
    // defineProperty, not assignment: a key such as '__proto__' must stay an own key
    d.keys.forEach((k, j) => Object.defineProperty(o, k, { value: build(d.children[j]), enumerable: true, writable: true, configurable: true }));
    return o;
  };
  const out = build(def);
  if (i !== leaves.length) throw opError('treeUnflatten', `the structure has ${i} leaves but ${leaves.length} were given`);
  return out as T;
}

/** Apply `fn` to corresponding leaves of `tree` and of `rest` (same structure). */
export function treeMap<R = unknown>(fn: (leaf: any, ...rest: any[]) => unknown, tree: unknown, ...rest: unknown[]): R { // eslint-disable-line @typescript-eslint/no-explicit-any
  const [leaves, def] = treeFlatten(tree, 'treeMap');
  const others = rest.map((r, k) => {
    const [l, d] = treeFlatten(r, 'treeMap');
    if (!sameStructure(def, d)) throw opError('treeMap', `tree ${k + 1} does not have the structure of the first tree`);
    return l;
  });
  return treeUnflatten<R>(def, leaves.map((leaf, i) => fn(leaf, ...others.map((l) => l[i]))));
}

export function sameStructure(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'leaf') return true;
  if (a.kind === 'object' && b.kind === 'object' && a.keys.join('\0') !== b.keys.join('\0')) return false;
  const bc = (b as { children: TreeDef[] }).children;
  return a.children.length === bc.length && a.children.every((c, i) => sameStructure(c, bc[i]));
}
