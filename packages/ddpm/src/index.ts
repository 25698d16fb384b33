// @tapegrad/ddpm public entry. The float64 mathematical core (no tensors):
export * from './schedule.ts';
export * from './timesteps.ts';
export * from './formulas.ts';
export { linspace, linspaceFloat32, roundHalfEven } from './numeric.ts';
