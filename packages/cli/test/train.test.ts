// Training through the CLI: a short 2-D train + eval beats the untrained model by far; resume
// from a checkpoint reproduces the uninterrupted run bit for bit; a NaN loss stops with the last
// good checkpoint intact; sample writes its pictures; Ctrl-C writes a checkpoint (child process).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, tmp } from './helpers.ts';

const csv = (p: string) => readFileSync(p, 'utf8').trim().split('\n').slice(1).map((r) => r.split(','));
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tapegrad.js');

describe('tapegrad train / eval / sample on two moons', () => {
  const root = tmp('train');
  const runA = join(root, 'a');

  it('a short run writes its folder, and eval puts its MMD far below the untrained model\'s', async () => {
    const r = await cli(['train', '--data', 'moons', '--steps', '300', '--batch-size', '64', '--out', runA, '--log-every', '50', '--checkpoint-every', '150', '--sample-every', '150']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/step 300\/300  loss/); // not a TTY: one log line per report
    expect(r.out).toMatch(/^executor: compiled \(each update is traced once/m); // the default
    const cfg = JSON.parse(readFileSync(join(runA, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ data: 'moons', steps: 300, batchSize: 64, lr: 0.006, seed: 0, backend: 'webasm' });
    const rows = csv(join(runA, 'metrics.csv'));
    expect(readFileSync(join(runA, 'metrics.csv'), 'utf8').split('\n')[0]).toBe('step,loss,lr,grad_norm,images_per_s,wall_s');
    expect(rows.map((x) => Number(x[0]))).toEqual([50, 100, 150, 200, 250, 300]);
    for (const row of rows) for (const v of row) expect(Number.isFinite(Number(v))).toBe(true);
    expect(Number(rows.at(-1)![1])).toBeLessThan(Number(rows[0]![1]));
    for (const f of ['samples/step-000150.svg', 'samples/step-000300.svg', 'loss.svg', 'checkpoints/step-000150/params.safetensors', 'checkpoints/step-000150/ema.safetensors', 'checkpoints/step-000150/optimizer.safetensors', 'checkpoints/step-000300/state.json']) {
      expect(existsSync(join(runA, f)), f).toBe(true);
    }
    expect(readFileSync(join(runA, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-000300');

    const e = await cli(['eval', '--checkpoint', runA, '--n', '300', '--samplers', 'ddim']);
    expect(e.code, e.err).toBe(0);
    const rep = JSON.parse(readFileSync(join(runA, 'eval.json'), 'utf8'));
    const ddim = rep.samplers[0];
    expect(ddim.sampler).toBe('ddim');
    expect(rep.floor.mmd[0]).toBeLessThan(ddim.mmd[0]);
    expect(ddim.mmd[0]).toBeLessThan(0.5 * rep.untrained.mmd[0]);
    expect(ddim.energy).toBeLessThan(0.2 * rep.untrained.energy);
    expect(e.out).toMatch(/data vs data \(floor\)/);
  });

  it('sample writes a scatter plot and a trajectory; image-only flags are refused for 2-D runs', async () => {
    let r = await cli(['sample', '--checkpoint', runA, '--sampler', 'dpmsolver++', '--steps', '10', '--n', '100', '--trajectory']);
    expect(r.code, r.err).toBe(0);
    const svg = readFileSync(join(runA, 'sample-dpmsolver++-10-trajectory.svg'), 'utf8');
    expect(svg).toContain('x0 estimate, t=');
    expect(svg.match(/<circle/g)!.length).toBeGreaterThan(1000);
    r = await cli(['sample', '--checkpoint', runA, '--guidance', '3']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--guidance and --class need a class-conditional model/);
    r = await cli(['sample', '--checkpoint', runA, '--out', join(root, 'grid.png')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/expected a path ending in \.svg/);
    r = await cli(['sample', '--checkpoint', root]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is not a run folder/);
  });

  it('--resume --eager from the middle checkpoint of a compiled run gives every later loss and the final state bit for bit', async () => {
    const runB = join(root, 'b');
    cpSync(runA, runB, { recursive: true });
    rmSync(join(runB, 'checkpoints', 'step-000300'), { recursive: true });
    writeFileSync(join(runB, 'checkpoints', 'latest'), 'step-000150\n');
    // the first half ran compiled (the default), the second runs eagerly: the same bits
    const r = await cli(['train', '--resume', runB, '--eager']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^executor: eager \(eager execution requested/m);
    expect(r.out).toMatch(/resuming .* from .*step-000150 \(step 150 of 300\)/);
    const a = csv(join(runA, 'metrics.csv')), b = csv(join(runB, 'metrics.csv'));
    expect(b.map((x) => x.slice(0, 4))).toEqual(a.map((x) => x.slice(0, 4))); // step, loss, lr, grad norm as printed (17 digits)
    for (const f of ['params.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      const sa = readFileSync(join(runA, 'checkpoints', 'step-000300', f));
      const sb = readFileSync(join(runB, 'checkpoints', 'step-000300', f));
      expect(sb.equals(sa), f).toBe(true);
    }
    const again = await cli(['train', '--resume', runB]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/the run is complete/);
  });

  it('a corrupt checkpoint is refused with the file named', async () => {
    const runC = join(root, 'c');
    cpSync(runA, runC, { recursive: true });
    const f = join(runC, 'checkpoints', 'step-000300', 'ema.safetensors');
    writeFileSync(f, readFileSync(f).subarray(0, 100));
    const r = await cli(['eval', '--checkpoint', runC]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(f);
  });

  it('a NaN loss stops training with exit 1, naming the step', async () => {
    const run = join(root, 'nan');
    const r = await cli(['train', '--data', 'moons', '--steps', '100', '--batch-size', '16', '--lr', '1e30', '--out', run, '--log-every', '1', '--checkpoint-every', '50', '--sample-every', '0']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^train: the loss became NaN at step 3; stopped, no checkpoint had been written yet/);
    expect(csv(join(run, 'metrics.csv')).map((x) => x[0])).toEqual(['1', '2']);
  });

  it('weights that blow up are caught before a checkpoint: the last good checkpoint stays intact and loads', async () => {
    const run = join(root, 'inf');
    const r = await cli(['train', '--data', 'moons', '--steps', '100', '--batch-size', '16', '--lr', '1e30', '--out', run, '--log-every', '1', '--checkpoint-every', '1', '--sample-every', '0']);
    expect(r.code).toBe(1);
    const m = r.err.match(/the weights became non-finite \(norm \S+, EMA norm \S+\) at step (\d+); stopped, the last good checkpoint (\S+) is left intact/);
    expect(m, r.err).not.toBeNull();
    const step = Number(m![1]);
    expect(m![2]).toBe(join(run, 'checkpoints', `step-${String(step - 1).padStart(6, '0')}`));
    expect(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim()).toBe(`step-${String(step - 1).padStart(6, '0')}`);
    expect(JSON.parse(readFileSync(join(m![2]!, 'state.json'), 'utf8')).step).toBe(step - 1);
    const e = await cli(['eval', '--checkpoint', run, '--n', '50', '--samplers', 'ddim']);
    expect(e.code, e.err).toBe(0);
  });

  it('Ctrl-C writes a checkpoint and exits 130 (child process)', async () => {
    const run = join(root, 'sigint');
    const child = spawn(process.execPath, [BIN, 'train', '--data', 'moons', '--steps', '100000', '--batch-size', '16', '--out', run, '--log-every', '5', '--sample-every', '0', '--checkpoint-every', '100000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise<number | null>((res) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/step +\d+\/100000/.test(out) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => res(c));
    });
    expect(code, err).toBe(130);
    const m = err.match(/interrupted at step (\d+): wrote (\S+);/);
    expect(m, err).not.toBeNull();
    expect(JSON.parse(readFileSync(join(m![2]!, 'state.json'), 'utf8')).step).toBe(Number(m![1]));
  });
});
