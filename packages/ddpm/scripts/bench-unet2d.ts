// Forward (and forward + backward) time of unet2d on one backend:
//   npx tsx packages/ddpm/scripts/bench-unet2d.ts [--backend webasm] [--batch 8] [--size 28] [--channels 32,64]
//       [--groups 32 (8 unless every width is a multiple of 32)] [--layers 2] [--runs 5] [--grad]
// Config: diffusers' defaults except blockOutChannels, sampleSize, 1 in / 1 out channel, blocks
// [DownBlock2D, AttnDownBlock2D] / [AttnUpBlock2D, UpBlock2D] (one attention level), 11 class embeddings.
import { loadavg } from 'node:os';
import * as T from '@tapegrad/tensor';
import { valueAndGrad } from '@tapegrad/autograd';
import { unet2d, type UNet2DConfig, type UNet2DParams } from '../src/index.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const backend = arg('backend', 'webasm');
const B = Number(arg('batch', '8'));
const S = Number(arg('size', '28'));
const channels = arg('channels', '32,64').split(',').map(Number);
const runs = Number(arg('runs', '5'));
const withGrad = process.argv.includes('--grad');
const groups = Number(arg('groups', channels.every((c) => c % 32 === 0) ? '32' : '8'));
const layers = Number(arg('layers', '2'));
await T.setBackend(backend as 'webasm');
const n = channels.length;
const config: UNet2DConfig = {
  sampleSize: S, inChannels: 1, outChannels: 1, blockOutChannels: channels,
  downBlockTypes: ['DownBlock2D', ...Array(n - 1).fill('AttnDownBlock2D')],
  upBlockTypes: [...Array(n - 1).fill('AttnUpBlock2D'), 'UpBlock2D'],
  numClassEmbeds: 11, normNumGroups: groups, layersPerBlock: layers,
};
const params = unet2d.init(T.randomKey(0), config);
const nParams = T.treeLeaves(params).reduce((a: number, t) => a + (t as T.Tensor).size, 0);
const x = T.randomNormal(T.randomKey(1), [B, 1, S, S]);
const t = T.tensor(Array.from({ length: B }, (_, i) => (i * 137) % 1000));
const labels = T.tensor(Array.from({ length: B }, (_, i) => i % 11));
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

// Wall time and the process's CPU time (user + system): on a shared machine the CPU time is
// the better estimate of what the same run takes on a quiet one.
async function time(label: string, fn: () => Promise<void>): Promise<void> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const s = (v: number) => (v / 1000).toFixed(3);
  console.log(`${label}: first call ${s(wall[0])} s wall (kernel builds); then over ${runs} runs median ${s(median(wall.slice(1)))} s wall [${wall.slice(1).map(s).join(', ')}], median ${s(median(cpu.slice(1)))} s CPU [${cpu.slice(1).map(s).join(', ')}]`);
}

console.log(`unet2d on ${T.getBackend()}: batch ${B}, ${S}x${S}, blockOutChannels [${channels}], layersPerBlock ${layers}, normNumGroups ${groups}, ${nParams} parameters; load average ${loadavg().map((v) => v.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cores`);
await time('forward', async () => {
  const y = unet2d.apply(params, x, t, { config, classLabels: labels });
  await y.data();
  y.dispose();
});
if (withGrad) {
  const vg = valueAndGrad((p: UNet2DParams) => T.mean(T.square(unet2d.apply(p, x, t, { config, classLabels: labels }))));
  await time('forward + backward', async () => {
    const [l, g] = vg(params);
    await l.data();
    await Promise.all(T.treeLeaves(g).map((u) => (u as T.Tensor).data()));
    T.dispose([l, g]);
  });
}
T.dispose([params, x, t, labels]);
console.log(`load average at the end: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
