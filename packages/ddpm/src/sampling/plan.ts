// Sampler lookup by name and the validated plan (the timesteps a sampler visits).

import type { Spacing } from '../schedule/timesteps.ts';
import { ddpmError } from '../process/coef.ts';
import { SAMPLERS, type Sampler, type SamplerName, type SamplingPlan } from './sampler.ts';
import { ddpmSampler, type DdpmSamplerOptions } from './ddpm.ts';
import { ddimSampler, type DdimSamplerOptions } from './ddim.ts';
import { dpmSolverPlusPlusSampler } from './dpmsolver.ts';
import { eulerSampler } from './euler.ts';

const SPACINGS: readonly string[] = ['leading', 'trailing', 'linspace'];

/** The sampler of a name, with the options that sampler takes (ddpm: variance; ddim: eta, useClippedModelOutput). */
export function getSampler(name: SamplerName, opts: DdpmSamplerOptions & DdimSamplerOptions = {}, fn = 'sample'): Sampler {
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw ddpmError(fn, `unknown sampler ${typeof name === 'string' ? `'${name}'` : String(name)}, expected one of ${SAMPLERS.map((s) => `'${s}'`).join(', ')} or a Sampler object`);
  }
  switch (name) {
    case 'ddpm': return ddpmSampler({ variance: opts.variance });
    case 'ddim': return ddimSampler({ eta: opts.eta, useClippedModelOutput: opts.useClippedModelOutput });
    case 'dpmsolver++': return dpmSolverPlusPlusSampler();
    case 'euler': return eulerSampler();
  }
}

function isSampler(s: unknown): s is Sampler {
  return typeof s === 'object' && s !== null && typeof (s as Sampler).plan === 'function' && typeof (s as Sampler).start === 'function';
}

/** A sampler given by name or as an object. */
export function resolveSampler(fn: string, s: SamplerName | Sampler): Sampler {
  return isSampler(s) ? s : getSampler(s, {}, fn);
}

/**
 * The timesteps a sampler visits and where each step lands, as diffusers computes them:
 *  - ddpm: all of T-1..0 when steps = T, else timesteps(T, steps, spacing, offset); each step
 *    moves to the next listed timestep (improved-diffusion respacing, diffusers DDPMScheduler.previous_timestep).
 *  - ddim: timesteps(T, steps, spacing, offset); prev_t = t - T//steps (DDIMScheduler.step, for every spacing).
 *  - dpmsolver++: dpmSolverMultistepTimesteps(T, steps, spacing, offset); the next listed timestep.
 *  - euler: timesteps(T, steps, spacing, offset); the next listed timestep.
 * A prev of -1 (or below) is the end: alpha_bar = 1 (set_alpha_to_one, final sigma 0).
 * The sampler's default spacing applies when `spacing` is undefined.
 */
export function samplingPlan(sampler: SamplerName | Sampler, T: number, steps: number, spacing?: Spacing, offset = 0): SamplingPlan {
  const fn = 'sample';
  const smp = resolveSampler(fn, sampler);
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > T) {
    throw ddpmError(fn, `steps must be an integer in [1, T=${T}] (T = the schedule's number of training timesteps), got ${String(steps)}`);
  }
  const sp = spacing ?? smp.defaultSpacing;
  if (!SPACINGS.includes(sp as string)) {
    throw ddpmError(fn, `unknown spacing ${typeof sp === 'string' ? `'${sp}'` : String(sp)}, expected one of 'leading', 'trailing', 'linspace'`);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw ddpmError(fn, `offset (steps_offset) must be an integer >= 0, got ${String(offset)}`);
  }
  const plan = smp.plan(T, steps, sp, offset);
  const ts = plan.timesteps;
  if (ts.length !== plan.prev.length) throw ddpmError(fn, `sampler '${smp.name}' planned ${ts.length} timesteps but ${plan.prev.length} targets; expected one target per timestep`);
  ts.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= T) throw ddpmError(fn, `spacing '${sp}' with offset ${offset} gives timestep ${t} outside [0, ${T - 1}] for steps=${steps}; lower the offset or the steps`);
    if (i > 0 && !(t < ts[i - 1]!)) {
      throw ddpmError(fn, `spacing '${sp}' gives repeated timesteps for steps=${steps}, T=${T} (${ts[i - 1]} then ${t}); use fewer steps or another spacing`);
    }
  });
  return plan;
}
