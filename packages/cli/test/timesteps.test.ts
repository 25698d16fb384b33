// The train command trains on every timestep: the t its updates gather coefficients for cover
// [0, T) (issue 9: "training never samples t >= 800" passed every test). The CLI trains with
// @tapegrad/ddpm's train(), which calls lossCoefficients from its own module (process/loss.ts)
// for every update (compiled or eager), so that module is the one mocked.
import { describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { cli, tmp } from './helpers.ts';

const seenT: number[] = [];
vi.mock('../../ddpm/src/process/loss.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../ddpm/src/process/loss.ts')>();
  return {
    ...orig,
    // the host gather of each update's per-sample coefficients (compiled and eager updates alike)
    lossCoefficients: (...args: Parameters<typeof orig.lossCoefficients>) => {
      seenT.push(...Array.from(args[1]));
      return orig.lossCoefficients(...args);
    },
  };
});

describe('tapegrad train: timesteps', () => {
  it('20 steps x batch 200 at T = 1000 reach t >= 990 and t <= 9, and every tenth of [0, T) gets 10% +- 3%', async () => {
    seenT.length = 0;
    const r = await cli(['train', '--data', 'moons', '--steps', '20', '--batch-size', '200', '--out', join(tmp('timesteps'), 'run'), '--log-every', '10', '--checkpoint-every', '20', '--sample-every', '20']);
    expect(r.code, r.err).toBe(0);
    expect(seenT.length).toBe(4000);
    expect(Math.max(...seenT)).toBeGreaterThanOrEqual(990);
    expect(Math.min(...seenT)).toBeLessThanOrEqual(9);
    for (const v of seenT) expect(Number.isInteger(v) && v >= 0 && v < 1000).toBe(true);
    const tenths = new Array(10).fill(0);
    for (const v of seenT) tenths[Math.floor(v / 100)]++;
    for (const c of tenths) expect(Math.abs(c / 4000 - 0.1)).toBeLessThan(0.03);
  });
});
