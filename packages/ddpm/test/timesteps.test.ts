import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ddimPrevTimestep, dpmSolverMultistepTimesteps, ermongroupTimesteps, lucidrainsDdimTimes, spaceTimesteps, timesteps,
} from '../src/schedule/timesteps.ts';
import { GOLDEN } from './golden.ts';
import { fcRuns } from '@tapegrad/tensor/testing';

const G = GOLDEN.timesteps;

describe('golden timesteps (exact equality)', () => {
  it('has only fields this test checks', () => {
    expect(Object.keys(G).sort()).toEqual([
      'ddim_10', 'ddim_50', 'diffusers_ddim_prev_timestep_rule', 'dpm_multistep_10', 'dpm_multistep_20_linspace',
      'ermongroup_quad_10', 'ermongroup_quad_50', 'ermongroup_uniform_50', 'formula', 'improved_diffusion_10_sorted',
      'improved_diffusion_50_sorted', 'improved_diffusion_ddim50_sorted', 'lucidrains_ddim_50_times', 'source',
    ]);
  });

  for (const n of [50, 10]) {
    const g = G[`ddim_${n}`];
    it(`diffusers DDIM/DDPM set_timesteps n=${n}`, () => {
      expect(timesteps(1000, n, 'leading', 0)).toEqual(g.leading_offset0);
      expect(timesteps(1000, n, 'leading', 1)).toEqual(g.leading_offset1);
      expect(timesteps(1000, n, 'trailing')).toEqual(g.trailing);
      expect(timesteps(1000, n, 'linspace')).toEqual(g.linspace);
    });
  }

  it('diffusers DDIMScheduler.step prev_t = t - T//n (ddim_50.linspace_prev_t_used_by_diffusers_step)', () => {
    const ts = timesteps(1000, 50, 'linspace');
    expect(ts.map((t) => ddimPrevTimestep(t, 1000, 50))).toEqual(G.ddim_50.linspace_prev_t_used_by_diffusers_step);
    // the rule text: prev_t is exact (the next list element) for leading/offset0 and trailing when n | T
    for (const sp of ['leading', 'trailing'] as const) {
      const l = timesteps(1000, 50, sp);
      expect(l.slice(0, -1).map((t) => ddimPrevTimestep(t, 1000, 50))).toEqual(l.slice(1));
    }
    expect(G.diffusers_ddim_prev_timestep_rule).toMatch(/prev_t = t - T\/\/N/);
  });

  it('DPMSolverMultistep set_timesteps', () => {
    expect(dpmSolverMultistepTimesteps(1000, 10, 'linspace')).toEqual(G.dpm_multistep_10.linspace_default);
    expect(dpmSolverMultistepTimesteps(1000, 10, 'leading', 0)).toEqual(G.dpm_multistep_10.leading_offset0);
    expect(dpmSolverMultistepTimesteps(1000, 10, 'trailing')).toEqual(G.dpm_multistep_10.trailing);
    expect(dpmSolverMultistepTimesteps(1000, 20, 'linspace')).toEqual(G.dpm_multistep_20_linspace);
  });

  it('improved-diffusion space_timesteps', () => {
    expect(spaceTimesteps(1000, 'ddim50')).toEqual(G.improved_diffusion_ddim50_sorted);
    expect(spaceTimesteps(1000, '50')).toEqual(G.improved_diffusion_50_sorted);
    expect(spaceTimesteps(1000, [10])).toEqual(G.improved_diffusion_10_sorted);
    expect(spaceTimesteps(1000, 10)).toEqual(G.improved_diffusion_10_sorted);
  });

  it('lucidrains ddim_sample times', () => {
    expect(lucidrainsDdimTimes(1000, 50)).toEqual(G.lucidrains_ddim_50_times);
  });

  it('ermongroup/ddim skip types', () => {
    expect(ermongroupTimesteps(1000, 50, 'uniform')).toEqual(G.ermongroup_uniform_50);
    expect(ermongroupTimesteps(1000, 50, 'quad')).toEqual(G.ermongroup_quad_50);
    expect(ermongroupTimesteps(1000, 10, 'quad')).toEqual(G.ermongroup_quad_10);
  });
});

