// The tape: a Wengert list of primitive calls, recorded through the tensor package's
// observation hook, and the reverse sweep over it.
//
// How one backward pass works, end to end:
//  1. A transform (grad, vjp, ...) opens a Tape and `watch`es its input tensors.
//  2. While the user's function runs, every primitive call is reported to every open tape.
//     A tape keeps a call iff one of its inputs is a tensor the tape tracks (a watched
//     input or the output of a call it kept); the output then becomes tracked too. The
//     tape holds its own references to the values a rule may need (`shareBuffer`), so the
//     user may dispose whatever they like.
//  3. `backward(outputs, cotangents)` walks the kept calls in reverse recording order
//     (recording order is a topological order: a call is reported after its inputs
//     exist). For each call with a cotangent it applies the primitive's rule (rules.ts: the
//     one table of saved values and VJPs, `defineRule(op, { saves, vjp })`),
//     sums each input cotangent back to the input's shape (broadcasting is undone here,
//     once, not in every rule) and accumulates it into that input's cotangent.
//  4. The rules are written with ordinary tensor ops, so an enclosing tape (an outer
//     transform) records the backward pass itself: that is grad-of-grad. Each transform
//     has its own tape and its own tracked set, so nested transforms never confuse their
//     perturbations.

import {
  add, clone, keep, observePrimitives, reshape, sum, tidy, zerosLike,
  type PrimitiveCall, type Tensor,
} from '@tapegrad/tensor';
import { ruleFor, savesFor } from './rules.ts';

/** One recorded primitive call. `inputs`/`output` are the tape's own references. */
export interface Node {
  op: string;
  inputIds: number[];
  outputId: number;
  inputs: Tensor[];
  output: Tensor;
  attrs: Record<string, unknown>;
  /** Set for customVjp calls: the user's backward function replaces the rule. */
  custom?: (g: Tensor) => (Tensor | null)[];
}

/** A watched tensor: its identity, and a reference the tape keeps for its shape/backend. */
export interface Watched {
  id: number;
  like: Tensor;
}

let suspended = 0;

/** Run `fn` with recording switched off for every tape (the result is a constant). */
export function noGrad<T>(fn: () => T): T {
  suspended++;
  try {
    return fn();
  } finally {
    suspended--;
  }
}

const openTapes = new Set<Tape>();


export class Tape {
  readonly nodes: Node[] = [];
  private readonly tracked = new Set<number>();
  private readonly held: Tensor[] = [];
  private stop: (() => void) | null = null;
  /** True while this tape makes its own reference (which it must not record). */
  private holding = false;

  /** Track `t` from now on; returns the handle `backward` takes for it. */
  watch(t: Tensor): Watched {
    this.tracked.add(t.id);
    return { id: t.id, like: this.keepAlive(t) };
  }

  isTracked(t: Tensor): boolean {
    return this.tracked.has(t.id);
  }

  /** Start recording primitive calls. */
  open(): this {
    this.stop = observePrimitives((call) => this.observe(call));
    openTapes.add(this);
    return this;
  }

  /** Stop recording (the nodes stay until `release`). */
  close(): void {
    this.stop?.();
    this.stop = null;
    openTapes.delete(this);
  }

  private observe(call: PrimitiveCall): void {
    if (suspended > 0 || this.holding) return;
    if (!call.inputs.some((t) => this.tracked.has(t.id))) return;
    // hold only the values the op's rule reads; the others are remembered by shape
    const saves = savesFor(call.op);
    const keepInput = (i: number) => saves === 'all' || saves.inputs.includes(i);
    this.push({
      op: call.op,
      inputIds: call.inputs.map((t) => t.id),
      outputId: call.output.id,
      inputs: call.inputs.map((t, i) => (keepInput(i) ? this.keepAlive(t) : shapeOnly(t, call.op))),
      output: saves === 'all' || saves.output ? this.keepAlive(call.output) : shapeOnly(call.output, call.op),
      attrs: call.attrs,
    });
  }

  /** @internal record a node built elsewhere (customVjp). */
  push(node: Node): void {
    this.nodes.push(node);
    this.tracked.add(node.outputId);
  }

  /**
   * A reference to `t` that this tape owns, outside every tidy scope. It is made with the
   * observed identity op `clone`, so an enclosing tape that tracks `t` records the edge
   * t -> reference: the rules of this tape then compute with tensors the enclosing tape
   * can differentiate (that is what makes grad-of-grad work).
   */
  keepAlive(t: Tensor): Tensor {
    this.holding = true;
    try {
      const h = keep(clone(t));
      this.held.push(h);
      return h;
    } finally {
      this.holding = false;
    }
  }

  /**
   * Cotangents of `wrt` given cotangents of `outputs`; a tensor the outputs do not depend
   * on gets zeros of its shape. The returned tensors are new (the caller owns them).
   */
  backward(outputIds: number[], cotangents: Tensor[], wrt: Watched[]): Tensor[] {
    return tidy(() => {
      const ct = new Map<number, Tensor>();
      const accumulate = (id: number, g: Tensor) => {
        const prev = ct.get(id);
        ct.set(id, prev ? add(prev, g) : g);
      };
      outputIds.forEach((id, i) => accumulate(id, cotangents[i]));
      for (let n = this.nodes.length - 1; n >= 0; n--) {
        const node = this.nodes[n];
        const g = ct.get(node.outputId);
        if (!g) continue;
        const grads = node.custom ? node.custom(g) : ruleFor(node.op).vjp(node.inputs, node.output, g, node.attrs);
        grads.forEach((gi, i) => {
          if (gi) accumulate(node.inputIds[i], unbroadcast(gi, node.inputs[i].shape));
        });
      }
      return wrt.map((w) => {
        const g = ct.get(w.id);
        return g ? reshape(g, w.like.shape) : zerosLike(w.like);
      });
    });
  }

  /** Close and drop every reference the tape holds. */
  release(): void {
    this.close();
    for (const t of this.held) t.dispose();
    this.held.length = 0;
    this.nodes.length = 0;
    this.tracked.clear();
  }
}

/**
 * What the tape keeps of a value its rule does not read: the shape (rules and the
 * broadcast reduction may read shapes), and an error if anything asks for the data.
 */
class ShapeOnly {
  readonly rank: number;
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    private readonly op: string,
  ) {
    this.rank = shape.length;
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  live(): never {
    throw new Error(`backward: the rule of '${this.op}' read a value its saves in rules.ts does not declare; add it there`);
  }
  storage(): never {
    return this.live();
  }
}

const shapeOnly = (t: Tensor, op: string): Tensor => new ShapeOnly(t.shape, op) as unknown as Tensor;

/** Every tape currently recording (customVjp registers its node with each). */
export function activeTapes(): Tape[] {
  return suspended > 0 ? [] : [...openTapes];
}

/** Sum a cotangent over the axes broadcasting added or stretched, back to `shape`. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tidy(() => reshape(axes.length ? sum(g, axes) : g, shape));
}
