// Bad input throws an Error whose message names the function, the offending value and what was expected.
import { describe, expect, it } from 'vitest';
import { betasFromAlphasCumprod, makeSchedule, rescaleZeroTerminalSnr, respace, scheduleFromBetas } from '../src/schedule/schedule.ts';
import {
  ddimAlphaBarPrev, ddimCoefficients, ddimSigma, ddimStep, ddpmStep, dynamicThreshold, epsFromX0, minSnrWeight, qSample,
  quantileLinear, rescaleNoiseCfg, stdUnbiased, timestepEmbedding, x0FromEps,
} from '../src/f64/formulas.ts';

describe('makeSchedule errors', () => {
  it('T', () => {
    expect(() => makeSchedule('linear', 0)).toThrow('makeSchedule: T must be an integer >= 1, got 0');
    expect(() => makeSchedule('linear', 2.5)).toThrow('makeSchedule: T must be an integer >= 1, got 2.5');
    expect(() => makeSchedule('cosine', NaN)).toThrow('makeSchedule: T must be an integer >= 1, got NaN');
    expect(() => makeSchedule('cosine', -3)).toThrow('makeSchedule: T must be an integer >= 1, got -3');
  });
  it('unknown kind', () => {
    expect(() => makeSchedule('quadratic' as never)).toThrow(
      "makeSchedule: unknown schedule kind 'quadratic', expected one of 'linear', 'scaled_linear', 'cosine', 'sigmoid'");
  });
  it('beta options outside (0, 1] or NaN', () => {
    expect(() => makeSchedule('linear', 10, { betaStart: 0 })).toThrow('makeSchedule: betaStart must be a number in (0, 1], got 0');
    expect(() => makeSchedule('linear', 10, { betaEnd: 1.5 })).toThrow('makeSchedule: betaEnd must be a number in (0, 1], got 1.5');
    expect(() => makeSchedule('scaled_linear', 10, { betaStart: NaN })).toThrow('makeSchedule: betaStart must be a number in (0, 1], got NaN');
    expect(() => makeSchedule('sigmoid', 10, { betaEnd: -0.1 })).toThrow('makeSchedule: betaEnd must be a number in (0, 1], got -0.1');
  });
  it('generated betas reaching 1 (improved-diffusion 1000/T scaling with a tiny T)', () => {
    // scale 1000/10 = 100: betas run 0.01 .. 2
    expect(() => makeSchedule('linear', 10, { scaleToT: true })).toThrow(
      /^makeSchedule\('linear', T=10\): betas\[\d\] must be in \(0, 1\) .*got 1\.\d+/);
    // betaEnd = 1 is a valid option value but not a valid (non-terminal-SNR) beta
    expect(() => makeSchedule('linear', 3, { betaEnd: 1 })).toThrow(/makeSchedule\('linear', T=3\): betas\[2\] must be in \(0, 1\).*got 1$/);
  });
  it('other options', () => {
    expect(() => makeSchedule('cosine', 10, { maxBeta: 1 })).toThrow('makeSchedule: maxBeta must be a number in (0, 1), got 1');
    expect(() => makeSchedule('cosine', 10, { s: -0.1 })).toThrow('makeSchedule: cosine offset s must be a finite number >= 0, got -0.1');
    expect(() => makeSchedule('sigmoid', 10, { sigmoidVariant: 'tanh' as never })).toThrow(
      "makeSchedule: unknown sigmoidVariant 'tanh', expected 'geodiff' or 'lucidrains'");
    expect(() => makeSchedule('sigmoid', 10, { sigmoidVariant: 'lucidrains', tau: 0 })).toThrow('makeSchedule: tau must be a finite number > 0, got 0');
    expect(() => makeSchedule('sigmoid', 10, { sigmoidVariant: 'lucidrains', sigmoidStart: 3, sigmoidEnd: -3 })).toThrow(
      'makeSchedule: sigmoidEnd must be > sigmoidStart, got start=3, end=-3');
    expect(() => makeSchedule('linear', 1, { rescaleZeroTerminalSnr: true })).toThrow('makeSchedule: rescaleZeroTerminalSnr needs T >= 2, got 1');
  });
});

