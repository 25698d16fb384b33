import { describe, expect, it } from 'vitest';
import { GOLDEN } from './golden.ts';

// Which test file reproduces each top-level group of shared/ddpm-golden.json. A group added to the
// golden file fails here until a test covers it.
const COVERED: Record<string, string> = {
  teapearce_mnist_cfg_schedule: 'schedule.test.ts',
  schedule_linear_T1000: 'schedule.test.ts',
  schedule_squaredcos_cap_v2_T1000: 'schedule.test.ts',
  schedule_scaled_linear_SD_T1000: 'schedule.test.ts',
  schedule_sigmoid_geodiff_T1000: 'schedule.test.ts',
  schedule_sigmoid_lucidrains_T1000: 'schedule.test.ts',
  schedule_linear_T1000_rescaled_zero_terminal_snr: 'schedule.test.ts',
  schedule_improved_diffusion_linear_T50: 'schedule.test.ts',
  schedule_unscaled_linear_T50_tiny_diffusion: 'schedule.test.ts',
  timesteps: 'timesteps.test.ts',
  improved_diffusion_respaced_ddim50: 'schedule.test.ts',
  ddim_step: 'formulas.test.ts',
  ddpm_ancestral_step_t500: 'formulas.test.ts',
  parameterizations_t500: 'formulas.test.ts',
  min_snr_weights_linear_gamma5: 'formulas.test.ts',
  timestep_embedding_dim8: 'formulas.test.ts',
  classifier_free_guidance: 'formulas.test.ts',
  dynamic_thresholding: 'formulas.test.ts',
  vlb_terms: 'formulas.test.ts',
};

describe('golden file coverage', () => {
  it('every group of the golden file is reproduced by a test', () => {
    const groups = Object.keys(GOLDEN).filter((k) => k !== 'meta').sort();
    expect(groups).toEqual(Object.keys(COVERED).sort());
  });
  it('meta conventions this package follows', () => {
    expect(GOLDEN.meta.index_convention).toMatch(/0-based index 0\.\.T-1/);
    expect(GOLDEN.meta.json_null_means).toMatch(/Infinity/);
  });
});
