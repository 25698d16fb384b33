// Flag parsers and shared validation. Every check runs before any work starts; a failure is a
// usage error (exit code 2) whose message names the flag (or the environment variable), the value
// that was passed and what was expected.

import { InvalidArgumentError } from 'commander';
import { UsageError } from './fsx.ts';

export const BACKENDS = ['webasm', 'cpu', 'webgpu', 'reference'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}], got '${v}'.`);
    }
    return n;
  };
}

export function numArg(min: number, max = Infinity, minOpen = true) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (minOpen ? n <= min : n < min) || n > max) {
      throw new InvalidArgumentError(`expected a number ${minOpen ? '>' : '>='} ${min}${max < Infinity ? ` and <= ${max}` : ''}, got '${v}'.`);
    }
    return n;
  };
}

export function choiceArg<T extends string>(choices: readonly T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got '${v}'.`);
    return v as T;
  };
}

/** The backend from --backend, else TAPEGRAD_BACKEND (reported as the variable), else webasm. */
export function resolveBackend(flag: BackendChoice | undefined, env: NodeJS.ProcessEnv = process.env): BackendChoice {
  if (flag !== undefined) return flag;
  const v = env.TAPEGRAD_BACKEND;
  if (v === undefined || v === '') return 'webasm';
  if (!(BACKENDS as readonly string[]).includes(v)) {
    throw new UsageError(`the environment variable TAPEGRAD_BACKEND is '${v}'; expected one of ${BACKENDS.join(', ')} (or unset it, or pass --backend)`);
  }
  return v as BackendChoice;
}
