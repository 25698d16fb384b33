// The reference DDPM UNet (issue 11), built from @tapegrad/nn layers. bench/tfjs/unet.cjs is its
// TensorFlow.js twin (same architecture, same FLOPs; NHWC there, NCHW here).
//
// epsilon prediction, 28x28x1 input, T = 1000, linear betas 1e-4..0.02, Adam lr 2e-4.
//   time:     sinusoidal(32) -> linear 128 -> SiLU -> linear 128
//   conv_in   3x3 1->32 @28;   ResBlock 32->32 (skip s0);   conv 3x3 stride 2 -> 14
//   ResBlock 32->64 (skip s1); conv 3x3 stride 2 -> 7
//   mid:      ResBlock 64->64, self-attention (64 channels, 1 head), ResBlock 64->64
//   up:       nearest -> 14, concat s1 -> ResBlock 128->64; nearest -> 28, concat s0 -> ResBlock 96->32
//   out:      GroupNorm(8) -> SiLU -> conv 3x3 32->1
//   ResBlock(cin, cout): h = conv3x3(SiLU(GN8(x))); h += linear(SiLU(temb)) per channel;
//                        h = conv3x3(SiLU(GN8(h))); out = h + (cin == cout ? x : conv1x1(x))
//   attention block:     x + MHSA(GN8(x))
import * as T from '../packages/tensor/src/index.ts';
import * as nn from '../packages/nn/src/index.ts';
import { valueAndGrad } from '../packages/autograd/src/index.ts';

type Conv = nn.ConvParams;
type Norm = nn.NormParams;
interface ResParams { gn1: Norm; conv1: Conv; temb: nn.LinearParams; gn2: Norm; conv2: Conv; skip?: Conv }
export interface UNetParams {
  t1: nn.LinearParams; t2: nn.LinearParams; convIn: Conv;
  down0: ResParams; ds0: Conv; down1: ResParams; ds1: Conv;
  mid1: ResParams; attnNorm: Norm; attn: nn.MultiHeadSelfAttentionParams; mid2: ResParams;
  up1: ResParams; up0: ResParams; gnOut: Norm; convOut: Conv;
}

const TD = 128;
const conv3 = (cin: number, cout: number) => ({ inChannels: cin, outChannels: cout, kernelSize: 3, padding: 1 });

function resInit(key: T.RandomKey, cin: number, cout: number): ResParams {
  const k = T.splitKey(key, 6);
  const p: ResParams = {
    gn1: nn.groupNorm.init(k[0], { groups: 8, channels: cin }),
    conv1: nn.conv2d.init(k[1], conv3(cin, cout)),
    temb: nn.linear.init(k[2], { inFeatures: TD, outFeatures: cout }),
    gn2: nn.groupNorm.init(k[3], { groups: 8, channels: cout }),
    conv2: nn.conv2d.init(k[4], conv3(cout, cout)),
  };
  if (cin !== cout) p.skip = nn.conv2d.init(k[5], { inChannels: cin, outChannels: cout, kernelSize: 1 });
  return p;
}

function resApply(p: ResParams, x: T.Tensor, temb: T.Tensor): T.Tensor {
  const gn = { groups: 8 };
  let h = nn.conv2d.apply(p.conv1, T.silu(nn.groupNorm.apply(p.gn1, x, gn)), { padding: 1 });
  const tb = nn.linear.apply(p.temb, T.silu(temb)); // [N, cout]
  h = T.add(h, T.reshape(tb, [tb.shape[0], tb.shape[1], 1, 1]));
  h = nn.conv2d.apply(p.conv2, T.silu(nn.groupNorm.apply(p.gn2, h, gn)), { padding: 1 });
  return T.add(h, p.skip ? nn.conv2d.apply(p.skip, x) : x);
}

