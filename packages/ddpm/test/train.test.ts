import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '@tapegrad/tensor';
import { randomKey } from '@tapegrad/tensor';
import type { MlpParams } from '@tapegrad/nn';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { diffusionLoss, sampleTimesteps } from '../src/process/loss.ts';
import { mlpDenoiser, type DenoiserConfig } from '../src/models/mlp.ts';
import type { Denoiser } from '../src/models/denoiser.ts';
import { toy2dSource } from '../src/data/toy2d.ts';
import { arraySource, epochPermutation, nextBatchIndices } from '../src/train/data.ts';
import { dropLabels, runKeys, train, TrainDivergedError, type StepMetrics } from '../src/train/train.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, loadTrainedModel, readCheckpointState } from '../src/train/checkpoint.ts';

const MLP: DenoiserConfig = { dim: 2, hidden: 16, layers: 2, timeEmbedDim: 8 };
const SCHEDULE = { kind: 'linear' as const, T: 50 };

function baseConfig(over: Partial<TrainConfig<DenoiserConfig, MlpParams>> = {}): TrainConfig<DenoiserConfig, MlpParams> {
  return {
    model: mlpDenoiser(MLP), modelConfig: MLP, modelKind: 'mlp',
    data: toy2dSource('moons', randomKey(7), 40),
    steps: 6, batchSize: 16, seed: 3, schedule: SCHEDULE, lr: 3e-3, warmupSteps: 2, logEvery: 1,
    ...over,
  };
}

async function values(tree: unknown): Promise<number[][]> {
  return Promise.all(T.treeLeaves(tree).map(async (t) => Array.from(await (t as T.Tensor).data())));
}

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'tapegrad-train-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('data cursor and shuffling', () => {
  it('each epoch is a permutation; batches cross epochs; the cursor resumes the same stream', () => {
    const key = randomKey(1);
    for (const n of [1, 2, 7, 10]) {
      const p = Array.from(epochPermutation(key, 3, n)).sort((a, b) => a - b);
      expect(p).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    expect(Array.from(epochPermutation(key, 0, 10))).not.toEqual(Array.from(epochPermutation(key, 1, 10)));
    // 5 batches of 4 over 7 examples, straight vs. restarted from each cursor.
    let cur = { epoch: 0, index: 0 };
    const straight: number[] = [];
    const cursors = [cur];
    for (let k = 0; k < 5; k++) {
      const b = nextBatchIndices(key, 7, cur, 4);
      straight.push(...b.indices);
      cur = b.cursor;
      cursors.push(cur);
    }
    expect(cursors[5]).toEqual({ epoch: 2, index: 6 });
    for (let e = 0; e < 3; e++) {
      const seen = straight.slice(e * 7, e * 7 + 7).sort((a, b) => a - b);
      if (seen.length === 7) expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
    }
    for (let k = 0; k < 5; k++) {
      expect(Array.from(nextBatchIndices(key, 7, cursors[k]!, 4).indices)).toEqual(straight.slice(4 * k, 4 * k + 4));
    }
  });
});

