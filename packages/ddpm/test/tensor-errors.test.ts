// Bad input to the tensor API gives clear errors (naming the function, the value and what was
// expected) and leaks no tensor (test/setup.ts checks the live count after each test).
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { sample, samplingPlan, type SampleOptions } from '../src/sampling/sample.ts';
import { diffusionLoss, minSnrWeights } from '../src/process/loss.ts';
import { predictionToX0Eps, qSample, x0FromEps } from '../src/process/forward.ts';
import { dynamicThreshold, rescaleNoiseCfg, stdPerSample } from '../src/sampling/guidance.ts';
import { ddimStep, ddpmStep, dpmSolverPlusPlusCoefficients, dpmSolverPlusPlusStep } from '../src/sampling/steps.ts';
import type { Model } from '../src/models/model.ts';
import { TEST_BACKEND } from './backend.ts';

const s = makeSchedule('linear', 1000);
const zeroModel: Model = (x) => T.zerosLike(x);

beforeAll(async () => {
  await T.setBackend(TEST_BACKEND);
});

function opts(extra: Partial<SampleOptions> = {}): SampleOptions {
  return { shape: [4,2], schedule: s, sampler: 'ddim', steps: 5, key: T.randomKey(0), ...extra } as SampleOptions;
}

describe('sample: bad input', () => {
  it('steps > T, steps < 1, non-integer steps', async () => {
    await expect(sample(zeroModel, opts({ steps: 1001 }))).rejects.toThrow('sample: steps must be an integer in [1, T=1000] (T = the schedule\'s number of training timesteps), got 1001');
    await expect(sample(zeroModel, opts({ steps: 0 }))).rejects.toThrow(/steps must be an integer in \[1, T=1000\].*got 0/);
    await expect(sample(zeroModel, opts({ steps: 2.5 }))).rejects.toThrow(/got 2.5/);
    expect(() => samplingPlan('ddim', 50, 51)).toThrow(/T=50/);
  });
  it('unknown sampler or spacing', async () => {
    await expect(sample(zeroModel, opts({ sampler: 'plms' as never }))).rejects.toThrow("sample: unknown sampler 'plms', expected one of 'ddpm', 'ddim', 'dpmsolver++', 'euler'");
    await expect(sample(zeroModel, opts({ spacing: 'uniform' as never }))).rejects.toThrow("sample: unknown spacing 'uniform', expected one of 'leading', 'trailing', 'linspace'");
    await expect(sample(zeroModel, opts({ prediction: 'x0' as never }))).rejects.toThrow("sample: unknown prediction type 'x0', expected 'epsilon', 'sample' or 'v_prediction' ('v')");
  });
  it('model output of the wrong shape, or not a tensor', async () => {
    const wrong: Model = (x) => T.zeros([x.shape[0]!, 3]);
    await expect(sample(wrong, opts())).rejects.toThrow('sample: model output has shape [4,3] but x_t has shape [4,2]; expected equal shapes');
    const transposed: Model = () => T.zeros([2,4]);
    await expect(sample(transposed, opts({ sampler: 'ddpm' }))).rejects.toThrow('model output has shape [2,4] but x_t has shape [4,2]');
    await expect(sample((() => [1, 2]) as never, opts())).rejects.toThrow(/sample: model returned object; expected a Tensor with the shape of x \[4,2\]/);
    await expect(sample(null as never, opts())).rejects.toThrow('sample: model must be a function (x, t, cond?) => Tensor, got object');
  });
  it('options that do not fit', async () => {
    const init = T.zeros([3,2]);
    await expect(sample(zeroModel, opts({ init }))).rejects.toThrow('sample: init has shape [3,2]; expected opts.shape [4,2]');
    init.dispose();
    await expect(sample(zeroModel, opts({ sampler: 'ddpm', eta: 0.5 }))).rejects.toThrow("sample: eta applies to the 'ddim' sampler only, got sampler 'ddpm'");
    await expect(sample(zeroModel, opts({ eta: 1.5 }))).rejects.toThrow('sample: eta must be in [0, 1], got 1.5');
    await expect(sample(zeroModel, opts({ sampler: 'ddpm', variance: 'learned' as never }))).rejects.toThrow("sample: unknown variance 'learned', expected 'fixed_small' or 'fixed_large'");
    await expect(sample(zeroModel, opts({ clip: { kind: 'dynamic', ratio: 2 } }))).rejects.toThrow('sample: ratio must be in [0, 1], got 2');
    await expect(sample(zeroModel, opts({ clip: 'yes' as never }))).rejects.toThrow(/sample: clip must be a boolean/);
    await expect(sample(zeroModel, opts({ shape: [4, 0] }))).rejects.toThrow('sample: shape must be [B, ...] with positive integer dimensions, got [4,0]');
    await expect(sample(zeroModel, opts({ key: undefined as never }))).rejects.toThrow('sample: opts.key is required');
    await expect(sample(zeroModel, opts({ sampler: 'ddim', spacing: 'leading', offset: 1, steps: 1000 }))).rejects.toThrow(/gives timestep 1000 outside \[0, 999\]/);
    await expect(sample(zeroModel, opts({ sampler: 'dpmsolver++', spacing: 'linspace', steps: 1000 }))).rejects.toThrow(/repeated timesteps/);
  });
  it('guidance without cond, or with a null condition of the wrong shape', async () => {
    const nullCond = T.zeros([3]);
    const cond = T.zeros([4,5]);
    await expect(sample(zeroModel, opts({ guidance: { scale: 2, nullCond } }))).rejects.toThrow('sample: guidance needs opts.cond');
    await expect(sample(zeroModel, opts({ cond, guidance: { scale: 2, nullCond } }))).rejects.toThrow('sample: guidance.nullCond has shape [3]; expected cond\'s shape [4,5] or one row [5] / [1,5]');
    const cond3 = T.zeros([3,5]);
    await expect(sample(zeroModel, opts({ cond: cond3 }))).rejects.toThrow('sample: cond has shape [3,5]; expected a batch of 4 ([4, ...])');
    const row = T.zeros([5]);
    await expect(sample(zeroModel, opts({ cond, guidance: { scale: 2, nullCond: row, rescale: 2 } }))).rejects.toThrow('sample: guidance.rescale must be in [0, 1], got 2');
    T.dispose([nullCond, cond, cond3, row]);
  });
  it('a model that throws leaves nothing behind', async () => {
    let n = 0;
    const flaky: Model = (x) => {
      if (++n === 3) throw new Error('boom');
      return T.zerosLike(x);
    };
    await expect(sample(flaky, opts({ eager: true }))).rejects.toThrow('boom'); // eager: it throws on its 3rd call
    let m = 0;
    const flakyTrace: Model = (x) => { // compiled: the trace (its first call) throws
      if (++m === 1) throw new Error('boom at the trace');
      return T.zerosLike(x);
    };
    await expect(sample(flakyTrace, opts())).rejects.toThrow('boom at the trace');
    await expect(sample(zeroModel, opts({ onStep: () => { throw new Error('stop'); } }))).rejects.toThrow('stop');
  });
});

