// Sampling timestep selections, 0-based t in 0..T-1, reproducing each reference's integer
// arithmetic exactly (numpy / Python round half to even, integer division, truncation).

import { linspace, linspaceFloat32, roundHalfEven } from './numeric.ts';

export type Spacing = 'leading' | 'trailing' | 'linspace';

const SPACINGS: readonly string[] = ['leading', 'trailing', 'linspace'];

function checkCounts(fn: string, T: number, n: number, nName = 'n'): void {
  if (typeof T !== 'number' || !Number.isInteger(T) || T < 1) {
    throw new Error(`${fn}: T must be an integer >= 1, got ${String(T)}`);
  }
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new Error(`${fn}: ${nName} must be an integer >= 1, got ${String(n)}`);
  }
  if (n > T) {
    throw new Error(`${fn}: ${nName} must be <= T (number of training timesteps), got ${nName}=${n} > T=${T}`);
  }
}

function checkSpacing(fn: string, spacing: string): void {
  if (!SPACINGS.includes(spacing)) {
    throw new Error(`${fn}: unknown spacing '${spacing}', expected one of 'leading', 'trailing', 'linspace'`);
  }
}

function checkOffset(fn: string, offset: number): void {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new Error(`${fn}: offset (steps_offset) must be an integer >= 0, got ${String(offset)}`);
  }
}

/**
 * numpy.arange(start, 0, -step) with a float step, rounded half-to-even, minus 1: the 'trailing'
 * rule. numpy sizes arange as ceil(start/step), which float error makes one too many for some
 * (T, n) (e.g. T=15, n=13), appending a spurious value that becomes -1; diffusers passes that on.
 * The first n values are unaffected, so we return exactly those n.
 */
function trailing(start: number, stepRatio: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(roundHalfEven(start + i * -stepRatio) - 1);
  return out;
}

/**
 * diffusers DDIMScheduler / DDPMScheduler.set_timesteps (Lin et al. 2023 Table 2 names), descending:
 *  - 'leading':  step = T//n; t_i = i*step + offset, i = n-1..0
 *  - 'trailing': step = T/n (float); round(arange(T, 0, -step)) - 1
 *  - 'linspace': round(linspace(0, T-1, n)), reversed
 * `offset` is diffusers' steps_offset (used by 'leading' only, as in diffusers).
 */
export function timesteps(T: number, n: number, spacing: Spacing, offset = 0): number[] {
  const fn = 'timesteps';
  checkCounts(fn, T, n);
  checkSpacing(fn, spacing);
  checkOffset(fn, offset);
  if (spacing === 'leading') {
    const step = Math.floor(T / n);
    const out: number[] = [];
    for (let i = n - 1; i >= 0; i--) out.push(i * step + offset);
    return out;
  }
  if (spacing === 'trailing') return trailing(T, T / n, n);
  return Array.from(linspace(0, T - 1, n), roundHalfEven).reverse();
}

/**
 * diffusers DDIMScheduler.step's previous timestep: prev_t = t - T//n for every spacing (so for
 * 'linspace' it is generally not the next list element). Negative means "use final_alpha_cumprod".
 */
export function ddimPrevTimestep(t: number, T: number, n: number): number {
  checkCounts('ddimPrevTimestep', T, n);
  return t - Math.floor(T / n);
}

/**
 * diffusers DPMSolverMultistepScheduler.set_timesteps (lambda_min_clipped = -inf), descending:
 *  - 'linspace': round(linspace(0, T-1, n+1)) reversed, last (the 0) dropped
 *  - 'leading':  step = T//(n+1); i*step + offset for i = n..1
 *  - 'trailing': same as timesteps(T, n, 'trailing')
 */
export function dpmSolverMultistepTimesteps(T: number, n: number, spacing: Spacing, offset = 0): number[] {
  const fn = 'dpmSolverMultistepTimesteps';
  checkCounts(fn, T, n);
  checkSpacing(fn, spacing);
  checkOffset(fn, offset);
  if (spacing === 'linspace') {
    const ts = Array.from(linspace(0, T - 1, n + 1), roundHalfEven).reverse();
    return ts.slice(0, n);
  }
  if (spacing === 'leading') {
    const step = Math.floor(T / (n + 1));
    const out: number[] = [];
    for (let i = n; i >= 1; i--) out.push(i * step + offset);
    return out;
  }
  return trailing(T, T / n, n);
}