describe('train', () => {
  it('one step lowers the loss on its batch (the same x0, t and noise)', async () => {
    const x = Float32Array.from([0.5, -0.2, 1.1, 0.3, -0.8, 0.9, 0.1, -1.2]);
    const cfg = baseConfig({ data: arraySource(x, [2]), batchSize: 4, steps: 1, lr: 1e-2, lrSchedule: 'constant', warmupSteps: 0, ema: null, gradClip: null });
    // The batch of update 0, rebuilt from the documented key derivation.
    const keys = runKeys(randomKey(3));
    const idx = nextBatchIndices(keys.data, 4, { epoch: 0, index: 0 }, 4).indices;
    const x0Host = Float32Array.from(Array.from(idx).flatMap((i) => [x[2 * i]!, x[2 * i + 1]!]));
    const t = sampleTimesteps(T.foldIn(keys.t, 0), 4, 50);
    const lossAt = async (params: MlpParams) => {
      const x0 = T.tensor(x0Host, [4, 2]);
      const noise = T.randomNormal(T.foldIn(keys.noise, 0), [4, 2]);
      const l = diffusionLoss((xt, tt) => mlpDenoiser(MLP).apply(params, xt, tt), x0, { schedule: makeSchedule('linear', 50), t, noise });
      const v = (await l.data())[0]!;
      T.dispose([x0, noise, l]);
      return v;
    };
    const init = mlpDenoiser(MLP).init(keys.init, MLP);
    const before = await lossAt(init);
    T.dispose(init);
    const r = await train(cfg);
    const after = await lossAt(r.params);
    T.dispose(r.params);
    expect(r.step).toBe(1);
    expect(r.emaParams).toBeNull();
    expect(r.losses[0]).toBe(before); // the loop's loss is diffusionLoss on that batch
    expect(after).toBeLessThan(before * 0.99);
  });

  it('is deterministic, and a resumed run continues bit for bit as the uninterrupted one', async () => {
    const run1 = join(dir, 'a');
    const full = await train(baseConfig({ checkpointEvery: 100 }), { runDir: run1 });
    expect(full.executor).toEqual({ executor: 'compiled', reason: null }); // the default: the resume below is compiled too
    const again = await train(baseConfig());
    expect(Array.from(again.losses)).toEqual(Array.from(full.losses));
    expect(full.losses.length).toBe(6);
    // Interrupted after step 3 (AbortSignal, as Ctrl-C), then resumed.
    const run2 = join(dir, 'b');
    const ctl = new AbortController();
    const seen: StepMetrics[] = [];
    const part = await train(baseConfig(), {
      runDir: run2, signal: ctl.signal, onStep: (m) => { seen.push(m); if (m.step === 3) ctl.abort(); },
    });
    expect(part.status).toBe('aborted');
    expect(part.step).toBe(3);
    expect(part.checkpoint).toMatch(/step-000003$/);
    T.dispose([part.params, part.emaParams]);
    const rest = await train(baseConfig(), { runDir: run2, resume: true, onStep: (m) => { seen.push(m); } });
    expect(rest.status).toBe('completed');
    expect(seen.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...part.losses, ...rest.losses]).toEqual(Array.from(full.losses));
    expect(await values(rest.params)).toEqual(await values(full.params));
    expect(await values(rest.emaParams)).toEqual(await values(full.emaParams));
    for (const m of seen) {
      expect(m.lr).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(m.gradNorm) && m.gradNorm > 0).toBe(true);
      expect(m.imagesPerSec).toBeGreaterThan(0);
    }
    T.dispose([full.params, full.emaParams, again.params, again.emaParams, rest.params, rest.emaParams]);
  });
});

