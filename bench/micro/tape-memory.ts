// What the tape holds after the forward pass of a small MLP (live tensors and bytes), and ms per vjp step.
// Run: npx tsx bench/micro/tape-memory.ts
import * as T from '@tapegrad/tensor';
import { vjp } from '@tapegrad/autograd';
await T.setBackend('webasm');
const B = 64, H = 128;
const k = T.splitKey(T.randomKey(1), 8);
const p = { w1: T.randomNormal(k[0], [16, H]), b1: T.zeros([H]), w2: T.randomNormal(k[1], [H, H]), b2: T.zeros([H]), w3: T.randomNormal(k[2], [H, 16]) };
const x = T.randomNormal(k[3], [B, 16]);
const f = (p: any) => { let h = T.silu(T.add(T.matmul(x, p.w1), p.b1)); h = T.silu(T.add(T.matmul(h, p.w2), p.b2)); return T.mean(T.square(T.sub(T.matmul(h, p.w3), x))); };
const m0 = T.memory();
const [out, back] = vjp(f, p);
const m1 = T.memory();
console.log('held by the tape after forward: tensors', m1.tensors - m0.tensors, 'bytes', m1.bytes - m0.bytes);
const one = T.scalar(1); const g = back(one); back.dispose(); T.dispose([out, one, g]);
let t0 = performance.now(); for (let i = 0; i < 20; i++) { const [o, b] = vjp(f, p); const u = T.scalar(1); const gg = b(u); b.dispose(); T.dispose([o, u, gg]); } console.log('ms/step', ((performance.now() - t0) / 20).toFixed(2));
