// The variational bound pieces against float64 evaluations of the same formulas.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import { makeSchedule } from '../src/schedule/schedule.ts';
import { discretizedGaussianLogLikelihood, normalKl, priorBitsPerDim, posteriorMean } from '../src/f64/formulas.ts';
import { variationalBound, vbTermBpd, priorBpd } from '../src/process/vlb.ts';
import { deltaDenoiser } from './models.ts';

const s = makeSchedule('linear', 50, { scaleToT: true });
const LN2 = Math.log(2);

beforeAll(async () => {
  await T.setBackend('webasm');
});

describe('vbTermBpd', () => {
  it('KL at t > 0 is 0 for the true x0, and the float64 KL of the two Gaussians otherwise', () => {
    const x0 = T.tensor([[0.5, -0.2], [0.1, 0.9]]), xt = T.tensor([[0.3, 0.1], [-0.4, 1.2]]), wrong = T.tensor([[0.4, -0.2], [0.1, 0.5]]);
    for (const t of [1, 10, 49]) {
      const zero = T.tidy(() => vbTermBpd(s, { x0, xt, t, x0Hat: x0 }));
      expect(Math.max(...Array.from(zero.dataSync()).map(Math.abs))).toBeLessThan(1e-6);
      for (const variance of ['fixed_small', 'fixed_large'] as const) {
        const got = T.tidy(() => vbTermBpd(s, { x0, xt, t, x0Hat: wrong, variance }));
        const g = got.dataSync();
        const lvTrue = s.posteriorLogVarianceClipped[t]!;
        const lvModel = variance === 'fixed_small' ? lvTrue : Math.log(s.betas[t]!);
        const rows = [[0.5, -0.2, 0.3, 0.1, 0.4, -0.2], [0.1, 0.9, -0.4, 1.2, 0.1, 0.5]];
        rows.forEach((r, b) => {
          let kl = 0;
          for (let j = 0; j < 2; j++) {
            const mTrue = posteriorMean(s, t, r[j]!, r[2 + j]!), mModel = posteriorMean(s, t, r[4 + j]!, r[2 + j]!);
            kl += normalKl(mTrue, lvTrue, mModel, lvModel) / 2 / LN2;
          }
          expect(Math.abs(g[b]! - kl), `t=${t} ${variance} row ${b}`).toBeLessThan(1e-5 * (1 + kl));
        });
        got.dispose();
      }
      zero.dispose();
    }
    T.dispose([x0, xt, wrong]);
  });
});

describe('variationalBound', () => {
  it('for a point mass and its perfect model: every KL term is 0, the total is decoder NLL + prior', () => {
    const c = [0.5, -0.25];
    const x0 = T.tensor([c, c, c]);
    const r = variationalBound(deltaDenoiser(s, c, 'epsilon'), x0, { schedule: s, key: T.randomKey(3) });
    expect(r.terms.shape).toEqual([3, 50]);
    const terms = r.terms.dataSync();
    for (let b = 0; b < 3; b++) for (let t = 1; t < 50; t++) expect(Math.abs(terms[b * 50 + t]!)).toBeLessThan(1e-4);
    const lv0 = s.posteriorLogVarianceClipped[0]!;
    const decoder = -c.reduce((acc, v) => acc + discretizedGaussianLogLikelihood(v, v, 0.5 * lv0), 0) / 2 / LN2;
    const prior = priorBitsPerDim(s, Float64Array.from(c));
    const total = r.total.dataSync(), pr = r.prior.dataSync();
    for (let b = 0; b < 3; b++) {
      expect(Math.abs(terms[b * 50]! - decoder)).toBeLessThan(1e-4);
      expect(Math.abs(pr[b]! - prior)).toBeLessThan(1e-6);
      expect(Math.abs(total[b]! - (decoder + prior))).toBeLessThan(1e-3);
    }
    const p2 = T.tidy(() => priorBpd(s, x0));
    expect(Math.abs(p2.dataSync()[0]! - prior)).toBeLessThan(1e-6);
    T.dispose([x0, r, p2]);
  });
});