/**
 * improved-diffusion respace.py space_timesteps(T, sectionCounts), as a sorted ascending list.
 *  - 'ddimN': the smallest integer stride i >= 1 with len(range(0, T, i)) == N; range(0, T, i).
 *  - an array of counts (or 'a,b,c'): split 0..T-1 into len(counts) near-equal sections (the first
 *    T % len get one extra step); in a section of `size` steps take `count` steps at
 *    round(j * (size-1)/(count-1)) (Python round, half to even; stride 1 if count <= 1).
 */
export function spaceTimesteps(T: number, sectionCounts: string | number | readonly number[]): number[] {
  const fn = 'spaceTimesteps';
  if (typeof T !== 'number' || !Number.isInteger(T) || T < 1) {
    throw new Error(`${fn}: T must be an integer >= 1, got ${String(T)}`);
  }
  let counts: number[];
  if (typeof sectionCounts === 'string' && sectionCounts.startsWith('ddim')) {
    const want = Number(sectionCounts.slice(4));
    if (!Number.isInteger(want) || want < 1) {
      throw new Error(`${fn}: '${sectionCounts}' must be 'ddimN' with an integer N >= 1`);
    }
    for (let i = 1; i < Math.max(T, 2); i++) {
      if (Math.ceil(T / i) === want) {
        const out: number[] = [];
        for (let t = 0; t < T; t += i) out.push(t);
        return out;
      }
    }
    throw new Error(`${fn}: cannot create exactly ${want} steps out of T=${T} with an integer stride ('${sectionCounts}')`);
  }
  if (typeof sectionCounts === 'string') counts = sectionCounts.split(',').map((x) => Number(x.trim()));
  else if (typeof sectionCounts === 'number') counts = [sectionCounts];
  else counts = [...sectionCounts];
  if (counts.length < 1 || counts.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error(`${fn}: section counts must be integers >= 1, got ${JSON.stringify(sectionCounts)}`);
  }
  if (counts.length > T) {
    throw new Error(`${fn}: cannot split T=${T} into ${counts.length} sections`);
  }
  const sizePer = Math.floor(T / counts.length);
  const extra = T % counts.length;
  let start = 0;
  const all = new Set<number>();
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) {
      throw new Error(`${fn}: cannot divide a section of ${size} steps into ${count} (section ${i} of ${JSON.stringify(sectionCounts)}, T=${T})`);
    }
    const frac = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let j = 0; j < count; j++) {
      all.add(start + roundHalfEven(cur));
      cur += frac; // accumulated, as the reference does (not j*frac)
    }
    start += size;
  });
  return [...all].sort((a, b) => a - b);
}

/**
 * lucidrains denoising-diffusion-pytorch GaussianDiffusion.ddim_sample:
 * times = torch.linspace(-1, T-1, S+1) (float32) truncated to int, reversed; S+1 values from
 * T-1 down to -1. Consecutive pairs (t, t_next) are the steps; t_next = -1 means "return x0_hat".
 */
export function lucidrainsDdimTimes(T: number, S: number): number[] {
  checkCounts('lucidrainsDdimTimes', T, S, 'S');
  return Array.from(linspaceFloat32(-1, T - 1, S + 1), Math.trunc).reverse();
}

/**
 * ermongroup/ddim runners/diffusion.py sample_image skip types (ascending; the step after
 * seq[0] is -1 with alpha_bar(-1) = 1):
 *  - 'uniform': range(0, T, T//S)  (has more than S entries when S does not divide T, as the reference)
 *  - 'quad':    int(linspace(0, sqrt(0.8 T), S)^2)  (tops out at 0.8T; DDIM paper App. D.2)
 */
export function ermongroupTimesteps(T: number, S: number, skipType: 'uniform' | 'quad'): number[] {
  const fn = 'ermongroupTimesteps';
  checkCounts(fn, T, S, 'S');
  if (skipType === 'uniform') {
    const skip = Math.floor(T / S);
    const out: number[] = [];
    for (let t = 0; t < T; t += skip) out.push(t);
    return out;
  }
  if (skipType === 'quad') {
    return Array.from(linspace(0, Math.sqrt(T * 0.8), S), (x) => Math.trunc(x * x));
  }
  throw new Error(`${fn}: unknown skipType '${String(skipType)}', expected 'uniform' or 'quad'`);
}