export function unetInit(key: T.RandomKey): UNetParams {
  const k = T.splitKey(key, 16);
  return {
    t1: nn.linear.init(k[0], { inFeatures: 32, outFeatures: TD }),
    t2: nn.linear.init(k[1], { inFeatures: TD, outFeatures: TD }),
    convIn: nn.conv2d.init(k[2], conv3(1, 32)),
    down0: resInit(k[3], 32, 32),
    ds0: nn.conv2d.init(k[4], conv3(32, 32)),
    down1: resInit(k[5], 32, 64),
    ds1: nn.conv2d.init(k[6], conv3(64, 64)),
    mid1: resInit(k[7], 64, 64),
    attnNorm: nn.groupNorm.init(k[8], { groups: 8, channels: 64 }),
    attn: nn.multiHeadSelfAttention.init(k[9], { dim: 64, heads: 1 }),
    mid2: resInit(k[10], 64, 64),
    up1: resInit(k[11], 128, 64),
    up0: resInit(k[12], 96, 32),
    gnOut: nn.groupNorm.init(k[13], { groups: 8, channels: 32 }),
    convOut: nn.conv2d.init(k[14], conv3(32, 1)),
  };
}

/**
 * x [N, 1, 28, 28], timesteps (host numbers, length N) -> predicted noise [N, 1, 28, 28].
 * `timesteps` may instead be their embedding, a tensor [N, 32] (a compiled step's argument).
 */
export function unetApply(p: UNetParams, x: T.Tensor, timesteps: readonly number[] | T.Tensor): T.Tensor {
  return T.tidy(() => {
    // [sin, cos] with frequencies exp(-ln(1e4) i / half), as the tfjs twin
    const emb = T.isTensor(timesteps) ? timesteps : nn.sinusoidalEmbedding(timesteps, 32, { downscaleFreqShift: 0 });
    const temb = nn.linear.apply(p.t2, T.silu(nn.linear.apply(p.t1, emb)));
    let h = nn.conv2d.apply(p.convIn, x, { padding: 1 });
    const s0 = resApply(p.down0, h, temb);
    h = nn.conv2d.apply(p.ds0, s0, { stride: 2, padding: 1 });
    const s1 = resApply(p.down1, h, temb);
    h = nn.conv2d.apply(p.ds1, s1, { stride: 2, padding: 1 });
    h = resApply(p.mid1, h, temb);
    h = T.add(h, nn.multiHeadSelfAttention.apply(p.attn, nn.groupNorm.apply(p.attnNorm, h, { groups: 8 }), { heads: 1 }));
    h = resApply(p.mid2, h, temb);
    h = resApply(p.up1, T.concat([nn.upsample.apply({}, h), s1], 1), temb);
    h = resApply(p.up0, T.concat([nn.upsample.apply({}, h), s0], 1), temb);
    return nn.conv2d.apply(p.convOut, T.silu(nn.groupNorm.apply(p.gnOut, h, { groups: 8 })), { padding: 1 });
  });
}

/** The epsilon-prediction loss mean((unet(x_t, t) - eps)^2); `t` as in unetApply. */
export function unetLoss(p: UNetParams, xt: T.Tensor, t: readonly number[] | T.Tensor, eps: T.Tensor): T.Tensor {
  return T.mean(T.square(T.sub(unetApply(p, xt, t), eps)));
}

/** `n` timesteps uniform in [0, 1000) from the bench's host generator. */
export function drawTimesteps(n: number, rand: () => number): number[] {
  return Array.from({ length: n }, () => Math.floor(rand() * 1000));
}

/** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps per example (the coefficient tensors are freed). */
export function noisyInput(abar: Float64Array, x0: T.Tensor, ts: readonly number[], eps: T.Tensor): T.Tensor {
  const [sa, sb] = noiseCoefficients(abar, ts);
  try {
    return T.tidy(() => T.add(T.mul(x0, sa), T.mul(eps, sb)));
  } finally {
    T.dispose([sa, sb]);
  }
}

/** Adam's beta1, beta2 and eps in every UNet step bench (nn.adam's defaults). */
export const ADAM = { b1: 0.9, b2: 0.999, eps: 1e-8 } as const;

