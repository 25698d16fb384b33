// Training throughput of a preset, compiled vs eager (the two executors of @tapegrad/ddpm's
// train, the same config the CLI builds), and compiled without fusion (compileOptions
// { fuse: false }: the plan replays the eager kernels one by one), interleaved per rep.
// Each run trains `--steps` updates from scratch; images/s is taken over updates 3..N (the
// first update of a compiled run is its trace, the second warms the kernels), as wall time
// and as this process's CPU time (user + system: less sensitive to a loaded machine).
//
//   npx tsx packages/cli/scripts/train-executors.ts --preset=mnist14 --steps=30 --reps=2
//
// (median of the reps per variant; a markdown table per run)
//
// Prints a markdown table and the load average before and after. Losses of the two executors
// are compared bit for bit (they must be equal).

import { loadavg } from 'node:os';
import * as T from '@tapegrad/tensor';
import { train } from '@tapegrad/ddpm';
import { resolveTrainConfig } from '../src/commands/train.ts';
import { libraryTrainConfig } from '../src/tasks.ts';

const arg = (name: string, def: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const preset = arg('preset', 'mnist14');
const steps = Number(arg('steps', '30'));
const reps = Number(arg('reps', '2'));
if (!(steps >= 4)) throw new Error(`--steps must be >= 4, got ${steps}`);

const { cfg } = resolveTrainConfig({ preset, steps }, process.env);
await T.setBackend(cfg.backend as never);
const lib = libraryTrainConfig(cfg);
const B = lib.batchSize;
const load0 = loadavg();

const variants = [
  { name: 'compiled', eager: false, compileOptions: undefined },
  { name: 'eager', eager: true, compileOptions: undefined },
  { name: 'compiled, no fusion', eager: false, compileOptions: { fuse: false } },
];
interface Row { executor: string; rep: number; wallIps: number; cpuIps: number; firstStepS: number; losses: Float64Array }
const rows: Row[] = [];
for (let rep = 1; rep <= reps; rep++) {
  for (const v of variants) {
    const wall: number[] = [];
    const cpu: number[] = [];
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await train(lib, {
      eager: v.eager, compileOptions: v.compileOptions,
      onUpdate: async (u) => {
        await T.tidy(() => T.add(T.treeLeaves(u.params)[0] as T.Tensor, 0)).data().then(() => undefined); // the update has run
        wall[u.step] = (performance.now() - t0) / 1000;
        const c = process.cpuUsage(c0);
        cpu[u.step] = (c.user + c.system) / 1e6;
      },
    });
    T.dispose([r.params, r.emaParams]);
    const n = steps - 2;
    rows.push({
      executor: v.name, rep, firstStepS: wall[1]!,
      wallIps: (B * n) / (wall[steps]! - wall[2]!), cpuIps: (B * n) / (cpu[steps]! - cpu[2]!), losses: r.losses,
    });
    const last = rows[rows.length - 1]!;
    console.error(`rep ${rep} ${last.executor}: ${last.wallIps.toFixed(1)} images/s wall, ${last.cpuIps.toFixed(1)} images/s CPU, first update ${last.firstStepS.toFixed(2)} s`);
  }
}
const load1 = loadavg();
const same = rows.every((r) => r.losses.length === rows[0]!.losses.length && r.losses.every((v, i) => Object.is(v, rows[0]!.losses[i])));
console.log(`| run | executor | images/s (wall, updates 3-${steps}) | images/s (CPU time) | first update (s) |`);
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.rep} | ${r.executor} | ${r.wallIps.toFixed(1)} | ${r.cpuIps.toFixed(1)} | ${r.firstStepS.toFixed(2)} |`);
const med = (xs: number[]) => {
  const v = xs.slice().sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};
for (const k of ['wallIps', 'cpuIps'] as const) {
  const e = med(rows.filter((r) => r.executor === 'eager').map((r) => r[k]));
  for (const v of variants.filter((x) => x.name !== 'eager')) {
    const c = med(rows.filter((r) => r.executor === v.name).map((r) => r[k]));
    console.log(`${k === 'wallIps' ? 'wall' : 'CPU'} (median): ${v.name} ${c.toFixed(1)} vs eager ${e.toFixed(1)} images/s (${(c / e).toFixed(2)}x)`);
  }
}
console.log(`preset ${preset}, batch ${B}, ${steps} updates per run, backend ${cfg.backend}; losses of every run bit-identical: ${same}`);
console.log(`load average before ${load0.map((v) => v.toFixed(2)).join(' ')}, after ${load1.map((v) => v.toFixed(2)).join(' ')}`);
