// The TensorFlow.js twin of bench/unet.ts: the reference DDPM UNet in plain tfjs ops (NHWC).
// Copied from shared/anchors-perf/ddpm_unet.cjs (buildModel only), which produced the anchor
// numbers in shared/anchors-perf/RESULTS.md. Model spec: see bench/unet.ts.
// convImpl 'convgrad' = conv_grad_workaround.cjs (tfjs-backend-wasm 4.22 lacks
// Conv2DBackpropFilter); 'native' = tf.conv2d with tfjs's own gradients (tfjs-cpu).
'use strict';

// tfjs-core alone (without the @tensorflow/tfjs union package) has no chained tensor methods;
// add the ones this file and conv_grad_workaround.cjs use.
function chainOps(tf) {
  const proto = tf.Tensor.prototype;
  for (const name of ['reshape', 'add', 'mul', 'sub', 'transpose', 'pad', 'slice', 'rsqrt', 'reverse']) {
    if (typeof proto[name] !== 'function') proto[name] = function (...args) { return tf[name](this, ...args); };
  }
}
const { makeConv2dSame } = require('./conv_grad_workaround.cjs');

function buildModel(tf, { convImpl = 'native', seed = 1 } = {}) {
  chainOps(tf);
  const params = [];
  let s = seed;
  const v = (shape, std) => {
    const t = tf.variable(std === 0 ? tf.zeros(shape) : tf.randomNormal(shape, 0, std, 'float32', s++));
    params.push(t); return t;
  };
  const ones = (shape) => { const t = tf.variable(tf.ones(shape)); params.push(t); return t; };
  const convs = {
    1: convImpl === 'convgrad' ? makeConv2dSame(tf, 1) : (x, w) => tf.conv2d(x, w, 1, 'same'),
    2: convImpl === 'convgrad' ? makeConv2dSame(tf, 2) : (x, w) => tf.conv2d(x, w, 2, 'same'),
  };

  // --- building blocks -------------------------------------------------------
  const Conv3 = (cin, cout, stride = 1) => {
    const w = v([3, 3, cin, cout], Math.sqrt(2 / (9 * cin))), b = v([cout], 0);
    return (x) => convs[stride](x, w).add(b);
  };
  const Dense = (cin, cout) => {
    const w = v([cin, cout], Math.sqrt(1 / cin)), b = v([cout], 0);
    return (x) => tf.matMul(x, w).add(b);
  };
  const Dense1x1 = (cin, cout) => {          // 1x1 conv as a matmul over pixels
    const d = Dense(cin, cout);
    return (x) => { const [N, H, W] = x.shape; return d(x.reshape([N * H * W, cin])).reshape([N, H, W, cout]); };
  };
  const GroupNorm = (c, groups = 8, eps = 1e-5) => {
    const gamma = ones([c]), beta = v([c], 0);
    return (x) => {
      const [N, H, W] = x.shape;
      const xg = x.reshape([N, H, W, groups, c / groups]);
      const { mean, variance } = tf.moments(xg, [1, 2, 4], true);
      return xg.sub(mean).mul(variance.add(eps).rsqrt()).reshape([N, H, W, c]).mul(gamma).add(beta);
    };
  };
  const silu = (x) => x.mul(tf.sigmoid(x));
  const ResBlock = (cin, cout, tdim) => {
    const gn1 = GroupNorm(cin), conv1 = Conv3(cin, cout), temb = Dense(tdim, cout);
    const gn2 = GroupNorm(cout), conv2 = Conv3(cout, cout);
    const skip = cin === cout ? (x) => x : Dense1x1(cin, cout);
    return (x, t) => {
      let h = conv1(silu(gn1(x)));
      h = h.add(temb(silu(t)).reshape([-1, 1, 1, cout]));
      h = conv2(silu(gn2(h)));
      return skip(x).add(h);
    };
  };
  const SelfAttention = (c) => {
    const gn = GroupNorm(c), qkv = Dense(c, 3 * c), proj = Dense(c, c);
    return (x) => {
      const [N, H, W] = x.shape;
      const [q, k, vv] = tf.split(qkv(gn(x).reshape([N * H * W, c])).reshape([N, H * W, 3 * c]), 3, 2);
      const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(c)));   // [N, HW, HW]
      const o = proj(tf.matMul(att, vv).reshape([N * H * W, c])).reshape([N, H, W, c]);
      return x.add(o);
    };
  };
  const upsample = (x) => tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
  const sinusoidal = (t, dim) => {           // t: float32 [N]
    const half = dim / 2;
    const freqs = tf.exp(tf.range(0, half).mul(-Math.log(10000) / half));
    const args = t.reshape([-1, 1]).mul(freqs.reshape([1, half]));
    return tf.concat([tf.sin(args), tf.cos(args)], 1);
  };

  // --- the network ----------------------------------------------------------------
  const C0 = 32, C1 = 64, C2 = 64, TD = 128;
  const t1 = Dense(32, TD), t2 = Dense(TD, TD);
  const convIn = Conv3(1, C0);
  const down0 = ResBlock(C0, C0, TD), ds0 = Conv3(C0, C0, 2);
  const down1 = ResBlock(C0, C1, TD), ds1 = Conv3(C1, C1, 2);
  const mid1 = ResBlock(C1, C2, TD), attn = SelfAttention(C2), mid2 = ResBlock(C2, C2, TD);
  const up1 = ResBlock(C2 + C1, C1, TD);
  const up0 = ResBlock(C1 + C0, C0, TD);
  const gnOut = GroupNorm(C0), convOut = Conv3(C0, 1);

  function forward(x, t) {
    const temb = t2(silu(t1(sinusoidal(t, 32))));
    let h = convIn(x);
    const s0 = down0(h, temb);
    h = ds0(s0);
    const s1 = down1(h, temb);
    h = ds1(s1);
    h = mid2(attn(mid1(h, temb)), temb);
    h = up1(tf.concat([upsample(h), s1], 3), temb);
    h = up0(tf.concat([upsample(h), s0], 3), temb);
    return convOut(silu(gnOut(h)));
  }
  return { forward, params };
}

module.exports = { buildModel };
