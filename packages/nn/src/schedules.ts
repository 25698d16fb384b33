// Learning-rate schedules: plain functions step -> lr (step = updates done so far, 0-based),
// with optax's definitions.

import { checkInt, checkNumber, opError } from '@tapegrad/tensor';
import type { Schedule } from './optim.ts';

function checkStepArg(op: string, step: number): void {
  if (!Number.isInteger(step) || step < 0) throw opError(op, `step must be a non-negative integer, got ${step}`);
}

/** The same rate at every step. */
export function constantSchedule(value: number): Schedule {
  checkNumber('constantSchedule', 'value', value, 0);
  return (step) => {
    checkStepArg('constantSchedule', step);
    return value;
  };
}

export interface LinearScheduleConfig {
  init: number;
  end: number;
  /** Steps to go from init to end; constant end afterwards. */
  steps: number;
}

/** init + (end - init) * min(step, steps) / steps (optax.linear_schedule). */
export function linearSchedule(cfg: LinearScheduleConfig): Schedule {
  const op = 'linearSchedule';
  const init = checkNumber(op, 'init', cfg?.init, 0);
  const end = checkNumber(op, 'end', cfg.end, 0);
  const steps = checkInt(op, 'steps', cfg.steps, 0);
  return (step) => {
    checkStepArg(op, step);
    if (steps === 0) return end;
    return init + ((end - init) * Math.min(step, steps)) / steps;
  };
}

export interface WarmupConfig {
  /** Rate reached after warmupSteps and kept afterwards. */
  peak: number;
  warmupSteps: number;
  /** Rate at step 0. Default 0. */
  init?: number;
}

/** Linear warm-up from init to peak over warmupSteps, then constant peak. */
export function linearWarmup(cfg: WarmupConfig): Schedule {
  const op = 'linearWarmup';
  const peak = checkNumber(op, 'peak', cfg?.peak, 0);
  return linearSchedule({ init: cfg.init ?? 0, end: peak, steps: checkInt(op, 'warmupSteps', cfg.warmupSteps, 0) });
}

export interface CosineDecayConfig {
  init: number;
  decaySteps: number;
  /** Final rate as a fraction of init. Default 0. */
  alpha?: number;
}

/**
 * init * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decaySteps) / decaySteps)) + alpha)
 * (optax.cosine_decay_schedule).
 */
export function cosineDecay(cfg: CosineDecayConfig): Schedule {
  const op = 'cosineDecay';
  const init = checkNumber(op, 'init', cfg?.init, 0);
  const n = checkInt(op, 'decaySteps', cfg.decaySteps, 1);
  const alpha = checkNumber(op, 'alpha', cfg.alpha ?? 0, 0, 1);
  return (step) => {
    checkStepArg(op, step);
    const c = 0.5 * (1 + Math.cos((Math.PI * Math.min(step, n)) / n));
    return init * ((1 - alpha) * c + alpha);
  };
}

export interface WarmupCosineConfig {
  peak: number;
  warmupSteps: number;
  /** Total steps including the warm-up (optax's convention). */
  decaySteps: number;
  /** Rate at step 0. Default 0. */
  init?: number;
  /** Rate at decaySteps and after. Default 0. */
  end?: number;
}

/** Linear warm-up init -> peak, then cosine decay peak -> end (optax.warmup_cosine_decay_schedule). */
export function warmupCosineDecay(cfg: WarmupCosineConfig): Schedule {
  const op = 'warmupCosineDecay';
  const peak = checkNumber(op, 'peak', cfg?.peak, 0);
  const warm = checkInt(op, 'warmupSteps', cfg.warmupSteps, 0);
  const total = checkInt(op, 'decaySteps', cfg.decaySteps, 1);
  if (total <= warm) throw opError(op, `decaySteps (${total}) must be greater than warmupSteps (${warm})`);
  const end = checkNumber(op, 'end', cfg.end ?? 0, 0);
  const up = linearWarmup({ peak, warmupSteps: warm, init: cfg.init ?? 0 });
  const down = cosineDecay({ init: peak, decaySteps: total - warm, alpha: peak > 0 ? end / peak : 0 });
  return (step) => {
    checkStepArg(op, step);
    return step < warm ? up(step) : down(step - warm);
  };
}
