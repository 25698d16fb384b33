// The interface every sampler implements. A sampler is small: it chooses the timesteps it visits
// (its plan), the alpha_bar it converts the model output with, and one reverse step. The generic
// loop in sample.ts owns everything else: the model call, classifier-free guidance, x0 clipping /
// dynamic thresholding, the random keys, tensor ownership and the divergence check.

import { opError } from '@tapegrad/tensor';
import * as T from '@tapegrad/tensor';
import type { Tensor } from '@tapegrad/tensor';
import type { Schedule } from '../schedule/schedule.ts';
import type { Spacing } from '../schedule/timesteps.ts';

export type SamplerName = 'ddpm' | 'ddim' | 'dpmsolver++' | 'euler';
export const SAMPLERS: readonly SamplerName[] = ['ddpm', 'ddim', 'dpmsolver++', 'euler'];

export interface SamplingPlan {
  /** The model timesteps, in sampling order (descending). */
  timesteps: number[];
  /** For each step, the timestep it moves to (-1 = the end: alpha_bar = 1). */
  prev: number[];
}

/** What one reverse step receives. Tensors are owned by the loop: valid during the call only. */
export interface SamplerStepArgs {
  /** x_t, the input of this step, [B, ...]. */
  x: Tensor;
  /** The x0 estimate (after clipping / thresholding). */
  x0: Tensor;
  /** The eps estimate belonging to the unclipped model output (diffusers' convention). */
  eps: Tensor;
  /** 0-based index of this step in the plan; `plan.timesteps[index]` is t. */
  index: number;
  t: number;
  /** The timestep this step moves to; -1 = the end. */
  prevT: number;
  /** alpha_bar at t and at prevT as this sampler uses them (run.alphaBar). */
  alphaBarT: number;
  alphaBarPrev: number;
  /**
   * Fresh N(0, I) noise with x's shape for this step (derived from the sample key and the step
   * index, so it is reproducible). Each call returns a new tensor; the loop frees it.
   */
  noise(): Tensor;
  /** What the previous step returned as `carry` (null on the first step); valid during the call only. */
  carry: Tensor | null;
}

export interface SamplerStepResult {
  /** x_{prevT}. */
  next: Tensor;
  /** A tensor to hand to the next step (e.g. DPM-Solver++'s previous x0); may be one of the args' tensors. */
  carry?: Tensor;
}

/** What the host part of a split step decides for one step. */
export interface SplitScalars {
  /** The step's structure: two steps with the same mode run the same tensor ops (a static argument of a compiled step). */
  mode: string;
  /** The step's host numbers (float64), named. */
  coefs: Record<string, number>;
  /** Whether the step needs fresh N(0, I) noise. */
  noise: boolean;
}

/**
 * A reverse step split into its host part (numbers, from the plan and the schedule) and its
 * tensor part (pure tensor ops, no host reads), so `sample` can compile the model call and the
 * update as one step with the numbers as arguments. Optional: a sampler without it is compiled
 * up to the model call only.
 */
export interface SamplerSplitStep {
  scalars(a: { index: number; t: number; prevT: number; alphaBarT: number; alphaBarPrev: number; hasCarry: boolean }): SplitScalars;
  /** `coefs` as numbers (eager) or rank-0 tensors (compiled); `noise` is null unless scalars asked for it. */
  apply(mode: string, t: { x: Tensor; x0: Tensor; eps: Tensor; noise: Tensor | null; carry: Tensor | null }, coefs: Record<string, number | Tensor>): SamplerStepResult;
}

/** A sampler bound to one schedule and one plan (what `start` returns). */
export interface SamplerRun {
  /** alpha_bar used at a plan timestep t (t = -1 -> 1) to turn the model output into x0 / eps. */
  alphaBar(t: number): number;
  /** One reverse step. Must not dispose its arguments; every tensor it creates and does not return is its own to free (use T.tidy). */
  step(args: SamplerStepArgs): SamplerStepResult;
  /** The same step split into host numbers + tensor math (the built-in samplers: step is scalars + apply). */
  split?: SamplerSplitStep;
}

/** step(args) as split.scalars + split.apply (one implementation of a built-in sampler's step). */
export function stepBySplit(split: SamplerSplitStep, args: SamplerStepArgs): SamplerStepResult {
  const s = split.scalars({ index: args.index, t: args.t, prevT: args.prevT, alphaBarT: args.alphaBarT, alphaBarPrev: args.alphaBarPrev, hasCarry: args.carry !== null });
  return T.tidy(() => split.apply(s.mode, { x: args.x, x0: args.x0, eps: args.eps, noise: s.noise ? args.noise() : null, carry: args.carry }, s.coefs));
}

export interface Sampler {
  readonly name: string;
  /** diffusers' default timestep_spacing for this scheduler. */
  readonly defaultSpacing: Spacing;
  /** Default number of model evaluations for a schedule of T training steps. */
  defaultSteps(T: number): number;
  /** The timesteps this sampler visits and where each step lands (see samplingPlan). */
  plan(T: number, steps: number, spacing: Spacing, offset: number): SamplingPlan;
  /** Bind to a schedule and a plan. Called once per `sample` call, before the first step. */
  start(schedule: Schedule, plan: SamplingPlan): SamplerRun;
}

/** alpha_bar of a plan timestep; -1 (the end) is 1. */
export function alphaBarAt(schedule: Schedule, t: number): number {
  return t < 0 ? 1 : schedule.alphasCumprod[t]!;
}

/**
 * alpha_bar as the ODE solvers use it: diffusers (DPMSolverMultistep, EulerDiscrete) replace
 * alpha_bar = 0 (zero terminal SNR) with 2^-24.
 */
export function odeAlphaBarAt(schedule: Schedule, t: number): number {
  return t >= 0 && schedule.alphasCumprod[t] === 0 ? 2 ** -24 : alphaBarAt(schedule, t);
}

/** Throw unless v is an alpha_bar in (0, 1] (or [0, 1] with allowZero). */
export function checkAlphaBar(fn: string, name: string, v: number, allowZero = false): void {
  if (typeof v !== 'number' || !(v <= 1 && (v > 0 || (allowZero && v === 0)))) {
    throw opError(fn, `${name} must be a number in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${String(v)}`);
  }
}

/** Each step lands on the next listed timestep; the last on -1 (the end). */
export function nextListed(ts: readonly number[]): number[] {
  return ts.map((_, i) => (i + 1 < ts.length ? ts[i + 1]! : -1));
}
