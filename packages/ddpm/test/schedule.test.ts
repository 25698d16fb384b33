import { describe, expect, it } from 'vitest';
import { cosineAlphaBar, makeSchedule, respace, scheduleFromBetas, type Schedule } from '../src/schedule/schedule.ts';
import { posteriorLogVarianceDiffusers } from '../src/f64/formulas.ts';
import { spaceTimesteps } from '../src/schedule/timesteps.ts';
import { GOLDEN, close, type Json } from './golden.ts';

/** How each golden schedule group is built with our API. */
const BUILD: Record<string, () => Schedule> = {
  schedule_linear_T1000: () => makeSchedule('linear', 1000),
  schedule_squaredcos_cap_v2_T1000: () => makeSchedule('cosine', 1000),
  schedule_scaled_linear_SD_T1000: () => makeSchedule('scaled_linear', 1000),
  schedule_sigmoid_geodiff_T1000: () => makeSchedule('sigmoid', 1000, { sigmoidVariant: 'geodiff' }),
  schedule_sigmoid_lucidrains_T1000: () => makeSchedule('sigmoid', 1000, { sigmoidVariant: 'lucidrains' }),
  schedule_linear_T1000_rescaled_zero_terminal_snr: () => makeSchedule('linear', 1000, { rescaleZeroTerminalSnr: true }),
  schedule_improved_diffusion_linear_T50: () => makeSchedule('linear', 50, { scaleToT: true }),
  schedule_unscaled_linear_T50_tiny_diffusion: () => makeSchedule('linear', 50),
};

/** Golden checkpoint column -> our value. */
const COLUMNS: Record<string, (s: Schedule, t: number) => number> = {
  beta: (s, t) => s.betas[t]!,
  alpha: (s, t) => s.alphas[t]!,
  alpha_bar: (s, t) => s.alphasCumprod[t]!,
  alpha_bar_prev: (s, t) => s.alphasCumprodPrev[t]!,
  sqrt_alpha_bar: (s, t) => s.sqrtAlphasCumprod[t]!,
  sqrt_one_minus_alpha_bar: (s, t) => s.sqrtOneMinusAlphasCumprod[t]!,
  snr: (s, t) => s.snr[t]!,
  lambda_half_log_snr: (s, t) => s.halfLogSnr[t]!,
  // sigma of the equivalent VE process, sqrt((1-ab)/ab) = sqrt(1/ab - 1)
  sigma_ve: (s, t) => s.sqrtRecipm1AlphasCumprod[t]!,
  posterior_variance: (s, t) => s.posteriorVariance[t]!,
  posterior_mean_coef1_x0: (s, t) => s.posteriorMeanCoef1[t]!,
  posterior_mean_coef2_xt: (s, t) => s.posteriorMeanCoef2[t]!,
  eps_mean_coef_recip_sqrt_alpha: (s, t) => s.recipSqrtAlphas[t]!,
  eps_mean_coef_beta_over_sqrt_1m_ab: (s, t) => s.betasOverSqrtOneMinusAlphasCumprod[t]!,
  sqrt_recip_alpha_bar: (s, t) => s.sqrtRecipAlphasCumprod[t]!,
  sqrt_recipm1_alpha_bar: (s, t) => s.sqrtRecipm1AlphasCumprod[t]!,
};

const GROUP_FIELDS = new Set([
  'name', 'source', 'formula', 'T', 'checkpoints',
  'posterior_log_variance_clipped_t0_improved_diffusion', 'posterior_log_variance_t0_diffusers_clamped',
  'sum_betas', 'alpha_bar_last', 'analytic_alpha_bar_uncapped', 'capped_steps',
]);

const scheduleGroups = Object.keys(GOLDEN).filter((k) => k.startsWith('schedule_'));