describe('forward, loss, guidance, steps: bad input', () => {
  it('timesteps out of range, or a tensor of timesteps', () => {
    const x = T.zeros([2,2]);
    expect(() => qSample(s, x, 1000, x)).toThrow('qSample: t must be an integer in [0, 999] (0-based), got 1000');
    expect(() => qSample(s, x, [1, -1], x)).toThrow('qSample: t[1] must be an integer in [0, 999] (0-based), got -1');
    expect(() => qSample(s, x, [1, 2, 3], x)).toThrow('qSample: t has 3 entries but the batch has 2; expected one timestep per batch element (or a single number)');
    const tt = T.tensor([1, 2]);
    expect(() => qSample(s, x, tt as never, x)).toThrow(/qSample: t must be host timesteps/);
    const other = T.zeros([2,3]);
    expect(() => qSample(s, x, 1, other)).toThrow('qSample: noise has shape [2,3] but x0 has shape [2,2]; expected equal shapes');
    T.dispose([x, tt, other]);
  });
  it('conversions refuse alpha_bar they would divide by', () => {
    const x = T.zeros([2,2]);
    expect(() => x0FromEps(x, x, 0)).toThrow(/x0FromEps: alphaBar must be in \(0, 1\]/);
    expect(() => x0FromEps(x, x, [0.5, 0.5, 0.5])).toThrow('x0FromEps: alphaBar has 3 values but the batch (first dimension of [2,2]) has 2; expected one per batch element or a single number');
    expect(() => predictionToX0Eps('sample', x, x, 1)).toThrow(/epsFromX0: alphaBar must be in \[0, 1\) \(1 - alpha_bar is a divisor\), got 1/);
    T.dispose(x);
  });
  it('diffusionLoss', () => {
    const x = T.zeros([2,2]);
    expect(() => diffusionLoss(zeroModel, x, { schedule: s })).toThrow('diffusionLoss: opts.key is required unless both opts.t and opts.noise are given');
    expect(() => diffusionLoss(zeroModel, x, { schedule: s, key: T.randomKey(0), prediction: 'noise' as never })).toThrow(/unknown prediction type 'noise'/);
    expect(() => diffusionLoss(zeroModel, x, { schedule: s, key: T.randomKey(0), minSnrGamma: 0 })).toThrow('diffusionLoss: minSnrGamma must be a finite number > 0, got 0');
    const bad: Model = () => T.zeros([2,1]);
    expect(() => diffusionLoss(bad, x, { schedule: s, key: T.randomKey(0) })).toThrow('diffusionLoss: model output has shape [2,1] but x_t has shape [2,2]; expected equal shapes');
    const v = T.zeros([4]);
    expect(() => diffusionLoss(zeroModel, v, { schedule: s, key: T.randomKey(0) })).toThrow('diffusionLoss: x0 must have shape [B, ...features] (rank >= 2), got [4]');
    expect(() => minSnrWeights(s, [5, 1000], 5, 'epsilon')).toThrow('minSnrWeights: t[1] must be an integer in [0, 999] (0-based), got 1000');
    T.dispose([x, v]);
  });
  it('guidance helpers and steps', async () => {
    const x = T.zeros([2,2]);
    const one = T.zeros([2,1]);
    expect(() => stdPerSample(one)).toThrow('stdPerSample: needs at least 2 elements per sample (shape [B, ...] with rank >= 2), got [2,1]');
    expect(() => rescaleNoiseCfg(x, one, 0.5)).toThrow('rescaleNoiseCfg: cond has shape [2,1] but guided has shape [2,2]; expected equal shapes');
    const nan = T.tensor([[NaN, 1]]);
    await expect(dynamicThreshold(nan)).rejects.toThrow(/dynamicThreshold: sample 0 of x0 has a non-finite value/);
    expect(() => ddpmStep(s, 500, x, x, undefined)).toThrow('ddpmStep: z (standard normal noise) is required at t=500 > 0');
    expect(() => ddimStep({ x0: x, eps: x, alphaBarT: 0.5, alphaBarPrev: 0.9, eta: 1 })).toThrow(/ddimStep: z \(standard normal noise\) is required when eta > 0/);
    expect(() => dpmSolverPlusPlusCoefficients(0.5, 1, 0.2)).toThrow(/second-order update is undefined at the final sigma = 0 step/);
    expect(() => dpmSolverPlusPlusStep({ x, x0: x, alphaBarS0: 0.5, alphaBarT: 0.6, prevX0: x })).toThrow('dpmSolverPlusPlusStep: prevX0 and alphaBarS1 go together (second order needs both, first order neither)');
    x.dispose();
    expect(() => x0FromEps(x, x, 0.5)).toThrow(/x0FromEps: xt \(tensor #\d+ of shape \[2,2\]\) was already disposed/);
    T.dispose([one, nan]);
  });
});
