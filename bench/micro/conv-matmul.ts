// Quick single-backend check of the conv/matmul kernels (webasm): median of 5 calls each.
// Run: npx tsx bench/micro/conv-matmul.ts   (the full comparison with TensorFlow.js is bench/ops.ts)
import * as T from '@tapegrad/tensor';
await T.setBackend('webasm');
const k = T.splitKey(T.randomKey(1), 4);
const x = T.randomNormal(k[0], [8, 32, 28, 28]), w = T.randomNormal(k[1], [32, 32, 3, 3]), dy = T.randomNormal(k[2], [8, 32, 28, 28]);
const a = T.randomNormal(k[3], [256, 256]);
const fl = 2 * 8 * 32 * 28 * 28 * 32 * 9;
const time = (name: string, flops: number, fn: () => T.Tensor, n = 5) => { fn().dispose(); const ts: number[] = []; for (let i = 0; i < n; i++) { const t0 = performance.now(); fn().dispose(); ts.push(performance.now() - t0); } const m = ts.sort((p, q) => p - q)[n >> 1]; console.log(name.padEnd(24), m.toFixed(1), 'ms', (flops / m / 1e6).toFixed(2), 'GFLOP/s'); };
time('conv2d fwd', fl, () => T.conv2d(x, w, { padding: 1 }));
time('convTranspose2d (dx)', fl, () => T.convTranspose2d(dy, w, { padding: 1 }));
time('conv2dFilterGrad (dw)', fl, () => T.conv2dFilterGrad(x, dy, [32, 32, 3, 3], { padding: 1 }));
time('matmul 256', 2 * 256 ** 3, () => T.matmul(a, a));
T.dispose([x, w, dy, a]);