describe('golden schedules', () => {
  it('every schedule_* group of the golden file has a builder', () => {
    expect(scheduleGroups.length).toBeGreaterThan(0);
    for (const k of scheduleGroups) expect(BUILD[k], `no builder for ${k}`).toBeDefined();
  });

  for (const name of scheduleGroups) {
    describe(name, () => {
      const g: Json = GOLDEN[name];
      const s = BUILD[name]?.();

      it('has only fields this test knows how to check', () => {
        for (const k of Object.keys(g)) expect(GROUP_FIELDS.has(k), `unchecked field ${name}.${k}`).toBe(true);
      });

      it('T and array lengths', () => {
        expect(s!.T).toBe(g.T);
        for (const [k, v] of Object.entries(s!)) if (v instanceof Float64Array) expect(v.length, k).toBe(g.T);
      });

      for (const cp of g.checkpoints as Json[]) {
        it(`checkpoint t=${cp.t}: every column`, () => {
          for (const [col, expected] of Object.entries(cp)) {
            if (col === 't') continue;
            const get = COLUMNS[col];
            expect(get, `unknown golden column ${col}`).toBeDefined();
            close(get!(s!, cp.t), expected as number | null, `${name} t=${cp.t} ${col}`);
          }
        });
      }

      it('summary values', () => {
        close(s!.posteriorLogVarianceClipped[0]!, g.posterior_log_variance_clipped_t0_improved_diffusion, 'posteriorLogVarianceClipped[0]');
        close(posteriorLogVarianceDiffusers(s!, 0), g.posterior_log_variance_t0_diffusers_clamped, 'diffusers clamped log variance t=0');
        close(s!.betas.reduce((a, b) => a + b, 0), g.sum_betas, 'sum of betas');
        close(s!.alphasCumprod[s!.T - 1]!, g.alpha_bar_last, 'alpha_bar[T-1]');
      });

      if (g.analytic_alpha_bar_uncapped) {
        it('cosine analytic alpha_bar f((t+1)/T)/f(0) and capped steps', () => {
          for (const { t, f_ratio } of g.analytic_alpha_bar_uncapped as Json[]) {
            close(cosineAlphaBar((t + 1) / g.T) / cosineAlphaBar(0), f_ratio, `f ratio t=${t}`);
            if (!(g.capped_steps as number[]).includes(t)) close(s!.alphasCumprod[t]!, f_ratio, `alpha_bar t=${t} (uncapped)`);
          }
          const capped = [...s!.betas.keys()].filter((t) => s!.betas[t] === 0.999);
          expect(capped).toEqual(g.capped_steps);
        });
      }
    });
  }
});

describe('improved_diffusion_respaced_ddim50', () => {
  const g: Json = GOLDEN.improved_diffusion_respaced_ddim50;
  // improved-diffusion: space_timesteps(1000, 'ddim50') on the linear T=1000 schedule
  const r = respace(makeSchedule('linear', 1000), spaceTimesteps(1000, 'ddim50'));

  it('timestep map', () => {
    const m = r.timestepMap;
    expect([...m.slice(0, 3), ...m.slice(-3)]).toEqual(g.timestep_map_first3_last3);
    expect(r.T).toBe(50);
  });

  it('new betas and posterior variance', () => {
    for (const k of [0, 1, 25, 49]) close(r.betas[k]!, g[`new_beta_k${k}`], `new beta k=${k}`);
    close(r.posteriorVariance[49]!, g.new_posterior_variance_k49, 'new posterior variance k=49');
  });

  it('respacing a respaced schedule composes the timestep maps', () => {
    const rr = respace(r, [0, 25, 49]);
    expect(rr.timestepMap).toEqual([0, 500, 980]);
    // and keeps alpha_bar of the original steps 500 and 980 (golden ddim_step alpha_bar_t values)
    const ab = (t: number) => (GOLDEN.ddim_step.steps as Json[]).find((st) => st.t === t).alpha_bar_t;
    close(rr.alphasCumprod[1]!, ab(500), 'alpha_bar at original t=500');
    close(rr.alphasCumprod[2]!, ab(980), 'alpha_bar at original t=980');
  });

  it('respacing preserves alpha_bar at the kept steps', () => {
    const base = makeSchedule('linear', 1000);
    r.timestepMap.forEach((t, k) => close(r.alphasCumprod[k]!, base.alphasCumprod[t]!, `ab k=${k}`, 1e-13));
  });
});

describe('teapearce_mnist_cfg_schedule (1-based, T+1 betas)', () => {
  const g: Json = GOLDEN.teapearce_mnist_cfg_schedule;
  // TeaPearce ddpm_schedules(1e-4, 0.02, T=400): beta_t = (b2-b1) t/T + b1 for t = 0..T (T+1 values,
  // step (b2-b1)/T) and alphabar_t includes beta_0. That is just our cumprod over a length-(T+1)
  // beta array, read at the 1-based index t. Built here from its published formula.
  const T = 400, b1 = 1e-4, b2 = 0.02;
  const betas = Array.from({ length: T + 1 }, (_, t) => ((b2 - b1) * t) / T + b1);
  const s = scheduleFromBetas(betas);

  it('reproduces the golden values through scheduleFromBetas on T+1 betas', () => {
    close(s.betas[1]!, g.beta_t1, 'beta_t1');
    close(s.betas[T]!, g.beta_tT, 'beta_tT');
    close(s.alphasCumprod[1]!, g.alphabar_t1, 'alphabar_t1');
    close(s.alphasCumprod[T]!, g.alphabar_tT, 'alphabar_tT');
  });

  it('is NOT our 0-based linear T=400 schedule (different step and an extra factor)', () => {
    const ours = makeSchedule('linear', 400);
    // our beta[0] = 1e-4 but its beta_t1 is 1e-4 + (0.02-1e-4)/400; our step is /399
    expect(Math.abs(ours.betas[0]! - g.beta_t1) / g.beta_t1).toBeGreaterThan(0.1);
    expect(Math.abs(ours.alphasCumprod[0]! - g.alphabar_t1)).toBeGreaterThan(1e-4);
    expect(Math.abs(ours.alphasCumprod[399]! - g.alphabar_tT) / g.alphabar_tT).toBeGreaterThan(1e-3);
  });
});