describe('timesteps: values checked against numpy by hand', () => {
  // numpy 2.x: np.round(np.arange(15, 0, -15/13)).astype(int) - 1 has 14 entries, the last -1 a
  // spurious artefact of arange's float length; the first 13 are these.
  it('trailing T=15 n=13 drops numpy arange\'s extra -1', () => {
    expect(timesteps(15, 13, 'trailing')).toEqual([14, 13, 12, 11, 9, 8, 7, 6, 5, 4, 2, 1, 0]);
  });
  it('trailing T=1000 n=7 (non-divisible, half-even rounding)', () => {
    expect(timesteps(1000, 7, 'trailing')).toEqual([999, 856, 713, 570, 428, 285, 142]);
  });
  it('linspace rounds half to even (numpy.round)', () => {
    expect(timesteps(4, 3, 'linspace')).toEqual([3, 2, 0]);
    // linspace(0, 5, 3) = [0, 2.5, 5] -> numpy round 2.5 = 2
    expect(timesteps(6, 3, 'linspace')).toEqual([5, 2, 0]);
  });
  it('space_timesteps accumulates the fractional stride (cur += frac), unlike round(j*frac)', () => {
    // Python: frac = 15/14; cur = 0.0; take round(cur); cur += frac  (7 x frac accumulates to 7.4999..)
    expect(spaceTimesteps(16, 15)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]);
    expect(spaceTimesteps(24, [15])).toEqual([0, 2, 3, 5, 7, 8, 10, 11, 13, 15, 16, 18, 20, 21, 23]);
  });
  it('space_timesteps with several sections (improved-diffusion docstring example)', () => {
    // space_timesteps(300, [10, 15, 20]): sections of 100 steps each
    const r = spaceTimesteps(300, [10, 15, 20]);
    expect(r.length).toBe(45);
    expect(r.slice(0, 10)).toEqual([0, 11, 22, 33, 44, 55, 66, 77, 88, 99]);
    expect(r[10]).toBe(100);
    expect(r[r.length - 1]).toBe(299);
  });
});

describe('timesteps properties', () => {
  const spacing = fc.constantFrom('leading', 'trailing', 'linspace' as const);
  it('n strictly descending values in [0, T-1] for every spacing', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3000 }), fc.double({ min: 0, max: 1, noNaN: true }), spacing, (T, u, sp) => {
      const n = Math.max(1, Math.ceil(u * T));
      const ts = timesteps(T, n, sp as 'leading');
      expect(ts.length).toBe(n);
      for (let i = 0; i < n; i++) {
        expect(ts[i]).toBeGreaterThanOrEqual(0);
        expect(ts[i]).toBeLessThanOrEqual(T - 1);
        if (i > 0) expect(ts[i]).toBeLessThan(ts[i - 1]!);
      }
    }), { numRuns: fcRuns(300) });
  });
  it('trailing starts at T-1, linspace spans 0..T-1, leading ends at offset', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 0, max: 3 }), (T, m, off) => {
      const n = 2 + (m % (T - 1));
      expect(timesteps(T, n, 'trailing')[0]).toBe(T - 1);
      const l = timesteps(T, n, 'linspace');
      expect([l[0], l[n - 1]]).toEqual([T - 1, 0]);
      expect(timesteps(T, n, 'leading', off)[n - 1]).toBe(off);
    }), { numRuns: fcRuns(300) });
  });
});

describe('timesteps errors name the function and the value', () => {
  it('n > T, n < 1, non-integer, unknown spacing', () => {
    expect(() => timesteps(1000, 1001, 'leading')).toThrow(/timesteps: n must be <= T .*n=1001 > T=1000/);
    expect(() => timesteps(1000, 0, 'leading')).toThrow(/timesteps: n must be an integer >= 1, got 0/);
    expect(() => timesteps(1000, 2.5, 'linspace')).toThrow(/timesteps: n must be an integer >= 1, got 2.5/);
    expect(() => timesteps(0, 1, 'linspace')).toThrow(/timesteps: T must be an integer >= 1, got 0/);
    expect(() => timesteps(1000, 10, 'karras' as never)).toThrow(/timesteps: unknown spacing 'karras'/);
    expect(() => timesteps(1000, 10, 'leading', -1)).toThrow(/timesteps: offset .* got -1/);
    expect(() => dpmSolverMultistepTimesteps(10, 11, 'linspace')).toThrow(/dpmSolverMultistepTimesteps: n must be <= T .*n=11 > T=10/);
    expect(() => dpmSolverMultistepTimesteps(10, 5, 'cosine' as never)).toThrow(/dpmSolverMultistepTimesteps: unknown spacing 'cosine'/);
    expect(() => ddimPrevTimestep(5, 10, 0)).toThrow(/ddimPrevTimestep: n must be an integer >= 1, got 0/);
  });
  it('space_timesteps / lucidrains / ermongroup', () => {
    expect(() => spaceTimesteps(1000, 'ddim999')).toThrow(/spaceTimesteps: cannot create exactly 999 steps out of T=1000/);
    expect(() => spaceTimesteps(1000, 'ddimx')).toThrow(/spaceTimesteps: 'ddimx' must be 'ddimN'/);
    expect(() => spaceTimesteps(10, [11])).toThrow(/spaceTimesteps: cannot divide a section of 10 steps into 11/);
    expect(() => spaceTimesteps(10, [0])).toThrow(/spaceTimesteps: section counts must be integers >= 1, got \[0\]/);
    expect(() => lucidrainsDdimTimes(100, 101)).toThrow(/lucidrainsDdimTimes: S must be <= T .*S=101 > T=100/);
    expect(() => ermongroupTimesteps(100, 0, 'uniform')).toThrow(/ermongroupTimesteps: S must be an integer >= 1, got 0/);
    expect(() => ermongroupTimesteps(100, 10, 'cubic' as never)).toThrow(/ermongroupTimesteps: unknown skipType 'cubic'/);
  });
});
