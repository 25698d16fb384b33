// Copied unchanged from shared/anchors-perf/ (the TensorFlow.js workaround a user would write).
// tfjs-backend-wasm 4.22 registers Conv2D and Conv2DBackpropInput but NOT
// Conv2DBackpropFilter, so tf.grad through tf.conv2d fails there
// ("Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'").
// Its Conv2DBackpropInput is also a naive loop (~10x slower than its Conv2D),
// and its matMul(transposeA) path is slow too (measured: 1.2 s and 1.6 s vs
// 0.13 s for the forward conv at N=64, C=64, 28x28).
// This is the workaround a user would write: a tf.customGrad conv whose
//   forward = native XNNPACK conv2d,
//   dx      = conv2d of the (zero-dilated, for stride 2) upstream gradient with
//             the flipped, in/out-swapped filter,
//   dW      = conv2d of the padded input (batch<->channel transposed) with the
//             upstream gradient as a (dilated) filter,
// so every FLOP goes through XNNPACK's conv. 'same' padding, square kernels,
// NHWC, HWIO filters, stride 1 or 2. Checked against tfjs-cpu's native grads by
// `node conv_grad_workaround.cjs` (max relative error printed).
'use strict';

function samePads(inSize, k, s) {
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + k - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before, out];
}

// dy [N,Ho,Wo,C] -> zeros between entries: [N,(Ho-1)s+1,(Wo-1)s+1,C]
function dilate(tf, dy, s) {
  if (s === 1) return dy;
  const [N, Ho, Wo, C] = dy.shape;
  return dy.reshape([N, Ho, 1, Wo, 1, C])
    .pad([[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]])
    .reshape([N, Ho * s, Wo * s, C])
    .slice([0, 0, 0, 0], [N, (Ho - 1) * s + 1, (Wo - 1) * s + 1, C]);
}

function makeConv2dSame(tf, stride) {
  return tf.customGrad((x, w, save) => {
    save([x, w]);
    return {
      value: tf.conv2d(x, w, stride, 'same'),
      gradFunc: (dy, [xs, ws]) => {
        const [, H, W] = xs.shape;
        const [K] = ws.shape;
        const [pt, pb, Ho] = samePads(H, K, stride);
        const [pl, pr, Wo] = samePads(W, K, stride);
        // dx: full correlation of dilated dy with the flipped filter
        const z = dilate(tf, dy, stride);
        const L = (Ho - 1) * stride + 1, LW = (Wo - 1) * stride + 1;
        const zp = z.pad([[0, 0], [K - 1 - pt, H + pt - L], [K - 1 - pl, W + pl - LW], [0, 0]]);
        const dx = tf.conv2d(zp, ws.reverse([0, 1]).transpose([0, 1, 3, 2]), 1, 'valid');
        // dW[ky,kx,ci,co] = sum_{n,y,x} xpad[n, s*y+ky, s*x+kx, ci] * dy[n,y,x,co]
        const xpT = xs.pad([[0, 0], [pt, pb], [pl, pr], [0, 0]]).transpose([3, 1, 2, 0]); // [Cin,Hp,Wp,N]
        const f = dy.transpose([1, 2, 0, 3]);                                              // [Ho,Wo,N,Cout]
        let dw = tf.conv2d(xpT, f, 1, 'valid', 'NHWC', stride);                            // [Cin,K',K',Cout]
        if (dw.shape[1] !== K || dw.shape[2] !== K) dw = dw.slice([0, 0, 0, 0], [-1, K, K, -1]);
        return [dx, dw.transpose([1, 2, 0, 3])];
      },
    };
  });
}

module.exports = { makeConv2dSame, samePads };

// self-check against tfjs-cpu's native gradients
if (require.main === module) {
  (async () => {
    const tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
    for (const [N, H, Cin, Cout, s] of [[4, 28, 8, 16, 1], [4, 28, 16, 8, 2], [3, 14, 8, 8, 2], [2, 7, 8, 8, 1], [2, 7, 4, 4, 2]]) {
      await tf.setBackend('cpu');
      const x = tf.randomNormal([N, H, H, Cin]), w = tf.randomNormal([3, 3, Cin, Cout]);
      const Ho = Math.ceil(H / s); const dy = tf.randomNormal([N, Ho, Ho, Cout]);
      const [rdx, rdw] = tf.grads((a, f) => tf.conv2d(a, f, s, 'same'))([x, w], dy);
      const ref = [rdx.dataSync(), rdw.dataSync()];
      for (const b of ['cpu', 'wasm']) {
        await tf.setBackend(b);
        const xb = tf.tensor(x.dataSync(), x.shape), wb = tf.tensor(w.dataSync(), w.shape), dyb = tf.tensor(dy.dataSync(), dy.shape);
        const conv = makeConv2dSame(tf, s);
        const [dx, dw] = tf.grads((a, f) => conv(a, f))([xb, wb], dyb);
        const rel = (a, r) => { let e = 0, m = 0; for (let i = 0; i < a.length; i++) { e = Math.max(e, Math.abs(a[i] - r[i])); m = Math.max(m, Math.abs(r[i])); } return e / m; };
        console.log(`N=${N} H=${H} Cin=${Cin} Cout=${Cout} s=${s} ${b}: dx relerr ${rel(dx.dataSync(), ref[0]).toExponential(1)}, dW relerr ${rel(dw.dataSync(), ref[1]).toExponential(1)}`);
      }
    }
  })();
}
