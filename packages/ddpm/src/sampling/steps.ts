// The single reverse steps of every sampler, gathered (each lives in its sampler's file).
export { posteriorMean, ddpmStep } from './ddpm.ts';
export { ddimStep } from './ddim.ts';
export { dpmSolverPlusPlusCoefficients, dpmSolverPlusPlusStep } from './dpmsolver.ts';
export { eulerStep } from './euler.ts';