describe('train: onUpdate', () => {
  it('sees every update in order, after its onStep and before its checkpoint, with the live params and EMA; a throw stops before the checkpoint', async () => {
    const events: string[] = [];
    const seen: { step: number; p: number[][]; e: number[][] }[] = [];
    const run = join(dir, 'onupdate');
    const r = await train(baseConfig({ logEvery: 4, checkpointEvery: 3 }), {
      runDir: run,
      onStep: (m) => { events.push(`s${m.step}`); },
      onCheckpoint: (c) => { events.push(`c${c.step}`); },
      onUpdate: async (u) => { events.push(`u${u.step}`); seen.push({ step: u.step, p: await values(u.params), e: await values(u.emaParams) }); },
    });
    // logEvery 4: steps 1..4 are reported at update 4; the final step is flushed before its onUpdate
    expect(events).toEqual(['u1', 'u2', 'u3', 's1', 's2', 's3', 'c3', 's4', 'u4', 'u5', 's5', 's6', 'u6', 'c6']);
    expect(seen.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // the params it saw at step 6 are the ones train returned, and the EMA differs from the params
    expect(seen[5]!.p).toEqual(await values(r.params));
    expect(seen[5]!.e).toEqual(await values(r.emaParams));
    expect(seen[5]!.e).not.toEqual(seen[5]!.p);
    expect(seen[0]!.p).not.toEqual(seen[1]!.p);
    T.dispose([r.params, r.emaParams]);

    const run2 = join(dir, 'onupdate-throw');
    await expect(train(baseConfig({ checkpointEvery: 2 }), {
      runDir: run2, onUpdate: (u) => { if (u.step === 4) throw new Error('stop at 4'); },
    })).rejects.toThrow('stop at 4');
    expect((await listCheckpoints(run2)).map((d) => d.slice(-11))).toEqual(['step-000002']);
  });
});

describe('train: failures keep the last good checkpoint', () => {
  it('a non-finite loss stops training with the step and the last good checkpoint, which stays loadable', async () => {
    const run = join(dir, 'nan');
    // A model that diverges from its 5th call on (the 5th update): its output becomes NaN.
    const inner = mlpDenoiser(MLP);
    let calls = 0;
    const diverging: Denoiser<MlpParams, DenoiserConfig> = {
      init: inner.init,
      apply: (p, x, t, o) => (++calls >= 5 ? T.tidy(() => T.mul(inner.apply(p, x, t, o), NaN)) : inner.apply(p, x, t, o)),
    };
    // eager: the model is impure (it counts its calls), which a compiled replay would not run
    const err = await train(baseConfig({ model: diverging, checkpointEvery: 2, steps: 8 }), { runDir: run, eager: true }).catch((e) => e);
    expect(err).toBeInstanceOf(TrainDivergedError);
    expect(err.message).toMatch(/^train: the loss became NaN at step 5; training stopped\. The last good checkpoint is .*step-000004 \(intact\)/);
    expect(err.step).toBe(5);
    expect(err.checkpoint).toBe(join(run, 'checkpoints', 'step-000004'));
    expect(await latestCheckpoint(run)).toBe(join(run, 'checkpoints', 'step-000004'));
    expect((await listCheckpoints(run)).map((d) => d.slice(-11))).toEqual(['step-000002', 'step-000004']);
    const template = inner.init(randomKey(0), MLP);
    const { state, tensors } = await loadCheckpoint(join(run, 'checkpoints', 'step-000004'), template);
    expect(state.step).toBe(4);
    expect(state.dataCursor).toEqual({ epoch: 1, index: 24 }); // 4 batches of 16 over 40 examples
    for (const v of await values(tensors.params)) expect(v.every(Number.isFinite)).toBe(true);
    T.dispose([template, tensors]);
  });

  it('keeps the newest K checkpoints and a latest pointer', async () => {
    const run = join(dir, 'keep');
    const r = await train(baseConfig({ steps: 5, checkpointEvery: 1, keepCheckpoints: 2 }), { runDir: run });
    expect((await listCheckpoints(run)).map((d) => d.slice(-11))).toEqual(['step-000004', 'step-000005']);
    expect((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim()).toBe('step-000005');
    expect((await readdir(join(run, 'checkpoints'))).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    const s = await readCheckpointState(join(run, 'checkpoints', 'step-000005'));
    expect(s.config.modelKind).toBe('mlp');
    expect(s.config.ema).toEqual({ maxDecay: 0.9999, invGamma: 1, power: 0.75 });
    expect(s.optimizerStep).toBe(5);
    expect(s.emaStep).toBe(5);
    // What sample / export load: the run folder resolves to its latest checkpoint.
    const m = await loadTrainedModel(run, mlpDenoiser(MLP));
    expect(m.dir).toBe(join(run, 'checkpoints', 'step-000005'));
    expect(await values(m.params)).toEqual(await values(r.params));
    expect(await values(m.ema)).toEqual(await values(r.emaParams));
    T.dispose([m.params, m.ema, r.params, r.emaParams]);
  });

  it('rejects corrupt, truncated and mismatched checkpoints naming the file and the tensor', async () => {
    const run = join(dir, 'corrupt');
    const cfg = (o: Partial<TrainConfig<DenoiserConfig, MlpParams>> = {}) => baseConfig({ warmupSteps: 1, ...o });
    const r = await train(cfg({ steps: 2 }), { runDir: run });
    T.dispose([r.params, r.emaParams]);
    const ck = join(run, 'checkpoints', 'step-000002');
    // A different model config: the params do not fit.
    const wide = { ...MLP, hidden: 12 };
    const e1 = await train(cfg({ model: mlpDenoiser(wide), modelConfig: wide }), { runDir: run, resume: true }).catch((e) => e);
    expect(e1.message).toMatch(/^train: cannot resume from .*step-000002: the config differs from the checkpoint's in modelConfig\.hidden \(12 vs 16\)/);
    const template = mlpDenoiser(wide).init(randomKey(0), wide);
    const e2 = await loadCheckpoint(ck, template).catch((e) => e);
    T.dispose(template);
    expect(e2.message).toMatch(/^loadCheckpoint: \S*step-000002\/params\.safetensors: does not match .*shape of '0\.weight' is \[16,10\] in the file, \[12,10\] in the template/);
    // A different learning rate is another run.
    const e3 = await train(cfg({ lr: 1e-3 }), { runDir: run, resume: true }).catch((e) => e);
    expect(e3.message).toMatch(/config differs .* lr \(0\.001 vs 0\.003\)/);
    // Truncated tensors.
    const opt = join(ck, 'optimizer.safetensors');
    const bytes = await readFile(opt);
    await truncate(opt, bytes.length - 10);
    const e4 = await train(cfg(), { runDir: run, resume: true }).catch((e) => e);
    expect(e4.message).toMatch(/^loadCheckpoint: \S*optimizer\.safetensors: tensor 'nu\.[\w.]+' ends at byte \d+ .*the file is truncated/);
    await writeFile(opt, bytes);
    // Corrupt JSON.
    const stateFile = join(ck, 'state.json');
    const text = await readFile(stateFile, 'utf8');
    await writeFile(stateFile, text.slice(0, text.length / 2));
    const e5 = await train(cfg(), { runDir: run, resume: true }).catch((e) => e);
    expect(e5.message).toMatch(/^loadCheckpoint: .*state\.json: not valid JSON/);
    await writeFile(stateFile, text.replace('"step": 2', '"step": -1'));
    const e6 = await train(cfg(), { runDir: run, resume: true }).catch((e) => e);
    expect(e6.message).toMatch(/^loadCheckpoint: .*state\.json: step is -1; expected an integer >= 0/);
    // A folder without checkpoints.
    const e7 = await train(cfg(), { resume: join(dir, 'nowhere') }).catch((e) => e);
    expect(e7.message).toMatch(/^loadCheckpoint: .*nowhere: no checkpoint found/);
  });
});

describe('train: class-conditional data', () => {
  it('drops labels to the null class at the configured rate and trains a conditional model', async () => {
    const labels = Int32Array.from({ length: 4000 }, (_, i) => i % 3);
    const got = dropLabels(labels, 0.25, 3, randomKey(5));
    const dropped = got.filter((v) => v === 3).length / labels.length;
    expect(Math.abs(dropped - 0.25)).toBeLessThan(0.03);
    got.forEach((v, i) => { if (v !== 3) expect(v).toBe(labels[i]); });
    expect(dropLabels(labels, 0, 3, randomKey(5))).toBe(labels);

    const cond = { ...MLP, numClasses: 3 };
    const x = Float32Array.from({ length: 24 }, (_, i) => (i % 2 ? 1 : -1) * (1 + (i % 3)));
    const data = arraySource(x, [2], Int32Array.from({ length: 12 }, (_, i) => i % 3));
    expect(data.numClasses).toBe(3);
    const r = await train(baseConfig({ model: mlpDenoiser(cond), modelConfig: cond, data, batchSize: 6, steps: 3 }));
    expect(r.config.labelDropout).toBe(0.1);
    expect(r.config.data.numClasses).toBe(3);
    expect(r.losses.length).toBe(3);
    T.dispose([r.params, r.emaParams]);
    await expect(train(baseConfig({ labelDropout: 0.2 }))).rejects.toThrow(/^train: config\.labelDropout is 0\.2 but the data has no classes/);
  });

  it('validates the config with the field name', async () => {
    await expect(train(baseConfig({ steps: 0 }))).rejects.toThrow(/^train: config\.steps must be an integer >= 1, got 0/);
    await expect(train(baseConfig({ gradClip: -1 }))).rejects.toThrow(/^train: config\.gradClip must be > 0/);
    await expect(train(baseConfig({ lrSchedule: 'linear' as never }))).rejects.toThrow(/^train: config\.lrSchedule must be 'cosine' or 'constant'/);
    await expect(train(baseConfig({ warmupSteps: 6 }))).rejects.toThrow(/warmupSteps \(6\) must be below steps \(6\)/);
  });
});