/**
 * One Adam training step of the reference UNet as a pure function of its arguments, the form
 * `compileStep` traces: every per-step value comes in (the batch x0, the noise, the timestep
 * embedding [B, 32], sqrt(abar_t) and sqrt(1 - abar_t) [B, 1, 1, 1], the learning rate and the
 * bias corrections 1 - b1^n, 1 - b2^n). The loss is the epsilon-prediction MSE; the update is
 * nn.adam's (PyTorch's Adam) written with tensor ops so that the scalars may be traced values.
 */
export function unetAdamStep(
  p: UNetParams, mu: UNetParams, nu: UNetParams, x0: T.Tensor, noise: T.Tensor, emb: T.Tensor, sab: T.Tensor, s1ab: T.Tensor,
  lr: number | T.Tensor, bc1: number | T.Tensor, bc2: number | T.Tensor,
): { p: UNetParams; mu: UNetParams; nu: UNetParams; loss: T.Tensor } {
  const { b1, b2, eps } = ADAM;
  return T.tidy(() => {
    const loss = (q: UNetParams) => unetLoss(q, T.add(T.mul(x0, sab), T.mul(noise, s1ab)), emb, noise);
    const [l, g] = valueAndGrad(loss)(p);
    const [pl, def] = T.treeFlatten(p);
    const gl = T.treeLeaves(g) as T.Tensor[], ml = T.treeLeaves(mu) as T.Tensor[], vl = T.treeLeaves(nu) as T.Tensor[];
    const np: T.Tensor[] = [], nm: T.Tensor[] = [], nv: T.Tensor[] = [];
    (pl as T.Tensor[]).forEach((pi, i) => {
      const m = T.add(T.mul(ml[i], b1), T.mul(gl[i], 1 - b1));
      const v = T.add(T.mul(vl[i], b2), T.mul(T.square(gl[i]), 1 - b2));
      np.push(T.sub(pi, T.mul(T.div(T.div(m, bc1), T.add(T.sqrt(T.div(v, bc2)), eps)), lr)));
      nm.push(m);
      nv.push(v);
    });
    return { p: T.treeUnflatten(def, np) as UNetParams, mu: T.treeUnflatten(def, nm) as UNetParams, nu: T.treeUnflatten(def, nv) as UNetParams, loss: l as T.Tensor };
  });
}

/** The forward process's per-example coefficients [sqrt(abar_t), sqrt(1 - abar_t)], each [B, 1, 1, 1]. */
export function noiseCoefficients(abar: Float64Array, ts: readonly number[]): [T.Tensor, T.Tensor] {
  const B = ts.length;
  return [T.tensor(ts.map((t) => Math.sqrt(abar[t])), [B, 1, 1, 1]), T.tensor(ts.map((t) => Math.sqrt(1 - abar[t])), [B, 1, 1, 1])];
}

/** abar_t of the linear beta schedule (float64 on the host). */
export function alphaBar(steps = 1000): Float64Array {
  const abar = new Float64Array(steps);
  let a = 1;
  for (let i = 0; i < steps; i++) {
    a *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / (steps - 1));
    abar[i] = a;
  }
  return abar;
}

/** "MNIST-like" batch in [-1, 1]: three random strokes per 28x28 canvas (as the tfjs twin). */
export function fakeDigits(n: number, rand: () => number = Math.random): Float32Array {
  const x = new Float32Array(n * 28 * 28).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < 3; s++) {
      let px = 6 + rand() * 16;
      let py = 6 + rand() * 16;
      const dx = rand() * 2 - 1;
      const dy = rand() * 2 - 1;
      for (let k = 0; k < 14; k++, px += dx, py += dy) {
        const ix = Math.round(px);
        const iy = Math.round(py);
        for (const [ox, oy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          const xx = ix + ox;
          const yy = iy + oy;
          if (xx >= 0 && xx < 28 && yy >= 0 && yy < 28) x[i * 784 + yy * 28 + xx] = 1;
        }
      }
    }
  }
  return x;
}
