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
import { runKeys, train, TrainDivergedError, type StepMetrics } from '../src/train/train.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, readCheckpointState } from '../src/train/checkpoint.ts';

const MLP: DenoiserConfig = { dim: 2, hidden: 16, layers: 2, timeEmbedDim: 8 };
const SCHEDULE = { kind: 'linear' as const, T: 50 };

function baseConfig(over: Partial<TrainConfig<DenoiserConfig>> = {}): TrainConfig<DenoiserConfig> {
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
    const r = await train<MlpParams, DenoiserConfig>(cfg);
    const after = await lossAt(r.params);
    T.dispose(r.params);
    expect(r.step).toBe(1);
    expect(r.emaParams).toBeNull();
    expect(r.losses[0]).toBe(before); // the loop's loss is diffusionLoss on that batch
    expect(after).toBeLessThan(before * 0.99);
  });

  it('is deterministic, and a resumed run continues bit for bit as the uninterrupted one', async () => {
    const run1 = join(dir, 'a');
    const full = await train<MlpParams, DenoiserConfig>(baseConfig({ checkpointEvery: 100 }), { runDir: run1 });
    const again = await train<MlpParams, DenoiserConfig>(baseConfig());
    expect(Array.from(again.losses)).toEqual(Array.from(full.losses));
    expect(full.losses.length).toBe(6);
    // Interrupted after step 3 (AbortSignal, as Ctrl-C), then resumed.
    const run2 = join(dir, 'b');
    const ctl = new AbortController();
    const seen: StepMetrics[] = [];
    const part = await train<MlpParams, DenoiserConfig>(baseConfig(), {
      runDir: run2, signal: ctl.signal, onStep: (m) => { seen.push(m); if (m.step === 3) ctl.abort(); },
    });
    expect(part.status).toBe('aborted');
    expect(part.step).toBe(3);
    expect(part.checkpoint).toMatch(/step-000003$/);
    T.dispose([part.params, part.emaParams]);
    const rest = await train<MlpParams, DenoiserConfig>(baseConfig(), { runDir: run2, resume: true, onStep: (m) => { seen.push(m); } });
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
