// @tapegrad/ddpm public entry.
//
// Top level: the float64 schedules and timestep lists, and the tensor API (forward process,
// parameterizations, losses, guidance, single steps, samplers, variational bound).
// `f64`: the float64 reference formulas (numbers / Float64Arrays, no tensors) that the tensor
// code mirrors and that reproduce shared/ddpm-golden.json to 1e-12.

export * from './schedule/schedule.ts';
export * from './schedule/timesteps.ts';
export { linspace, linspaceFloat32, roundHalfEven } from './schedule/numeric.ts';
export * as f64 from './f64/formulas.ts';
export type { DdpmVarianceType } from './f64/formulas.ts';

export { type Timesteps, type Coef } from './process/coef.ts';
export { type Model } from './models/model.ts';
export {
  qSample, x0FromEps, epsFromX0, vFromX0Eps, x0FromV, epsFromV, predictionToX0Eps, predictionTarget, type PredictionType,
} from './process/forward.ts';
export { diffusionLoss, minSnrWeights, sampleTimesteps, type DiffusionLossOptions } from './process/loss.ts';
export {
  classifierFreeGuidance, rescaleNoiseCfg, stdPerSample, clipX0, dynamicThreshold, dynamicThresholdScales, applyThreshold,
  type DynamicThresholdOptions,
} from './sampling/guidance.ts';
export {
  posteriorMean, ddpmStep, ddimStep, dpmSolverPlusPlusCoefficients, dpmSolverPlusPlusStep, eulerStep,
} from './sampling/steps.ts';
export {
  normalKl, approxStandardNormalCdf, discretizedGaussianLogLikelihood, priorBpd, vbTermBpd, variationalBound,
  learnedRangeLogVariance, modelLogVariance, type BoundOptions,
} from './process/vlb.ts';
export {
  sample, samplingPlan, SAMPLERS, type SamplerName, type SampleOptions, type StepInfo, type ClipOption, type GuidanceOptions,
  type SamplingPlan,
} from './sampling/sample.ts';
export {
  unet2d, checkUNet2DParams, type UNet2DParams, type UNet2DApplyOptions, type UNet2DModule, type UNet2DModel,
  type ResnetBlock2DParams, type AttentionParams, type DownBlockParams, type UpBlockParams, type MidBlockParams,
} from './models/unet2d.ts';
export {
  UNET2D_DEFAULTS, type UNet2DConfig, type ResolvedUNet2DConfig, type DownBlockType, type UpBlockType, type UNetActivation,
} from './models/unet2d-config.ts';
