// Bad input must raise an Error whose message starts with the op's name and names the
// shapes or values involved (DESIGN.md: "never produces silent NaN or a wrong shape").
//
// Inputs are disposed explicitly (not through tidy), so the per-test leak check in
// test/setup.ts also catches an op that leaks a temporary on its error path.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';

/** Run `fn` with the given tensors, disposing them afterwards whatever happens. */
function withTensors<R>(ts: T.Tensor[], fn: () => R): R {
  try {
    return fn();
  } finally {
    T.dispose(ts);
  }
}

/** The message of the error `fn` throws (fails the test if it does not throw). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as Error).message;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

describe('errors name the op and the offending shapes / values', () => {
  it('broadcasting mismatch: add([2,3], [4])', () => {
    const a = T.zeros([2, 3]);
    const b = T.zeros([4]);
    withTensors([a, b], () => {
      expect(messageOf(() => T.add(a, b))).toMatch(/^add: shapes \[2,3\] and \[4\] cannot be broadcast.*expected/);
      expect(messageOf(() => T.mul(b, a))).toMatch(/^mul: shapes \[4\] and \[2,3\]/);
      expect(messageOf(() => T.where(a, b, 1))).toMatch(/^where: shapes \[2,3\] and \[4\] and \[\]/);
      expect(messageOf(() => T.broadcastTo(a, [3, 3]))).toMatch(/^broadcastTo: cannot broadcast shape \[2,3\] to \[3,3\]/);
      expect(messageOf(() => T.broadcastTo(a, [3]))).toMatch(/^broadcastTo: cannot broadcast shape \[2,3\] to \[3\]/);
    });
  });

  it('wrong rank: conv2d with a 3-D x (and other rank-4 ops)', () => {
    const x3 = T.zeros([1, 2, 3]);
    const w = T.zeros([4, 2, 1, 1]);
    const w3 = T.zeros([4, 2, 1]);
    const x4 = T.zeros([1, 2, 3, 3]);
    const s = T.scalar(1);
    withTensors([x3, w, w3, x4, s], () => {
      expect(messageOf(() => T.conv2d(x3, w))).toMatch(/^conv2d: x must have rank 4 .*got shape \[1,2,3\]/);
      expect(messageOf(() => T.conv2d(x4, w3))).toMatch(/^conv2d: w must have rank 4 .*got shape \[4,2,1\]/);
      expect(messageOf(() => T.convTranspose2d(x3, w))).toMatch(/^convTranspose2d: x must have rank 4 .*\[1,2,3\]/);
      expect(messageOf(() => T.maxPool2d(x3, 2))).toMatch(/^maxPool2d: x must have rank 4 .*\[1,2,3\]/);
      expect(messageOf(() => T.avgPool2d(x3, 2))).toMatch(/^avgPool2d: x must have rank 4 .*\[1,2,3\]/);
      expect(messageOf(() => T.upsampleNearest2d(x3))).toMatch(/^upsampleNearest2d: x must have rank 4 .*\[1,2,3\]/);
      expect(messageOf(() => T.matmul(s, x3))).toMatch(/^matmul: operands must have rank >= 1, got shapes \[\] and \[1,2,3\]/);
      expect(messageOf(() => T.argmax(s, 0))).toMatch(/^argmax: expected a tensor of rank >= 1, got a scalar/);
    });
  });

  it('conv2d / convTranspose2d / pooling attribute errors', () => {
    const x = T.zeros([1, 3, 4, 4]);
    const w = T.zeros([2, 2, 3, 3]);
    const w3 = T.zeros([2, 3, 3, 3]);
    const dy = T.zeros([1, 2, 5, 5]);
    const wt = T.zeros([3, 2, 3, 3]);
    withTensors([x, w, w3, dy, wt], () => {
      expect(messageOf(() => T.conv2d(x, w))).toMatch(/^conv2d: input \[1,3,4,4\] and weight \[2,2,3,3\] with groups=1/);
      expect(messageOf(() => T.conv2d(x, w3, { groups: 2 }))).toMatch(/^conv2d: .*groups=2/);
      expect(messageOf(() => T.conv2d(x, w3, { stride: 2, padding: 'same' }))).toMatch(/^conv2d: padding 'same' needs stride 1.*\[2,2\]/);
      expect(messageOf(() => T.conv2d(x, w3, { stride: 0 }))).toMatch(/^conv2d: stride must be an integer >= 1 .*got 0/);
      expect(messageOf(() => T.conv2d(x, w3, { dilation: 3 }))).toMatch(/^conv2d: the output height would be -2: input 4, kernel 3, stride 1, padding 0, dilation 3/);
      expect(messageOf(() => T.conv2dFilterGrad(x, dy, [2, 3, 3, 3]))).toMatch(/^conv2dFilterGrad: dy has shape \[1,2,5,5\]; expected the conv2d output shape \[1,2,2,2\]/);
      expect(messageOf(() => T.convTranspose2d(x, w))).toMatch(/^convTranspose2d: weight \[2,2,3,3\] has 2 input channels but x \[1,3,4,4\] has 3/);
      expect(messageOf(() => T.convTranspose2d(x, wt, { outputPadding: 1 }))).toMatch(/^convTranspose2d: outputPadding \[1,1\] must be smaller than stride or dilation/);
      expect(messageOf(() => T.maxPool2d(x, 2, { padding: 2 }))).toMatch(/^maxPool2d: padding \[2,2\] must be at most half the kernel \[2,2\]/);
      expect(messageOf(() => T.avgPool2d(x, 5))).toMatch(/^avgPool2d: the output height would be 0: input 4, kernel 5/);
      expect(messageOf(() => T.upsampleNearest2d(x, 0))).toMatch(/^upsampleNearest2d: scale must be an integer >= 1.*got 0/);
    });
  });

  it('bad axis: sum over axis 5 of a rank-2 tensor (and other axis arguments)', () => {
    const x = T.zeros([2, 3]);
    withTensors([x], () => {
      expect(messageOf(() => T.sum(x, 5))).toMatch(/^sum: axis 5 is out of range for a tensor of rank 2/);
      expect(messageOf(() => T.max(x, [0, -3]))).toMatch(/^max: axis -3 is out of range for a tensor of rank 2/);
      expect(messageOf(() => T.mean(x, [1, -1]))).toMatch(/^mean: axes \[1,-1\] contain a duplicate/);
      expect(messageOf(() => T.sum(x, 1.5))).toMatch(/^sum: axis 1\.5 is out of range/);
      expect(messageOf(() => T.softmax(x, 2))).toMatch(/^softmax: axis 2 is out of range for a tensor of rank 2/);
      expect(messageOf(() => T.argmin(x, -3))).toMatch(/^argmin: axis -3 is out of range for a tensor of rank 2/);
      expect(messageOf(() => T.concat([x, x], 2))).toMatch(/^concat: axis 2 is out of range for a tensor of rank 2/);
      expect(messageOf(() => T.squeeze(x, 0))).toMatch(/^squeeze: axis 0 of shape \[2,3\] has size 2; expected size 1/);
      expect(messageOf(() => T.gather(x, [0], 2))).toMatch(/^gather: axis 2 is out of range for a tensor of rank 2/);
    });
  });

  it('empty reductions are refused where they have no value', () => {
    const x = T.zeros([2, 0]);
    withTensors([x], () => {
      expect(messageOf(() => T.max(x, 1))).toMatch(/^max: cannot reduce over axis 1 of size 0 \(input shape \[2,0\]\)/);
      expect(messageOf(() => T.mean(x, 1))).toMatch(/^mean: cannot average over an empty set of elements \(input shape \[2,0\]/);
      expect(messageOf(() => T.argmax(x, 1))).toMatch(/^argmax: axis 1 of shape \[2,0\] is empty/);
    });
  });

  it('bad permutation', () => {
    const x = T.zeros([2, 3]);
    withTensors([x], () => {
      expect(messageOf(() => T.transpose(x, [0, 0]))).toMatch(/^transpose: perm \[0,0\] is not a permutation of the 2 axes/);
      expect(messageOf(() => T.transpose(x, [0, 1, 2]))).toMatch(/^transpose: perm \[0,1,2\] is not a permutation of the 2 axes/);
      expect(messageOf(() => T.transpose(x, [1, 2]))).toMatch(/^transpose: perm \[1,2\]/);
    });
  });

  it('reshape size mismatch', () => {
    const x = T.zeros([2, 3]);
    withTensors([x], () => {
      expect(messageOf(() => T.reshape(x, [4]))).toMatch(/^reshape: cannot reshape \[2,3\] \(6 elements\) to \[4\] \(4 elements\)/);
      expect(messageOf(() => T.reshape(x, [4, -1]))).toMatch(/^reshape: cannot infer the -1 dimension of \[4,-1\] for 6 elements \(input shape \[2,3\]\)/);
      expect(messageOf(() => T.reshape(x, [-1, -1]))).toMatch(/^reshape: at most one dimension may be -1, got \[-1,-1\]/);
      expect(messageOf(() => T.tensor([1, 2, 3], [2, 2]))).toMatch(/^tensor: 3 values cannot fill shape \[2,2\] \(4 elements\)/);
    });
  });

  it('slice out of range', () => {
    const x = T.zeros([3, 4]);
    withTensors([x], () => {
      expect(messageOf(() => T.slice(x, [5]))).toMatch(/^slice: begin 5 on axis 0 is out of range for size 3 \(shape \[3,4\]\)/);
      expect(messageOf(() => T.slice(x, [0, -5]))).toMatch(/^slice: begin -5 on axis 1 is out of range for size 4 \(shape \[3,4\]\)/);
      expect(messageOf(() => T.slice(x, [1, 0], [3, 4]))).toMatch(/^slice: size 3 on axis 0 does not fit: begin 1, step 1, dimension 3 \(shape \[3,4\]\); expected at most 2/);
      expect(messageOf(() => T.slice(x, [0, 0], [-1, -1], [1, 0]))).toMatch(/^slice: step 0 on axis 1 must be a positive integer/);
      expect(messageOf(() => T.slice(x, [0, 0, 0]))).toMatch(/^slice: begin \[0,0,0\].*more entries than the rank 2 of \[3,4\]/);
    });
  });

  it('concat / stack mismatch', () => {
    const a = T.zeros([2, 3]);
    const b = T.zeros([2, 4]);
    const c = T.zeros([2]);
    const s = T.scalar(1);
    withTensors([a, b, c, s], () => {
      expect(messageOf(() => T.concat([a, b], 0))).toMatch(/^concat: shapes \[2,3\], \[2,4\] differ outside axis 0/);
      expect(messageOf(() => T.concat([a, c], 1))).toMatch(/^concat: shapes \[2,3\], \[2\] differ outside axis 1/);
      expect(messageOf(() => T.concat([]))).toMatch(/^concat: argument 'xs' must be a non-empty array of tensors, got an array \[\]$/);
      expect(messageOf(() => T.concat([s]))).toMatch(/^concat: cannot concatenate scalars/);
      expect(messageOf(() => T.stack([a, b]))).toMatch(/^stack: shapes \[2,3\], \[2,4\] differ; expected equal shapes/);
    });
  });

  it('gather / scatterAdd / oneHot index errors', () => {
    const x = T.zeros([3, 2]);
    const idxT = T.tensor([0, 7]);
    const g = T.zeros([2, 2]);
    withTensors([x, idxT, g], () => {
      expect(messageOf(() => T.gather(x, [0, 5]))).toMatch(/^gather: index 5 at position 1 is not an integer in \[0, 3\)/);
      expect(messageOf(() => T.gather(x, [-1]))).toMatch(/^gather: index -1 at position 0 is not an integer in \[0, 3\)/);
      expect(messageOf(() => T.gather(x, [0.5], 0))).toMatch(/^gather: index 0\.5 at position 0 is not an integer in \[0, 3\)/);
      expect(messageOf(() => T.gather(x, [2], 1))).toMatch(/^gather: index 2 at position 0 is not an integer in \[0, 2\)/);
      // indices as a tensor (validated on the host where the backend reads synchronously)
      expect(messageOf(() => T.gather(x, idxT))).toMatch(/^gather: index 7 at position 1 is not an integer in \[0, 3\)/);
      expect(messageOf(() => T.scatterAdd(g, [0, 4], 0, 3))).toMatch(/^scatterAdd: index 4 at position 1 is not an integer in \[0, 3\)/);
      expect(messageOf(() => T.scatterAdd(g, [0, 1, 2], 0, 3))).toMatch(/^scatterAdd: 3 indices for axis 0 of size 2 \(shape \[2,2\]\)/);
      expect(messageOf(() => T.scatterAdd(g, [0, 1], 0, -1))).toMatch(/^scatterAdd: dimSize must be a non-negative integer, got -1/);
      expect(messageOf(() => T.oneHot([1], 0))).toMatch(/^oneHot: depth must be a positive integer, got 0/);
    });
  });

  it('matmul inner-dimension mismatch', () => {
    const a = T.zeros([2, 3]);
    const b = T.zeros([4, 5]);
    const v = T.zeros([4]);
    const ba = T.zeros([2, 2, 3]);
    const bb = T.zeros([3, 3, 5]);
    withTensors([a, b, v, ba, bb], () => {
      expect(messageOf(() => T.matmul(a, b))).toMatch(/^matmul: inner dimensions differ: a \[2,3\] has 3 columns, b \[4,5\] has 4 rows/);
      expect(messageOf(() => T.matmul(a, v))).toMatch(/^matmul: inner dimensions differ: a \[2,3\] has 3 columns, b \[4\] has 4 rows/);
      expect(messageOf(() => T.matmul(ba, bb))).toMatch(/^matmul: shapes \[2\] and \[3\] cannot be broadcast/);
    });
  });

  it('non-finite or invalid arange / linspace / full arguments', () => {
    expect(messageOf(() => T.arange(NaN))).toMatch(/^arange: stop must be a finite number, got NaN/);
    expect(messageOf(() => T.arange(0, Infinity))).toMatch(/^arange: stop must be a finite number, got Infinity/);
    expect(messageOf(() => T.arange(-Infinity, 3))).toMatch(/^arange: start must be a finite number, got -Infinity/);
    expect(messageOf(() => T.arange(0, 3, NaN))).toMatch(/^arange: step must be a finite number, got NaN/);
    expect(messageOf(() => T.arange(0, 3, 0))).toMatch(/^arange: step must be non-zero, got 0/);
    expect(messageOf(() => T.linspace(0, NaN, 5))).toMatch(/^linspace: stop must be a finite number, got NaN/);
    expect(messageOf(() => T.linspace(Infinity, 1, 5))).toMatch(/^linspace: start must be a finite number, got Infinity/);
    expect(messageOf(() => T.linspace(0, 1, 2.5))).toMatch(/^linspace: num must be a non-negative integer, got 2\.5/);
    expect(messageOf(() => T.zeros([2, -1]))).toMatch(/^zeros: shape must be an array of non-negative integers, got \[2,-1\]/);
    expect(messageOf(() => T.full([2], 'a' as unknown as number))).toMatch(/^full: fill value must be a number, got the string "a"/);
  });

  it('use of a disposed tensor', async () => {
    const t = T.ones([2]);
    t.dispose();
    expect(messageOf(() => T.add(t, t))).toMatch(/^add: a \(tensor #\d+ of shape \[2\]\) was already disposed; expected a live tensor/);
    expect(messageOf(() => T.exp(t))).toMatch(/^exp: x \(tensor #\d+ of shape \[2\]\) was already disposed/);
    expect(messageOf(() => T.sum(t))).toMatch(/^sum: x \(tensor #\d+ of shape \[2\]\) was already disposed/);
    expect(messageOf(() => T.reshape(t, [2, 1]))).toMatch(/^reshape: x \(tensor #\d+ of shape \[2\]\) was already disposed/);
    expect(messageOf(() => T.keep(t))).toMatch(/^keep: t \(tensor #\d+ of shape \[2\]\) was already disposed/);
    expect(messageOf(() => t.dataSync())).toMatch(/^dataSync: tensor #\d+ of shape \[2\] was already disposed/);
    await expect(t.data()).rejects.toThrow(/^data: tensor #\d+ of shape \[2\] was already disposed/);
    await expect(t.array()).rejects.toThrow(/^array: tensor #\d+ of shape \[2\] was already disposed/);
    const live = T.ones([2]);
    withTensors([live], () => {
      expect(messageOf(() => T.add(live, t))).toMatch(/^add: b \(tensor #\d+ of shape \[2\]\) was already disposed/);
      expect(messageOf(() => T.concat([live, t]))).toMatch(/^concat: xs\[1\] \(tensor #\d+ of shape \[2\]\) was already disposed/);
    });
  });

  it('unknown backend name in setBackend / useBackend / findBackend', async () => {
    await expect(T.setBackend('tpu' as T.BackendName)).rejects.toThrow(/^setBackend: unknown backend 'tpu'; expected one of webasm, webgpu, cpu, reference/);
    let called = false;
    expect(
      messageOf(() =>
        T.useBackend('gpu' as T.BackendName, () => {
          called = true;
        }),
      ),
    ).toMatch(/^useBackend: unknown backend 'gpu'; expected one of/);
    expect(called).toBe(false);
    expect(messageOf(() => T.findBackend('metal' as T.BackendName))).toMatch(/^findBackend: unknown backend 'metal'/);
    expect(T.getBackend()).toBe('webasm'); // unchanged
  });

  it('mixing tensors of two backends', () => {
    const a = T.useBackend('webasm', () => T.ones([2]));
    const b = T.useBackend('reference', () => T.ones([2]));
    withTensors([a, b], () => {
      expect(messageOf(() => T.add(a, b))).toMatch(/^add: inputs live on different backends \('webasm' and 'reference'\)/);
      expect(messageOf(() => T.concat([b, a]))).toMatch(/^concat: inputs live on different backends \('reference' and 'webasm'\)/);
    });
  });

  it('ragged nested arrays and non-numeric values', () => {
    expect(messageOf(() => T.tensor([[1, 2], [3]]))).toMatch(/^tensor: nested arrays are ragged: element 0 has shape \[2\] but element 1 has shape \[1\]/);
    expect(messageOf(() => T.tensor([[[1], [2]], [[3], [4, 5]]]))).toMatch(/^tensor: nested arrays are ragged: element 0 has shape \[2,1\] but element 1 has shape \[2,2\]|^tensor: nested arrays are ragged: element 0 has shape \[1\] but element 1 has shape \[2\]/);
    expect(messageOf(() => T.tensor([1, 'a'] as unknown as number[]))).toMatch(/^tensor: .*string/);
    const one = T.ones([1]);
    withTensors([one], () => {
      expect(messageOf(() => T.add(one, null as unknown as number))).toMatch(/^add: argument 'b' must be a Tensor or a number, got null/);
    });
  });

  it('randomNormal / randomUniform / randomInt with a non-key or bad arguments', () => {
    expect(messageOf(() => T.randomNormal(42 as unknown as T.RandomKey, [2]))).toMatch(/^randomNormal: expected a RandomKey .*got number/);
    expect(messageOf(() => T.randomNormal({ words: [0, 0] } as unknown as T.RandomKey, [2]))).toMatch(/^randomNormal: expected a RandomKey .*got object/);
    expect(messageOf(() => T.randomUniform(null as unknown as T.RandomKey, [2]))).toMatch(/^randomUniform: expected a RandomKey .*got null/);
    expect(messageOf(() => T.splitKey([0, 0] as unknown as T.RandomKey))).toMatch(/^splitKey: expected a RandomKey/);
    const k = T.randomKey(0);
    expect(messageOf(() => T.randomNormal(k, [2], 0, -1))).toMatch(/^randomNormal: expected finite mean and std >= 0, got mean=0, std=-1/);
    expect(messageOf(() => T.randomNormal(k, [2], NaN))).toMatch(/^randomNormal: expected finite mean .*mean=NaN/);
    expect(messageOf(() => T.randomUniform(k, [2], 1, 1))).toMatch(/^randomUniform: expected finite bounds with lo < hi, got lo=1, hi=1/);
    expect(messageOf(() => T.randomUniform(k, [2], 0, Infinity))).toMatch(/^randomUniform: .*hi=Infinity/);
    expect(messageOf(() => T.randomInt(k, [2], 0, 2.5))).toMatch(/^randomInt: expected integers lo < hi within \+-2\^24, got lo=0, hi=2\.5/);
    expect(messageOf(() => T.randomInt(k, [2], 3, 3))).toMatch(/^randomInt: .*lo=3, hi=3/);
    expect(messageOf(() => T.randomInt(k, [2], 0, 2 ** 25))).toMatch(/^randomInt: .*hi=33554432/);
    expect(messageOf(() => T.randomNormal(k, [2, -3]))).toMatch(/^randomNormal: shape must be an array of non-negative integers, got \[2,-3\]/);
    expect(messageOf(() => T.randomKey(-1))).toMatch(/^randomKey: seed must be a non-negative safe integer, got -1/);
    expect(messageOf(() => T.randomKey(1.5))).toMatch(/^randomKey: seed must be a non-negative safe integer, got 1\.5/);
    expect(messageOf(() => T.splitKey(k, 0))).toMatch(/^splitKey: n must be a positive integer, got 0/);
    expect(messageOf(() => T.foldIn(k, 2 ** 32))).toMatch(/^foldIn: data must be an integer in \[0, 2\^32\), got 4294967296/);
  });

  it('other argument errors: pad, clip, expandDims, tidy with an async fn, treeUnflatten', () => {
    const x = T.zeros([2, 3]);
    withTensors([x], () => {
      expect(messageOf(() => T.pad(x, [[1, 1]]))).toMatch(/^pad: pads \[\[1,1\]\] must give \[before, after\] non-negative integers for each of the 2 axes of \[2,3\]/);
      expect(messageOf(() => T.pad(x, [[0, 0], [-1, 0]]))).toMatch(/^pad: pads \[\[0,0\],\[-1,0\]\]/);
      expect(messageOf(() => T.clip(x, 2, 1))).toMatch(/^clip: lo \(2\) must be <= hi \(1\)/);
      expect(messageOf(() => T.expandDims(x, 4))).toMatch(/^expandDims: axis 4 is out of range/);
      expect(messageOf(() => T.tidy((async () => 1) as unknown as () => number))).toMatch(/^tidy: fn returned a Promise/);
      const [, def] = T.treeFlatten({ a: 1, b: [2, 3] });
      expect(messageOf(() => T.treeUnflatten(def, [1, 2]))).toMatch(/^treeUnflatten: the structure needs more than the 2 leaves given/);
      expect(messageOf(() => T.treeUnflatten(def, [1, 2, 3, 4]))).toMatch(/^treeUnflatten: the structure has 3 leaves but 4 were given/);
    });
  });
});

describe('issue 8 §6: every error starts with the op the user called', () => {
  it('internal ops and the backend report under the public op (add past 2^24, conv2d padding, softmax of an empty axis)', () => {
    // webasm: the backend refuses outputs above 2^24 elements
    T.useBackend('webasm', () => {
      const a = T.zeros([4097, 1]);
      const b = T.zeros([1, 4097]); // the broadcast output has 4097^2 > 2^24 elements
      const x = T.ones([1, 1, 1, 1]);
      const w = T.ones([1, 1, 1, 1]);
      const e = T.zeros([2, 0]);
      withTensors([a, b, x, w, e], () => {
        expect(messageOf(() => T.add(a, b))).toMatch(/^add: binary: a tensor of 16785409 elements exceeds 16777216 \(2\^24\)/);
        expect(messageOf(() => a.add(b))).toMatch(/^add: binary: /);
        // conv2d pre-pads its input: 1 + 2 * 2048 = 4097 per side
        expect(messageOf(() => T.conv2d(x, w, { padding: 2048 }))).toMatch(/^conv2d: pad: a tensor of 16785409 elements exceeds/);
        expect(messageOf(() => T.softmax(e, 1))).toMatch(/^softmax: max: cannot reduce over axis 1 of size 0 \(input shape \[2,0\]\)/);
        expect(messageOf(() => e.logSoftmax(1))).toMatch(/^logSoftmax: logsumexp: max: cannot reduce over axis 1|^logSoftmax: max: cannot reduce/);
        expect(messageOf(() => T.logsumexp(e, 1))).toMatch(/^logsumexp: max: cannot reduce over axis 1 of size 0/);
      });
    });
  });

  it('ill-typed arguments get the README form, not TypeErrors', () => {
    const x = T.ones([2, 2]);
    withTensors([x], () => {
      const cases: [() => unknown, RegExp][] = [
        [() => T.matmul(x, 5 as never), /^matmul: argument 'b' must be a Tensor, got the number 5$/],
        [() => T.sum(null as never), /^sum: argument 'x' must be a Tensor, got null$/],
        [() => T.softmax(undefined as never), /^softmax: argument 'x' must be a Tensor, got undefined$/],
        [() => T.reshape('x' as never, [4]), /^reshape: argument 'x' must be a Tensor, got the string "x"$/],
        [() => T.conv2d(x, { shape: [1] } as never), /^conv2d: argument 'w' must be a Tensor, got an object \{ shape: \[1\] \}$/],
        [() => T.add(x, '1' as never), /^add: argument 'b' must be a Tensor or a number, got the string "1"$/],
        [() => T.concat(x as never), /^concat: argument 'xs' must be a non-empty array of tensors, got Tensor\(shape=\[2,2\]/],
        [() => T.stack([x, 1] as never), /^stack: xs\[1\] must be a Tensor, got the number 1$/],
        [() => T.zerosLike([1, 2] as never), /^zerosLike: argument 't' must be a Tensor, got an array \[1,2\]$/],
        [() => T.transpose(new Map() as never), /^transpose: argument 'x' must be a Tensor, got an object of class Map$/],
      ];
      for (const [fn, re] of cases) expect(messageOf(fn)).toMatch(re);
    });
  });

  it('a missing required argument is an error (maxPool2d(x, undefined) used kernel 1)', () => {
    const x = T.ones([1, 1, 2, 2]);
    withTensors([x], () => {
      expect(messageOf(() => T.maxPool2d(x, undefined as never))).toMatch(/^maxPool2d: argument 'kernel' \(position 1\) is missing; expected a value$/);
      expect(messageOf(() => (T.avgPool2d as (x: T.Tensor) => T.Tensor)(x))).toMatch(/^avgPool2d: argument 'kernel' \(position 1\) is missing \(called with 1 argument\)/);
      expect(messageOf(() => (T.reshape as (x: T.Tensor) => T.Tensor)(x))).toMatch(/^reshape: argument 'shape' \(position 1\) is missing/);
      expect(messageOf(() => (T.full as unknown as (s: number[]) => T.Tensor)([2]))).toMatch(/^full: argument 'value' \(position 1\) is missing/);
    });
  });

  it('creation ops check the size before allocating (T.zeros([1e5, 1e5]) was a raw RangeError)', () => {
    expect(messageOf(() => T.zeros([1e5, 1e5]))).toMatch(/^zeros: shape \[100000,100000\] has 10000000000 elements; expected at most 16777216 on backend 'webasm'/);
    expect(messageOf(() => T.ones([2 ** 24 + 1]))).toMatch(/^ones: shape \[16777217\] has 16777217 elements; expected at most 16777216/);
    expect(messageOf(() => T.full([1e5, 1e5], 1))).toMatch(/^full: shape \[100000,100000\]/);
    expect(messageOf(() => T.arange(0, 1e12))).toMatch(/^arange: arange\(0, 1000000000000, 1\) has 1000000000000 elements; expected at most/);
    expect(messageOf(() => T.linspace(0, 1, 1e12))).toMatch(/^linspace: linspace\(0, 1, 1000000000000\) has 1000000000000 elements/);
    expect(messageOf(() => T.useBackend('reference', () => T.zeros([1e5, 1e5])))).toMatch(/^zeros: shape \[100000,100000\] has 10000000000 elements; expected at most 2147483647 on backend 'reference'$/);
    const k = T.randomKey(0);
    // random ops check before hashing 1e9 counters on the host
    expect(messageOf(() => T.randomNormal(k, [1e4, 1e5]))).toMatch(/^randomNormal: shape \[10000,100000\] has 1000000000 elements; expected at most 16777216/);
    expect(messageOf(() => T.randomInt(k, [2 ** 24 + 1], 0, 2))).toMatch(/^randomInt: shape \[16777217\] has 16777217 elements/);
  });

  it('messages say what was passed: NaN, Infinity and -0 are printed as such (not null / 0)', () => {
    expect(messageOf(() => T.zeros([NaN]))).toMatch(/^zeros: shape must be an array of non-negative integers, got \[NaN\]$/);
    expect(messageOf(() => T.zeros([Infinity, 2]))).toMatch(/got \[Infinity,2\]$/);
    expect(messageOf(() => T.full([2], '1' as never))).toMatch(/^full: fill value must be a number, got the string "1"$/);
    expect(messageOf(() => T.linspace(0, 1, NaN))).toMatch(/^linspace: num must be a non-negative integer, got NaN$/);
    const x = T.ones([2, 2]);
    const img = T.ones([1, 1, 2, 2]);
    const w = T.ones([1, 1, 1, 1]);
    withTensors([x, img, w], () => {
      expect(messageOf(() => T.reshape(x, [NaN, 4]))).toMatch(/^reshape: shape must be integers >= -1, got \[NaN,4\]$/);
      expect(messageOf(() => T.pad(x, [[0, NaN], [0, 0]]))).toMatch(/^pad: pads \[\[0,NaN\],\[0,0\]\]/);
      expect(messageOf(() => T.conv2d(img, w, { stride: NaN }))).toMatch(/^conv2d: stride must be an integer >= 1 or a pair of them, got NaN$/);
    });
  });

  it('a cyclic pytree is an error naming the op and where the cycle is (was a stack overflow)', () => {
    const t: Record<string, unknown> = { a: [1] };
    (t.a as unknown[]).push(t);
    expect(messageOf(() => T.treeFlatten(t))).toMatch(/^treeFlatten: the tree contains a cycle: 'a\.1' contains one of its ancestors/);
    expect(messageOf(() => T.treeFlattenWithPath(t))).toMatch(/^treeFlattenWithPath: the tree contains a cycle: 'a\.1'/);
    expect(messageOf(() => T.treeLeaves(t))).toMatch(/^treeLeaves: the tree contains a cycle/);
    expect(messageOf(() => T.treeMap((v: number) => v, t))).toMatch(/^treeMap: the tree contains a cycle/);
    // a shared (non-cyclic) subtree is fine
    const shared = [1, 2];
    expect(T.treeLeaves({ a: shared, b: shared })).toEqual([1, 2, 1, 2]);
  });
});
