// Matrix products.

import { broadcastShapes, fmtShape, opError } from '../shape.ts';
import { runPrimitive } from '../dispatch.ts';
import { tidy } from '../scope.ts';
import type { Tensor } from '../tensor.ts';
import { reshape } from './movement.ts';

/**
 * NumPy matmul: batched over broadcast leading dimensions; a 1-D first argument is a row
 * vector and a 1-D second argument a column vector (the added axis is removed again).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  if (a.rank === 0 || b.rank === 0) {
    throw opError(op, `operands must have rank >= 1, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const K = a.shape[a.rank - 1];
  const Kb = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
  if (K !== Kb) {
    throw opError(op, `inner dimensions differ: a ${fmtShape(a.shape)} has ${K} columns, b ${fmtShape(b.shape)} has ${Kb} rows; expected a.shape[-1] == b.shape[-2]`);
  }
  if (a.rank === 1 || b.rank === 1) {
    return tidy(() => {
      const a2 = a.rank === 1 ? reshape(a, [1, K]) : a;
      const b2 = b.rank === 1 ? reshape(b, [K, 1]) : b;
      const c = matmul(a2, b2);
      const s = c.shape.slice();
      if (b.rank === 1) s.splice(s.length - 1, 1);
      if (a.rank === 1) s.splice(s.length - (b.rank === 1 ? 1 : 2), 1);
      return reshape(c, s);
    });
  }
  const batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]];
  return runPrimitive(op, [a, b], out, {}, (be, [sa, sb]) => be.matmul(sa, a.shape, sb, b.shape, out));
}