describe('scheduleFromBetas / betasFromAlphasCumprod / rescale / respace errors', () => {
  it('betas outside (0, 1), NaN, empty', () => {
    expect(() => scheduleFromBetas([])).toThrow('scheduleFromBetas: betas must have length >= 1, got 0');
    expect(() => scheduleFromBetas([0.1, 0])).toThrow(/^scheduleFromBetas: betas\[1\] must be in \(0, 1\) .*got 0$/);
    expect(() => scheduleFromBetas([0.1, NaN])).toThrow(/^scheduleFromBetas: betas\[1\] must be in \(0, 1\) .*got NaN$/);
    expect(() => scheduleFromBetas([-0.2])).toThrow(/^scheduleFromBetas: betas\[0\] .*got -0.2$/);
  });
  it('beta = 1 only as the last beta of a zero-terminal-SNR schedule', () => {
    expect(() => scheduleFromBetas([0.5, 1])).toThrow(/^scheduleFromBetas: betas\[1\] must be in \(0, 1\) \(1 is allowed only for the last beta of a zero-terminal-SNR schedule\), got 1$/);
    expect(() => scheduleFromBetas([1, 0.5], { allowTerminalBetaOne: true })).toThrow(/^scheduleFromBetas: betas\[0\] .*got 1$/);
    const s = scheduleFromBetas([0.5, 1], { allowTerminalBetaOne: true });
    expect(s.alphasCumprod[1]).toBe(0);
  });
  it('alpha_bar that does not decrease (beta below float64 resolution of 1 - beta)', () => {
    expect(() => scheduleFromBetas([1e-17])).toThrow(
      'scheduleFromBetas: alpha_bar must be strictly decreasing in (0, 1] (alpha_bar[-1] = 1), got alpha_bar[0] = 1 after alpha_bar[-1] = 1');
    expect(() => betasFromAlphasCumprod([0.9, 0.95])).toThrow(
      'betasFromAlphasCumprod: alpha_bar must be strictly decreasing in (0, 1] (alpha_bar[-1] = 1), got alpha_bar[1] = 0.95 after alpha_bar[0] = 0.9');
    expect(() => betasFromAlphasCumprod([1.2])).toThrow(/betasFromAlphasCumprod: .*got alpha_bar\[0\] = 1.2/);
    expect(() => betasFromAlphasCumprod([0.5, 0, 0])).toThrow(
      /^betasFromAlphasCumprod: alpha_bar must be > 0 \(0 is allowed only at the last step .*got alpha_bar\[1\] = 0 of 3$/);
    expect(betasFromAlphasCumprod([0.5, 0])[1]).toBe(1);
    // cumprod underflowing to 0 before the end (0.01^200)
    expect(() => scheduleFromBetas(new Array(200).fill(0.99))).toThrow(/^scheduleFromBetas: alpha_bar must be > 0 .*got alpha_bar\[\d+\] = 0 of 200$/);
  });
  it('rescaleZeroTerminalSnr', () => {
    expect(() => rescaleZeroTerminalSnr([0.1])).toThrow('rescaleZeroTerminalSnr: needs at least 2 betas, got 1');
    expect(() => rescaleZeroTerminalSnr([0.1, 2])).toThrow(/rescaleZeroTerminalSnr: betas\[1\] .*got 2$/);
  });
  it('respace', () => {
    const s = makeSchedule('linear', 100);
    expect(() => respace(s, [])).toThrow(/^respace: useTimesteps must be a non-empty array of integers in \[0, 99\]/);
    expect(() => respace(s, [0, 100])).toThrow('respace: every timestep must be an integer in [0, 99], got 100');
    expect(() => respace(s, [0, 1.5])).toThrow('respace: every timestep must be an integer in [0, 99], got 1.5');
    expect(() => respace(s, [3, 5, 3])).toThrow('respace: duplicate timestep 3 in useTimesteps');
  });
});

describe('formula errors', () => {
  const s = makeSchedule('linear', 1000);
  it('alpha_bar ranges in conversions', () => {
    expect(() => x0FromEps(0.1, 0.2, 0)).toThrow('x0FromEps: alphaBar must be a number in (0, 1], got 0');
    expect(() => qSample(0.1, 0.2, 1.5)).toThrow('qSample: alphaBar must be a number in [0, 1], got 1.5');
    expect(() => epsFromX0(0.1, 0.2, 1)).toThrow('epsFromX0: alphaBar must be < 1 (1 - alphaBar is a divisor), got 1');
    expect(() => qSample(new Float64Array(2), new Float64Array(3), 0.5)).toThrow('qSample: array arguments must have equal lengths, got 2 and 3');
  });
  it('DDPM / DDIM', () => {
    expect(() => ddpmStep(s, 1000, 0, 0, 0)).toThrow('ddpmStep: t must be an integer in [0, 999] (0-based), got 1000');
    expect(() => ddpmStep(s, -1, 0, 0, 0)).toThrow('ddpmStep: t must be an integer in [0, 999] (0-based), got -1');
    expect(() => ddpmStep(s, 5, 0, 0, 0, { varianceType: 'learned' as never })).toThrow(
      "ddpmStep: unknown varianceType 'learned', expected 'fixed_small' or 'fixed_large'");
    expect(() => ddimSigma(0.5, 0.9, -1)).toThrow('ddimSigma: eta must be a finite number >= 0, got -1');
    expect(() => ddimSigma(0.9, 0.5, 1)).toThrow('ddimSigma: with eta > 0 alphaBarPrev must be >= alphaBarT, got alphaBarPrev=0.5 < alphaBarT=0.9');
    expect(() => ddimCoefficients(0.5, 0.9, 2)).toThrow(/^ddimCoefficients: 1 - alphaBarPrev - sigma\^2 must be >= 0, got -0\.\d+ \(eta=2 too large\)/);
    expect(() => ddimStep({ xT: 0, epsHat: 0, alphaBarT: 0.5, alphaBarPrev: 0.9, eta: 1 })).toThrow(/^ddimStep: z \(noise\) is required when eta > 0/);
    expect(() => ddimAlphaBarPrev(s, 1000)).toThrow('ddimAlphaBarPrev: prevT must be an integer < 1000, got 1000');
  });
  it('min-SNR, embedding, guidance, thresholding', () => {
    expect(() => minSnrWeight(1, 0, 'epsilon')).toThrow('minSnrWeight: gamma must be a number > 0, got 0');
    expect(() => minSnrWeight(-1, 5, 'epsilon')).toThrow('minSnrWeight: snr must be a number >= 0, got -1');
    expect(() => minSnrWeight(1, 5, 'x0' as never)).toThrow("minSnrWeight: unknown prediction 'x0', expected 'epsilon', 'sample' or 'v_prediction'");
    expect(() => timestepEmbedding(1, 0)).toThrow('timestepEmbedding: dim must be an integer >= 1, got 0');
    expect(() => timestepEmbedding(1, 2, { downscaleFreqShift: 1 })).toThrow(
      'timestepEmbedding: dim/2 - downscaleFreqShift must be > 0, got dim=2, downscaleFreqShift=1');
    expect(() => timestepEmbedding(NaN, 8)).toThrow('timestepEmbedding: t must be a finite number, got NaN');
    expect(() => stdUnbiased([1])).toThrow('stdUnbiased: needs at least 2 values, got 1');
    expect(() => rescaleNoiseCfg(new Float64Array(3), new Float64Array(4), 0.7)).toThrow(
      'rescaleNoiseCfg: guided and cond must have equal lengths, got 3 and 4');
    expect(() => rescaleNoiseCfg(new Float64Array([1, 2]), new Float64Array([1, 2]), 1.5)).toThrow('rescaleNoiseCfg: phi must be in [0, 1], got 1.5');
    expect(() => quantileLinear([1, 2], 1.5)).toThrow('quantileLinear: q must be in [0, 1], got 1.5');
    expect(() => dynamicThreshold(new Float64Array([1, 2]), { sampleMaxValue: 0.5 })).toThrow('dynamicThreshold: sampleMaxValue must be >= 1, got 0.5');
  });
});
